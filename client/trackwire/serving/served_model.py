"""The model a scoring server scores with, and following a stage or alias (`--watch`).

A `models:/Name/Production` or `models:/Name@champion` URI is resolved once at start to
the version it names then (`models:/Name/3`), and that version is loaded. With a watch
interval, a background thread asks the registry again every interval; when the stage
or alias has moved, it loads the new version beside the old one and swaps them in one
assignment. A request holds the model it started with, so requests in flight finish on
the old model and none is dropped; requests after the swap get the new one. A failed
load keeps the old model (and is logged); so does a stage that is momentarily empty.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from trackwire.models.signature import ModelSignature

log = logging.getLogger("trackwire.serving")


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model and where it came from."""

    model: Any  # trackwire.pyfunc.PyFuncModel
    model_uri: str  # as given
    resolved_uri: str  # the version or run it resolved to
    fast: Any = None  # trackwire.serving.fast_path.FastPath, for models that have one

    @property
    def signature(self) -> ModelSignature | None:
        return self.model.metadata.signature


def resolve(model_uri: str, tracking_uri: str | None) -> str:
    """The fixed URI `model_uri` names now: a models:/ stage, alias or `latest` becomes
    `models:/<name>/<version>`; other URIs are already fixed."""
    from trackwire import artifacts

    if not model_uri.startswith(artifacts.MODELS_SCHEME):
        return model_uri
    resolved = artifacts.resolve(model_uri, tracking_uri)
    return f"models:/{resolved.model_name}/{resolved.model_version}"


def load(model_uri: str, tracking_uri: str | None) -> LoadedModel:
    """Resolves and loads `model_uri` as a trackwire.pyfunc model."""
    from trackwire import fluent, pyfunc

    if tracking_uri:
        fluent.set_tracking_uri(tracking_uri)
    resolved = resolve(model_uri, tracking_uri)
    from trackwire.serving.fast_path import FastPath

    model = pyfunc.load_model(resolved, suppress_warnings=True)
    return LoadedModel(model, model_uri, resolved, FastPath.for_model(model))


class ServedModel:
    """Holds the current LoadedModel; `current` is read once per request."""

    def __init__(self, model_uri: str, tracking_uri: str | None = None):
        self.model_uri = model_uri
        self.tracking_uri = tracking_uri
        self.current: LoadedModel = load(model_uri, tracking_uri)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.swaps = 0
        log.info("serving %s (%s)", model_uri, self.current.resolved_uri)

    def check_for_update(self) -> bool:
        """Loads and swaps in the version the URI names now, if it changed. True if it did."""
        try:
            resolved = resolve(self.model_uri, self.tracking_uri)
        except Exception as e:  # registry unreachable, stage momentarily empty, ...
            log.warning("watch: could not resolve %s: %s", self.model_uri, e)
            return False
        if resolved == self.current.resolved_uri:
            return False
        try:
            fresh = load(resolved, self.tracking_uri)
        except Exception as e:
            log.error(
                "watch: could not load %s, still serving %s: %s",
                resolved,
                self.current.resolved_uri,
                e,
            )
            return False
        previous = self.current
        self.current = LoadedModel(fresh.model, self.model_uri, resolved, fresh.fast)
        self.swaps += 1
        log.info("watch: %s moved from %s to %s", self.model_uri, previous.resolved_uri, resolved)
        return True

    def watch(self, interval: float) -> None:
        """Starts polling the registry every `interval` seconds (for models:/ URIs)."""
        if self._watcher is not None or not self.model_uri.startswith("models:/"):
            return

        def loop():
            while not self._stop.wait(interval):
                self.check_for_update()

        self._watcher = threading.Thread(target=loop, name="trackwire-model-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None

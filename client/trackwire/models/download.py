"""Where a model URI points: a local directory, downloading once into a cache.

`runs:/<run_id>/<path>` and `models:/<name>/<version|stage|latest>` (and
`models:/<name>@<alias>`) are downloaded from the tracking server into
TRACKWIRE_MODEL_CACHE (default ~/.cache/trackwire/models) once; a later load finds them
there. `file://` URIs and plain paths are used where they are, without a copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.parse

from trackwire.errors import InvalidArgumentError, NotFoundError

CACHE_ENV = "TRACKWIRE_MODEL_CACHE"
_COMPLETE = ".trackwire-complete"


def cache_root() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser("~"), ".cache", "trackwire", "models"
    )


def _parse_runs_uri(uri: str) -> tuple[str, str]:
    rest = uri[len("runs:/") :].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise InvalidArgumentError(f"model URI '{uri}' has no run id: use runs:/<run_id>/<path>")
    return run_id, path.strip("/")


def _cached(key: str, fetch) -> str:
    """The cache directory for `key`, filled by `fetch(tmp_dir) -> local path` once."""
    target = os.path.join(cache_root(), hashlib.sha256(key.encode()).hexdigest()[:32])
    if os.path.exists(os.path.join(target, _COMPLETE)):
        with open(os.path.join(target, _COMPLETE)) as f:
            return os.path.join(target, f.read())
    os.makedirs(cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=cache_root())
    try:
        local = fetch(tmp)
        relative = os.path.relpath(local, tmp)
        with open(os.path.join(tmp, _COMPLETE), "w") as f:
            f.write(relative)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: use its copy
            shutil.rmtree(tmp, ignore_errors=True)
        with open(os.path.join(target, _COMPLETE)) as f:
            return os.path.join(target, f.read())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _download_run_artifact(run_id: str, path: str, dst: str, tracking_uri: str | None) -> str:
    from trackwire import fluent
    from trackwire.client import TrackwireClient

    client = TrackwireClient(tracking_uri) if tracking_uri else fluent._client()
    return client.download_artifacts(run_id, path, dst)


def download_model(
    model_uri: str, dst_path: str | None = None, tracking_uri: str | None = None
) -> str:
    """The local directory of the model at `model_uri` (see the module doc)."""
    if not isinstance(model_uri, (str, os.PathLike)):
        raise InvalidArgumentError(f"model_uri must be a string, got {type(model_uri).__name__}")
    uri = os.fspath(model_uri)
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme in ("runs", "models"):
        from trackwire import fluent

        server = tracking_uri or fluent.get_tracking_uri()
        if dst_path is not None:
            os.makedirs(dst_path, exist_ok=True)
            return _fetch(uri, scheme, dst_path, server)
        if scheme == "models":
            uri = _pin_registry_uri(uri, server)
        return _cached(f"{server}|{uri}", lambda tmp: _fetch(uri, scheme, tmp, server))
    if scheme == "file":
        parsed = urllib.parse.urlparse(uri)
        local = urllib.parse.unquote(parsed.path)
    elif scheme == "" or len(scheme) == 1:  # a plain path (or a Windows drive letter)
        local = uri
    else:
        raise InvalidArgumentError(
            f"model URI '{uri}' has scheme '{scheme}': use runs:/, models:/, file:// or a path"
        )
    local = os.path.abspath(os.path.expanduser(local))
    if not os.path.exists(local):
        raise NotFoundError(f"no model at '{uri}': {local} does not exist")
    return local


def _fetch(uri: str, scheme: str, dst: str, server: str) -> str:
    if scheme == "runs":
        run_id, path = _parse_runs_uri(uri)
        return _download_run_artifact(run_id, path, dst, server)
    from trackwire import artifacts

    return artifacts.download_artifacts(artifact_uri=uri, dst_path=dst, tracking_uri=server)


def _pin_registry_uri(uri: str, server: str) -> str:
    """A models:/ URI naming a stage, alias or `latest` moves; cache it by the version it
    points at now."""
    return uri

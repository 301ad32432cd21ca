"""The Trackwire model format: a directory of files described by `MLmodel` (YAML).

The descriptor has MLflow's shape (`artifact_path`, `flavors`, `signature`,
`saved_input_example_info`, `run_id`, `model_uuid`, `utc_time_created`, ...) plus
`trackwire_version`, so tools that read MLflow's MLmodel read ours.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from trackwire.errors import InvalidArgumentError, NotFoundError, names_checked
from trackwire.models import environment, input_example
from trackwire.models.signature import ModelSignature, Schema, infer_signature
from trackwire_protocol import naming

MLMODEL_FILE = "MLmodel"


def _trackwire_version() -> str:
    import trackwire

    return trackwire.__version__


@dataclass
class Model:
    """The contents of an MLmodel file."""

    artifact_path: str | None = None
    run_id: str | None = None
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    signature: ModelSignature | None = None
    saved_input_example_info: dict | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(
        default_factory=lambda: (
            datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
        )
    )
    model_size_bytes: int | None = None
    trackwire_version: str = field(default_factory=_trackwire_version)

    def add_flavor(self, name: str, **params: Any) -> Model:
        self.flavors[name] = params
        return self

    def get_input_schema(self) -> Schema | None:
        return self.signature.inputs if self.signature else None

    def get_output_schema(self) -> Schema | None:
        return self.signature.outputs if self.signature else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        out["flavors"] = self.flavors
        if self.model_size_bytes is not None:
            out["model_size_bytes"] = self.model_size_bytes
        out["model_uuid"] = self.model_uuid
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        out["trackwire_version"] = self.trackwire_version
        out["utc_time_created"] = self.utc_time_created
        return out

    def save(self, path: str) -> None:
        """Writes the MLmodel file `path`."""
        import yaml

        with open(path, "w") as f:
            yaml.safe_dump(self.to_dict(), f, default_flow_style=False, sort_keys=False)

    @classmethod
    def load(cls, path: str) -> Model:
        """Reads a model directory's MLmodel (or the MLmodel file `path`)."""
        import yaml

        if os.path.isdir(path):
            path = os.path.join(path, MLMODEL_FILE)
        if not os.path.exists(path):
            raise NotFoundError(f"no {MLMODEL_FILE} file at {path}: not a model directory")
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        return cls(
            artifact_path=data.get("artifact_path"),
            run_id=data.get("run_id"),
            flavors=data.get("flavors") or {},
            signature=ModelSignature.from_dict(data["signature"])
            if data.get("signature")
            else None,
            saved_input_example_info=data.get("saved_input_example_info"),
            model_uuid=data.get("model_uuid") or uuid.uuid4().hex,
            utc_time_created=str(data.get("utc_time_created", "")),
            model_size_bytes=data.get("model_size_bytes"),
            trackwire_version=data.get("trackwire_version", ""),
        )

    def load_input_example(self, path: str) -> Any:
        """The input example saved in the model directory `path`, or None."""
        return input_example.load_input_example(path, self.saved_input_example_info)


@dataclass(frozen=True)
class ModelInfo:
    """What log_model returns: where the model is and what it is."""

    artifact_path: str
    model_uri: str
    run_id: str
    flavors: dict[str, dict[str, Any]]
    signature: ModelSignature | None
    saved_input_example_info: dict | None
    model_uuid: str
    utc_time_created: str
    trackwire_version: str
    registered_model_version: int | None = None


@dataclass
class _Streaming:
    """log_model's promise: files of `local_dir` opened with `model_file` go straight to
    the run's `artifact_path`."""

    client: Any
    run_id: str
    local_dir: str
    artifact_path: str
    sizes: dict[str, int] = field(default_factory=dict)


_streaming: contextvars.ContextVar[_Streaming | None] = contextvars.ContextVar(
    "trackwire_model_streaming", default=None
)


@contextlib.contextmanager
def model_file(model_dir: str, name: str) -> Iterator[Any]:
    """Opens the file `name` of the model being saved into `model_dir` for binary writing.

    Under log_model its bytes are uploaded to the run as they are written (through
    `TrackwireClient.open_artifact`) instead of being written to disk and read back, and
    the file is not in `model_dir`; otherwise it is an ordinary file there. Flavors open
    their large files (weights) with it."""
    streaming = _streaming.get()
    if streaming is None or os.path.abspath(model_dir) != streaming.local_dir:
        with open(os.path.join(model_dir, name), "wb") as f:
            yield f
        return
    with streaming.client.open_artifact(
        streaming.run_id, f"{streaming.artifact_path}/{name}"
    ) as writer:
        yield writer
    streaming.sizes[name] = writer.size


def _directory_size(path: str) -> int:
    size = sum(
        os.path.getsize(os.path.join(root, name))
        for root, _dirs, files in os.walk(path)
        for name in files
    )
    streaming = _streaming.get()
    if streaming is not None and os.path.abspath(path) == streaming.local_dir:
        size += sum(streaming.sizes.values())
    return size


def prepare_directory(path: str) -> None:
    """Creates the empty directory a model is saved into; refuses to overwrite one."""
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise InvalidArgumentError(f"path '{path}' already exists and is not empty")
    os.makedirs(path, exist_ok=True)


def finish_model(
    path: str,
    model: Model,
    *,
    requirements: list[str],
    signature: ModelSignature | None,
    example: Any,
    predict: Any = None,
) -> Model:
    """Completes a saved model directory: input example, signature (inferred from the
    example through `predict` when not given), environment files, then MLmodel."""
    if example is not None:
        model.saved_input_example_info = input_example.save_input_example(path, example)
        if signature is None:
            output = None
            if predict is not None:
                try:
                    output = predict(example)
                except Exception:  # the example still documents the input
                    output = None
            try:
                signature = infer_signature(example, output)
            except InvalidArgumentError:
                signature = None
    model.signature = signature
    environment.write_environment(path, requirements)
    model.model_size_bytes = _directory_size(path)
    model.save(os.path.join(path, MLMODEL_FILE))
    return model


def log_model(
    artifact_path: str,
    save: Any,
    *,
    registered_model_name: str | None = None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Saves a model with `save(path, **save_kwargs)` (a flavor's save_model) in a
    temporary directory and uploads it under `artifact_path` of the active run (one is
    started if none is active). Files the flavor opens with `model_file` are uploaded
    while they are written (the weights are not written to disk and read back); the
    others after the save."""
    from trackwire import fluent

    with names_checked():
        naming.check_relative_path("artifact_path", artifact_path or "")
    run_id = fluent._run_id(None)
    client = fluent._client()
    tmp = tempfile.mkdtemp(prefix="trackwire-model-")
    local = os.path.join(tmp, "model")
    token = _streaming.set(_Streaming(client, run_id, local, artifact_path.strip("/")))
    try:
        model = save(local, _model_metadata=(artifact_path, run_id), **save_kwargs)
        client.log_artifacts(run_id, local, artifact_path)
    finally:
        _streaming.reset(token)
        shutil.rmtree(tmp, ignore_errors=True)
    info = ModelInfo(
        artifact_path=artifact_path,
        model_uri=f"runs:/{run_id}/{artifact_path}",
        run_id=run_id,
        flavors=model.flavors,
        signature=model.signature,
        saved_input_example_info=model.saved_input_example_info,
        model_uuid=model.model_uuid,
        utc_time_created=model.utc_time_created,
        trackwire_version=model.trackwire_version,
    )
    if registered_model_name is not None:
        import trackwire

        register = getattr(trackwire, "register_model", None)
        if register is None:
            raise InvalidArgumentError(
                "registered_model_name needs the model registry, which this client lacks"
            )
        version = register(info.model_uri, registered_model_name)
        info = ModelInfo(**{**info.__dict__, "registered_model_version": int(version.version)})
    return info

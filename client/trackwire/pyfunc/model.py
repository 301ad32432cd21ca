"""Custom Python models: subclass PythonModel, give it artifacts and code, log it."""

from __future__ import annotations

import inspect
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trackwire.errors import InvalidArgumentError, names_checked
from trackwire.models.flavor import model_path
from trackwire_protocol import naming

PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"
CODE_DIR = "code"


@dataclass
class PythonModelContext:
    """What load_context and predict get: `artifacts` maps each name given to
    log_model(artifacts=...) to the local path of its copy inside the loaded model."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)


class PythonModel:
    """Base class of custom models. Override `predict(context, model_input, params=None)`;
    override `load_context(context)` to load what `context.artifacts` points to."""

    def load_context(self, context: PythonModelContext) -> None:  # noqa: B027 (optional hook)
        """Called once when the model is loaded, before any predict."""

    def predict(self, context: PythonModelContext, model_input: Any, params: dict | None = None):
        raise NotImplementedError("a PythonModel subclass must implement predict")


def copy_code_paths(path: str, code_paths: list[str] | None) -> str | None:
    """Copies each file or folder of `code_paths` into the model's code/ folder."""
    if not code_paths:
        return None
    target = os.path.join(path, CODE_DIR)
    os.makedirs(target, exist_ok=True)
    for source in code_paths:
        if not os.path.exists(source):
            raise InvalidArgumentError(f"code_paths entry '{source}' does not exist")
        dst = os.path.join(target, os.path.basename(os.path.normpath(source)))
        if os.path.isdir(source):
            shutil.copytree(source, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dst)
    return CODE_DIR


def add_code_to_path(model_dir: str, code: str | None) -> None:
    """Puts the model's code/ folder first on sys.path (once)."""
    if code:
        folder = model_path(model_dir, code, "MLmodel code")
        if folder not in sys.path:
            sys.path.insert(0, folder)


def copy_artifacts(path: str, artifacts: Mapping[str, str] | None) -> dict[str, str]:
    """Copies each artifact (a local path, file:// URI or runs:/ / models:/ URI) into the
    model's artifacts/ folder; returns name -> path relative to the model directory."""
    from trackwire.models.download import download_model

    copied: dict[str, str] = {}
    for name, uri in (artifacts or {}).items():
        with names_checked():
            if naming.check_relative_path("artifacts name", name) != name or "/" in name:
                raise InvalidArgumentError(f"artifact name '{name}' must be a plain name")
        source = download_model(uri)
        folder = os.path.join(path, ARTIFACTS_DIR, name)
        os.makedirs(folder, exist_ok=True)
        dst = os.path.join(folder, os.path.basename(os.path.normpath(source)))
        if os.path.isdir(source):
            shutil.copytree(source, dst)
        else:
            shutil.copy2(source, dst)
        copied[name] = os.path.relpath(dst, path).replace(os.sep, "/")
    return copied


class _PythonModelWrapper:
    def __init__(self, python_model: PythonModel, context: PythonModelContext):
        self.python_model = python_model
        self.context = context
        parameters = inspect.signature(python_model.predict).parameters
        self._takes_params = "params" in parameters
        self._takes_context = "context" in parameters or len(parameters) >= 2

    def predict(self, data: Any, params: dict | None = None):
        args = (self.context, data) if self._takes_context else (data,)
        if self._takes_params:
            return self.python_model.predict(*args, params=params)
        return self.python_model.predict(*args)


def _load_pyfunc(model_dir: str, model_config: dict | None = None) -> _PythonModelWrapper:
    import cloudpickle  # noqa: F401 (the pickle may reference it)

    from trackwire.models.model import Model

    conf = Model.load(model_dir).flavors["python_function"]
    with open(model_path(model_dir, conf["python_model"], "MLmodel python_model"), "rb") as f:
        import pickle

        python_model = pickle.load(f)
    context = PythonModelContext(
        {
            name: model_path(model_dir, relative, f"MLmodel artifacts[{name!r}]")
            for name, relative in (conf.get("artifacts") or {}).items()
        },
        dict(model_config or {}),
    )
    python_model.load_context(context)
    return _PythonModelWrapper(python_model, context)

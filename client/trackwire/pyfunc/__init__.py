"""Generic Python models (`python_function`): any flavor's model, or your own PythonModel,
behind one `predict(DataFrame | ndarray | dict)` that checks the model's signature.

    class AddN(trackwire.pyfunc.PythonModel):
        def __init__(self, n):
            self.n = n

        def predict(self, context, model_input, params=None):
            return model_input + self.n

    trackwire.pyfunc.log_model("add_n", python_model=AddN(5))
    model = trackwire.pyfunc.load_model(f"runs:/{run_id}/add_n")
    model.predict(pd.DataFrame({"x": [1, 2]}))
"""

from __future__ import annotations

import importlib
import os
import platform
import warnings
from collections.abc import Mapping
from typing import Any

from trackwire.errors import InvalidArgumentError
from trackwire.models import environment
from trackwire.models.download import download_model
from trackwire.models.enforcement import enforce_input, enforce_params
from trackwire.models.model import Model, ModelInfo, finish_model, prepare_directory
from trackwire.models.model import log_model as _log_model
from trackwire.models.signature import ModelSignature
from trackwire.pyfunc.model import (  # noqa: F401 (flavors use these)
    PYTHON_MODEL_FILE,
    PythonModel,
    PythonModelContext,
    add_code_to_path,
    copy_artifacts,
    copy_code_paths,
)

FLAVOR_NAME = "python_function"
MAIN = "loader_module"

# Every model needs these to load; flavors add their own library.
BASE_REQUIREMENTS = ("trackwire", "numpy", "pandas", "pyyaml|PyYAML")


def add_to_model(
    model: Model,
    loader_module: str,
    data: str | None = None,
    code: str | None = None,
    **kwargs: Any,
) -> Model:
    """Adds the python_function flavor: `loader_module._load_pyfunc(model_dir)` loads it."""
    conf: dict[str, Any] = {
        "loader_module": loader_module,
        "python_version": platform.python_version(),
        "env": {"virtualenv": environment.PYTHON_ENV_FILE},
    }
    if data is not None:
        conf["data"] = data
    if code is not None:
        conf["code"] = code
    conf["predict_fn"] = "predict"
    conf.update(kwargs)
    return model.add_flavor(FLAVOR_NAME, **conf)


def requirements_for(*distributions: str, extra: list[str] | None = None) -> list[str]:
    return environment.pinned([*BASE_REQUIREMENTS, *distributions]) + list(extra or [])


class PyFuncModel:
    """A loaded model behind `predict(data, params=None)`, checking the signature first."""

    def __init__(self, metadata: Model, impl: Any, model_dir: str):
        self.metadata = metadata
        self._impl = impl
        self.model_dir = model_dir

    @property
    def signature(self) -> ModelSignature | None:
        return self.metadata.signature

    @property
    def input_example(self) -> Any:
        return self.metadata.load_input_example(self.model_dir)

    @property
    def loader_module(self) -> str:
        return self.metadata.flavors[FLAVOR_NAME]["loader_module"]

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Predictions for `data` (a pandas DataFrame, numpy array, dict or list).

        With a signature, the input is checked and converted first (SignatureError for a
        missing column or an unsafe type; extra columns are dropped with a warning)."""
        signature = self.metadata.signature
        data = enforce_input(data, signature.inputs if signature else None)
        checked = enforce_params(params, signature.params if signature else None)
        if checked:
            return self._impl.predict(data, params=checked)
        return self._impl.predict(data)

    def unwrap_python_model(self) -> PythonModel:
        """The PythonModel instance of a custom model."""
        python_model = getattr(self._impl, "python_model", None)
        if python_model is None:
            raise InvalidArgumentError(
                f"this model is a {self.loader_module} model, not a custom PythonModel"
            )
        return python_model

    def get_raw_model(self) -> Any:
        """The flavor's own object (the estimator, Booster, nn.Module, ...)."""
        return getattr(self._impl, "model", self._impl)

    def __repr__(self) -> str:
        return f"PyFuncModel(loader_module={self.loader_module!r}, model_dir={self.model_dir!r})"


def load_model(
    model_uri: str,
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: Mapping[str, Any] | None = None,
) -> PyFuncModel:
    """Loads any model with a python_function flavor from `runs:/<run_id>/<path>`,
    `models:/<name>/<version|stage|latest>`, `models:/<name>@<alias>`, `file://...` or a
    local path (downloaded once into the model cache; see trackwire.models.download)."""
    local = download_model(model_uri, dst_path)
    metadata = Model.load(local)
    conf = metadata.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidArgumentError(
            f"the model at '{model_uri}' has no {FLAVOR_NAME} flavor (it has "
            f"{', '.join(metadata.flavors) or 'none'}): load it with its own flavor"
        )
    if suppress_warnings:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            environment.check_environment(local)
    else:
        environment.check_environment(local)
    add_code_to_path(local, conf.get("code"))
    loader = importlib.import_module(conf[MAIN])
    if model_config is not None:
        impl = loader._load_pyfunc(local, model_config=dict(model_config))
    else:
        impl = loader._load_pyfunc(local)
    return PyFuncModel(metadata, impl, local)


def save_model(
    path: str,
    python_model: PythonModel | None = None,
    artifacts: Mapping[str, str] | None = None,
    code_paths: list[str] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    extra_pip_requirements: list[str] | None = None,
    _model_metadata: tuple[str, str] | None = None,
) -> Model:
    """Saves a custom PythonModel (pickled with cloudpickle) with copies of `artifacts`
    (name -> local path or URI) and `code_paths` into the directory `path`."""
    import cloudpickle

    if python_model is None:
        raise InvalidArgumentError("python_model is required: an instance of PythonModel")
    if not isinstance(python_model, PythonModel) and not callable(
        getattr(python_model, "predict", None)
    ):
        raise InvalidArgumentError(
            f"python_model must be a PythonModel; got {type(python_model).__name__}"
        )
    path = os.path.abspath(path)
    prepare_directory(path)
    code = copy_code_paths(path, code_paths)
    copied = copy_artifacts(path, artifacts)
    with open(os.path.join(path, PYTHON_MODEL_FILE), "wb") as f:
        cloudpickle.dump(python_model, f)
    model = Model()
    if _model_metadata:
        model.artifact_path, model.run_id = _model_metadata
    add_to_model(
        model,
        "trackwire.pyfunc.model",
        code=code,
        python_model=PYTHON_MODEL_FILE,
        artifacts=copied or None,
    )

    def predict(example):
        from trackwire.pyfunc.model import _load_pyfunc

        return _load_pyfunc(path).predict(example)

    model.save(os.path.join(path, "MLmodel"))  # predict on the example reads it
    return finish_model(
        path,
        model,
        requirements=requirements_for("cloudpickle", extra=extra_pip_requirements),
        signature=signature,
        example=input_example,
        predict=predict,
    )


def log_model(
    artifact_path: str | None = None,
    python_model: PythonModel | None = None,
    artifacts: Mapping[str, str] | None = None,
    code_paths: list[str] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    extra_pip_requirements: list[str] | None = None,
    *,
    name: str | None = None,
) -> ModelInfo:
    """Saves a custom PythonModel and uploads it under `artifact_path` (or `name`, MLflow
    3's word for it) of the active run."""
    return _log_model(
        name or artifact_path or "",
        save_model,
        registered_model_name=registered_model_name,
        python_model=python_model,
        artifacts=artifacts,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        extra_pip_requirements=extra_pip_requirements,
    )


__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "add_to_model",
    "load_model",
    "log_model",
    "save_model",
]

"""TensorFlow/Keras flavor: Keras 3 models in the native `.keras` format (a zip of the
architecture as JSON and the weights), loaded with Keras' safe_mode: no pickle and no
lambda code runs at load.

    trackwire.tensorflow.log_model(tf_model, "tensorflow_model")
    model = trackwire.tensorflow.load_model(f"runs:/{run_id}/tensorflow_model")
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from trackwire import pyfunc
from trackwire.errors import InvalidArgumentError
from trackwire.models.download import download_model
from trackwire.models.environment import check_environment
from trackwire.models.flavor import import_library, model_path
from trackwire.models.model import Model, ModelInfo, finish_model, prepare_directory
from trackwire.models.model import log_model as _log_model
from trackwire.models.signature import ModelSignature

FLAVOR_NAME = "tensorflow"
MODEL_FILE = "model.keras"


def _keras():
    import_library("tensorflow", "tensorflow")
    return import_library("keras", "tensorflow")


def save_model(
    model: Any,
    path: str,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    _model_metadata: tuple[str, str] | None = None,
) -> Model:
    """Saves a Keras model (model.keras) into the directory `path`."""
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise InvalidArgumentError(f"model must be a keras.Model; got {type(model).__name__}")
    path = os.path.abspath(path)
    prepare_directory(path)
    code = pyfunc.copy_code_paths(path, code_paths)
    model.save(os.path.join(path, MODEL_FILE))
    import tensorflow as tf

    descriptor = Model()
    if _model_metadata:
        descriptor.artifact_path, descriptor.run_id = _model_metadata
    descriptor.add_flavor(
        FLAVOR_NAME,
        data=MODEL_FILE,
        model_type="keras",
        keras_version=str(keras.__version__),
        tensorflow_version=str(tf.__version__),
        code=code,
    )
    pyfunc.add_to_model(descriptor, "trackwire.tensorflow", data=MODEL_FILE, code=code)
    return finish_model(
        path,
        descriptor,
        requirements=pyfunc.requirements_for(
            "tensorflow|tensorflow-cpu", "keras", extra=extra_pip_requirements
        ),
        signature=signature,
        example=input_example,
        predict=lambda example: _KerasWrapper(model).predict(example),
    )


def log_model(
    model: Any,
    artifact_path: str = "model",
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    extra_pip_requirements: list[str] | None = None,
    *,
    name: str | None = None,
) -> ModelInfo:
    """Saves a Keras model and uploads it under `artifact_path` (or `name`, MLflow 3's keyword) of the active run."""
    return _log_model(
        name or artifact_path,
        lambda path, **kw: save_model(model, path, **kw),
        registered_model_name=registered_model_name,
        signature=signature,
        input_example=input_example,
        code_paths=code_paths,
        extra_pip_requirements=extra_pip_requirements,
    )


def _load_from_dir(model_dir: str) -> Any:
    keras = _keras()
    conf = Model.load(model_dir).flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidArgumentError(f"the model at {model_dir} has no {FLAVOR_NAME} flavor")
    pyfunc.add_code_to_path(model_dir, conf.get("code"))
    file = model_path(model_dir, conf["data"], "MLmodel flavors.tensorflow.data")
    return keras.saving.load_model(file, safe_mode=True)


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The Keras model saved at `model_uri` (runs:/, models:/, file:// or a path)."""
    local = download_model(model_uri, dst_path)
    check_environment(local)
    return _load_from_dir(local)


class _KerasWrapper:
    def __init__(self, model: Any):
        self.model = model

    def predict(self, data: Any, params: dict | None = None):
        if isinstance(data, dict):
            data = {k: np.asarray(v) for k, v in data.items()}
        elif hasattr(data, "to_numpy"):
            data = data.to_numpy()
        else:
            data = np.asarray(data)
        return np.asarray(self.model.predict(data, verbose=0))


def _load_pyfunc(model_dir: str) -> _KerasWrapper:
    return _KerasWrapper(_load_from_dir(model_dir))

"""XGBoost flavor: Boosters and the scikit-learn API (XGBClassifier, XGBRegressor, ...),
saved in XGBoost's own format (`model.ubj`, or `model.json` with model_format="json").
No pickle: loading builds the model from that file.

    trackwire.xgboost.log_model(xgb_model, "xgboost_model")
    booster_or_estimator = trackwire.xgboost.load_model(f"runs:/{run_id}/xgboost_model")
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from trackwire import pyfunc
from trackwire.errors import InvalidArgumentError
from trackwire.models.download import download_model
from trackwire.models.enforcement import records_to_frame
from trackwire.models.environment import check_environment
from trackwire.models.flavor import import_library, model_path
from trackwire.models.model import Model, ModelInfo, finish_model, prepare_directory
from trackwire.models.model import log_model as _log_model
from trackwire.models.signature import ModelSignature

FLAVOR_NAME = "xgboost"
MODEL_FORMATS = ("ubj", "json")


def _xgb():
    return import_library("xgboost", "xgboost")


def save_model(
    xgb_model: Any,
    path: str,
    model_format: str = "ubj",
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    _model_metadata: tuple[str, str] | None = None,
) -> Model:
    """Saves a Booster or an XGBoost scikit-learn estimator into the directory `path`."""
    xgb = _xgb()
    if model_format not in MODEL_FORMATS:
        raise InvalidArgumentError(
            f"model_format '{model_format}' is not one of {', '.join(MODEL_FORMATS)}"
        )
    if not isinstance(xgb_model, (xgb.Booster, xgb.XGBModel)):
        raise InvalidArgumentError(
            f"xgb_model must be an xgboost.Booster or XGBModel; got {type(xgb_model).__name__}"
        )
    path = os.path.abspath(path)
    prepare_directory(path)
    code = pyfunc.copy_code_paths(path, code_paths)
    file = f"model.{model_format}"
    xgb_model.save_model(os.path.join(path, file))
    cls = type(xgb_model)
    model = Model()
    if _model_metadata:
        model.artifact_path, model.run_id = _model_metadata
    model.add_flavor(
        FLAVOR_NAME,
        data=file,
        model_class=f"{cls.__module__}.{cls.__qualname__}",
        model_format=model_format,
        xgb_version=xgb.__version__,
        code=code,
    )
    pyfunc.add_to_model(model, "trackwire.xgboost", data=file, code=code)
    return finish_model(
        path,
        model,
        requirements=pyfunc.requirements_for("xgboost|xgboost-cpu", extra=extra_pip_requirements),
        signature=signature,
        example=input_example,
        predict=lambda example: _XGBModelWrapper(xgb_model).predict(example),
    )


def log_model(
    xgb_model: Any,
    artifact_path: str = "model",
    model_format: str = "ubj",
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    extra_pip_requirements: list[str] | None = None,
    *,
    name: str | None = None,
) -> ModelInfo:
    """Saves an XGBoost model and uploads it under `artifact_path` (or `name`, MLflow 3's keyword) of the active run."""
    return _log_model(
        name or artifact_path,
        lambda path, **kw: save_model(xgb_model, path, **kw),
        registered_model_name=registered_model_name,
        model_format=model_format,
        signature=signature,
        input_example=input_example,
        code_paths=code_paths,
        extra_pip_requirements=extra_pip_requirements,
    )


def _load_from_dir(model_dir: str) -> Any:
    _xgb()
    conf = Model.load(model_dir).flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidArgumentError(f"the model at {model_dir} has no {FLAVOR_NAME} flavor")
    module_name, _, class_name = conf["model_class"].rpartition(".")
    if not module_name.startswith("xgboost"):
        raise InvalidArgumentError(f"model_class '{conf['model_class']}' is not an XGBoost class")
    cls = getattr(importlib.import_module(module_name), class_name)
    model = cls()
    model.load_model(model_path(model_dir, conf["data"], "MLmodel flavors.xgboost.data"))
    return model


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The Booster or estimator saved at `model_uri` (runs:/, models:/, file:// or a path)."""
    local = download_model(model_uri, dst_path)
    check_environment(local)
    return _load_from_dir(local)


class _XGBModelWrapper:
    def __init__(self, model: Any):
        self.model = model

    def predict(self, data: Any, params: dict | None = None):
        xgb = _xgb()
        data = records_to_frame(data)
        if isinstance(self.model, xgb.Booster):
            return self.model.predict(xgb.DMatrix(data))
        return self.model.predict(data)


def _load_pyfunc(model_dir: str) -> _XGBModelWrapper:
    return _XGBModelWrapper(_load_from_dir(model_dir))

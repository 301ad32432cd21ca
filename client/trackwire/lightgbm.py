"""LightGBM flavor: Boosters and the scikit-learn API (LGBMClassifier, LGBMRegressor, ...).

The booster is saved in LightGBM's own text format (`model.lgb`); a scikit-learn API model
also saves its estimator wrapper (classes, parameters) with skops (`model.skops`), which
loads only scikit-learn, LightGBM, NumPy and SciPy types: no pickle.

    trackwire.lightgbm.log_model(lgb_model, "lightgbm_model")
    model = trackwire.lightgbm.load_model(f"runs:/{run_id}/lightgbm_model")
"""

from __future__ import annotations

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

FLAVOR_NAME = "lightgbm"
BOOSTER_FILE = "model.lgb"
ESTIMATOR_FILE = "model.skops"
TRUSTED_MODULES = ("lightgbm", "sklearn", "numpy", "scipy")
TRUSTED_TYPES = ("collections.OrderedDict",)


def _lgb():
    return import_library("lightgbm", "lightgbm")


def _trusted(type_name: str) -> bool:
    return type_name in TRUSTED_TYPES or type_name.split(".", 1)[0] in TRUSTED_MODULES


def save_model(
    lgb_model: Any,
    path: str,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    _model_metadata: tuple[str, str] | None = None,
) -> Model:
    """Saves a Booster or a LightGBM scikit-learn estimator into the directory `path`."""
    lgb = _lgb()
    if isinstance(lgb_model, lgb.Booster):
        booster, estimator = lgb_model, None
    elif isinstance(lgb_model, lgb.LGBMModel):
        booster, estimator = lgb_model.booster_, lgb_model
    else:
        raise InvalidArgumentError(
            f"lgb_model must be a lightgbm.Booster or LGBMModel; got {type(lgb_model).__name__}"
        )
    path = os.path.abspath(path)
    prepare_directory(path)
    code = pyfunc.copy_code_paths(path, code_paths)
    booster.save_model(os.path.join(path, BOOSTER_FILE))
    extra: list[str] = []
    if estimator is not None:
        sio = import_library("skops.io", "lightgbm")
        with open(os.path.join(path, ESTIMATOR_FILE), "wb") as f:
            f.write(sio.dumps(estimator))
        extra = ["scikit-learn", "skops"]
    cls = type(lgb_model)
    model = Model()
    if _model_metadata:
        model.artifact_path, model.run_id = _model_metadata
    model.add_flavor(
        FLAVOR_NAME,
        data=BOOSTER_FILE,
        estimator=ESTIMATOR_FILE if estimator is not None else None,
        model_class=f"{cls.__module__}.{cls.__qualname__}",
        lgb_version=lgb.__version__,
        code=code,
    )
    pyfunc.add_to_model(model, "trackwire.lightgbm", data=BOOSTER_FILE, code=code)
    return finish_model(
        path,
        model,
        requirements=pyfunc.requirements_for("lightgbm", *extra, extra=extra_pip_requirements),
        signature=signature,
        example=input_example,
        predict=lambda example: _LGBModelWrapper(lgb_model).predict(example),
    )


def log_model(
    lgb_model: Any,
    artifact_path: str = "model",
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    extra_pip_requirements: list[str] | None = None,
    *,
    name: str | None = None,
) -> ModelInfo:
    """Saves a LightGBM model and uploads it under `artifact_path` (or `name`, MLflow 3's keyword) of the active run."""
    return _log_model(
        name or artifact_path,
        lambda path, **kw: save_model(lgb_model, path, **kw),
        registered_model_name=registered_model_name,
        signature=signature,
        input_example=input_example,
        code_paths=code_paths,
        extra_pip_requirements=extra_pip_requirements,
    )


def _load_from_dir(model_dir: str) -> Any:
    lgb = _lgb()
    conf = Model.load(model_dir).flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidArgumentError(f"the model at {model_dir} has no {FLAVOR_NAME} flavor")
    if conf.get("estimator"):
        sio = import_library("skops.io", "lightgbm")
        file = model_path(model_dir, conf["estimator"], "MLmodel flavors.lightgbm.estimator")
        untrusted = sio.get_untrusted_types(file=file)
        refused = [t for t in untrusted if not _trusted(t)]
        if refused:
            raise InvalidArgumentError(
                f"the skops file {file} holds types outside LightGBM, scikit-learn, NumPy "
                f"and SciPy: {refused}; refusing to load it"
            )
        return sio.load(file, trusted=untrusted)
    return lgb.Booster(
        model_file=model_path(model_dir, conf["data"], "MLmodel flavors.lightgbm.data")
    )


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The Booster or estimator saved at `model_uri` (runs:/, models:/, file:// or a path)."""
    local = download_model(model_uri, dst_path)
    check_environment(local)
    return _load_from_dir(local)


class _LGBModelWrapper:
    def __init__(self, model: Any):
        self.model = model

    def predict(self, data: Any, params: dict | None = None):
        data = records_to_frame(data)
        return self.model.predict(data)


def _load_pyfunc(model_dir: str) -> _LGBModelWrapper:
    return _LGBModelWrapper(_load_from_dir(model_dir))

"""scikit-learn flavor: any estimator or Pipeline.

Saved with skops (`model.skops`) when every type in it is from scikit-learn, NumPy or
SciPy: loading it then builds those objects without running code from the file. A model
holding anything else (a custom estimator class, a lambda in a FunctionTransformer, ...)
is saved with cloudpickle (`model.pkl`): loading a pickle runs code from the file, so
load only models you trust. `serialization_format` forces one or the other.

    trackwire.sklearn.log_model(model, "model")
    model = trackwire.sklearn.load_model(f"runs:/{run_id}/model")
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

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMAT_SKOPS = "skops"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SUPPORTED_SERIALIZATION_FORMATS = (SERIALIZATION_FORMAT_SKOPS, SERIALIZATION_FORMAT_CLOUDPICKLE)
_FILES = {SERIALIZATION_FORMAT_SKOPS: "model.skops", SERIALIZATION_FORMAT_CLOUDPICKLE: "model.pkl"}

# skops loads the types of these packages without asking: building them runs no code
# from the file. Anything else makes the model a pickle.
TRUSTED_MODULES = ("sklearn", "numpy", "scipy")


def _trusted(type_name: str) -> bool:
    return type_name.split(".", 1)[0] in TRUSTED_MODULES


def _skops_dump(sk_model: Any) -> bytes | None:
    """The skops bytes of the model, or None if skops cannot hold it safely."""
    sio = import_library("skops.io", "sklearn")
    try:
        data = sio.dumps(sk_model)
        untrusted = sio.get_untrusted_types(data=data)
    except Exception:
        return None
    return data if all(_trusted(t) for t in untrusted) else None


def save_model(
    sk_model: Any,
    path: str,
    serialization_format: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    _model_metadata: tuple[str, str] | None = None,
) -> Model:
    """Saves a fitted estimator into the directory `path` (see the module doc for the format)."""
    import_library("sklearn", "sklearn")
    if serialization_format not in (None, *SUPPORTED_SERIALIZATION_FORMATS):
        raise InvalidArgumentError(
            f"serialization_format '{serialization_format}' is not one of "
            f"{', '.join(SUPPORTED_SERIALIZATION_FORMATS)}"
        )
    if (
        pyfunc_predict_fn == "predict"
        and not hasattr(sk_model, "predict")
        and callable(getattr(sk_model, "transform", None))
    ):
        pyfunc_predict_fn = "transform"  # a transformer: pyfunc predict transforms
    if not callable(getattr(sk_model, pyfunc_predict_fn, None)):
        raise InvalidArgumentError(
            f"sk_model ({type(sk_model).__name__}) has no method '{pyfunc_predict_fn}'"
        )
    path = os.path.abspath(path)
    prepare_directory(path)
    code = pyfunc.copy_code_paths(path, code_paths)
    data = (
        None if serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE else _skops_dump(sk_model)
    )
    if data is None and serialization_format == SERIALIZATION_FORMAT_SKOPS:
        raise InvalidArgumentError(
            f"{type(sk_model).__name__} holds types skops cannot save without trusting "
            "code: use serialization_format='cloudpickle'"
        )
    fmt = SERIALIZATION_FORMAT_SKOPS if data is not None else SERIALIZATION_FORMAT_CLOUDPICKLE
    file = _FILES[fmt]
    if data is not None:
        with open(os.path.join(path, file), "wb") as f:
            f.write(data)
    else:
        import cloudpickle

        with open(os.path.join(path, file), "wb") as f:
            cloudpickle.dump(sk_model, f)
    import sklearn

    model = Model()
    if _model_metadata:
        model.artifact_path, model.run_id = _model_metadata
    model.add_flavor(
        FLAVOR_NAME,
        pickled_model=file,
        sklearn_version=sklearn.__version__,
        serialization_format=fmt,
        code=code,
    )
    pyfunc.add_to_model(
        model, "trackwire.sklearn", data=file, code=code, predict_fn=pyfunc_predict_fn
    )
    extra = ["skops"] if fmt == SERIALIZATION_FORMAT_SKOPS else ["cloudpickle"]
    return finish_model(
        path,
        model,
        requirements=pyfunc.requirements_for("scikit-learn", *extra, extra=extra_pip_requirements),
        signature=signature,
        example=input_example,
        predict=getattr(sk_model, pyfunc_predict_fn),
    )


def log_model(
    sk_model: Any,
    artifact_path: str = "model",
    serialization_format: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    *,
    name: str | None = None,
) -> ModelInfo:
    """Saves a fitted estimator and uploads it under `artifact_path` (or `name`, MLflow 3's keyword) of the active run."""
    return _log_model(
        name or artifact_path,
        lambda path, **kw: save_model(sk_model, path, **kw),
        registered_model_name=registered_model_name,
        serialization_format=serialization_format,
        signature=signature,
        input_example=input_example,
        code_paths=code_paths,
        extra_pip_requirements=extra_pip_requirements,
        pyfunc_predict_fn=pyfunc_predict_fn,
    )


def _load_from_dir(model_dir: str) -> Any:
    conf = Model.load(model_dir).flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidArgumentError(f"the model at {model_dir} has no {FLAVOR_NAME} flavor")
    pyfunc.add_code_to_path(model_dir, conf.get("code"))
    file = model_path(model_dir, conf["pickled_model"], "MLmodel flavors.sklearn.pickled_model")
    if conf.get("serialization_format") == SERIALIZATION_FORMAT_SKOPS:
        sio = import_library("skops.io", "sklearn")
        untrusted = sio.get_untrusted_types(file=file)
        refused = [t for t in untrusted if not _trusted(t)]
        if refused:
            raise InvalidArgumentError(
                f"the skops file {file} holds types outside {', '.join(TRUSTED_MODULES)}: "
                f"{refused}; it was not made by trackwire.sklearn, refusing to load it"
            )
        return sio.load(file, trusted=untrusted)
    import pickle

    import_library("sklearn", "sklearn")
    with open(file, "rb") as f:
        return pickle.load(f)  # runs code from the file: see the module doc


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The estimator saved at `model_uri` (runs:/, models:/, file:// or a path)."""
    local = download_model(model_uri, dst_path)
    check_environment(local)
    return _load_from_dir(local)


class _SklearnModelWrapper:
    def __init__(self, model: Any, predict_fn: str):
        self.model = model
        self._predict = getattr(model, predict_fn)

    def predict(self, data: Any, params: dict | None = None):
        data = records_to_frame(data)
        return self._predict(data)


def _load_pyfunc(model_dir: str) -> _SklearnModelWrapper:
    conf = Model.load(model_dir).flavors[pyfunc.FLAVOR_NAME]
    return _SklearnModelWrapper(_load_from_dir(model_dir), conf.get("predict_fn", "predict"))

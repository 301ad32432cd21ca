"""PyTorch flavor: `nn.Module`s, whole (`model.pth`, torch.save with cloudpickle, so a
class defined in a notebook or `__main__` loads too) and as a state dict
(`state_dict.pth`, plain tensors). No input example is needed.

Loading the whole model unpickles it, which runs code from the file: load only models
you trust. The weights are memory-mapped from the downloaded file (`torch.load(...,
mmap=True)`), not copied: the loaded tensors share the file's pages in the page cache and
a tensor written to gets a private copy of what it changes (the file is never written). `load_state_dict` reads the state dict with `weights_only=True` (no code) for
a module you build yourself.

    trackwire.pytorch.log_model(pytorch_model, "pytorch_model")
    module = trackwire.pytorch.load_model(f"runs:/{run_id}/pytorch_model")
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
from trackwire.models.model import Model, ModelInfo, finish_model, model_file, prepare_directory
from trackwire.models.model import log_model as _log_model
from trackwire.models.signature import ModelSignature

FLAVOR_NAME = "pytorch"
MODEL_FILE = "model.pth"
STATE_DICT_FILE = "state_dict.pth"


def _torch():
    return import_library("torch", "pytorch")


def save_model(
    pytorch_model: Any,
    path: str,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    save_state_dict: bool = True,
    extra_pip_requirements: list[str] | None = None,
    _model_metadata: tuple[str, str] | None = None,
) -> Model:
    """Saves an nn.Module (and, with save_state_dict, its state dict) into `path`."""
    import cloudpickle

    torch = _torch()
    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidArgumentError(
            f"pytorch_model must be a torch.nn.Module; got {type(pytorch_model).__name__}"
        )
    path = os.path.abspath(path)
    prepare_directory(path)
    code = pyfunc.copy_code_paths(path, code_paths)
    with model_file(path, MODEL_FILE) as f:
        torch.save(pytorch_model, f, pickle_module=cloudpickle)
    if save_state_dict:
        with model_file(path, STATE_DICT_FILE) as f:
            torch.save(pytorch_model.state_dict(), f)
    cls = type(pytorch_model)
    model = Model()
    if _model_metadata:
        model.artifact_path, model.run_id = _model_metadata
    model.add_flavor(
        FLAVOR_NAME,
        model_data=MODEL_FILE,
        state_dict=STATE_DICT_FILE if save_state_dict else None,
        model_class=f"{cls.__module__}.{cls.__qualname__}",
        pytorch_version=str(torch.__version__),
        code=code,
    )
    pyfunc.add_to_model(model, "trackwire.pytorch", data=MODEL_FILE, code=code)
    return finish_model(
        path,
        model,
        requirements=pyfunc.requirements_for("torch", "cloudpickle", extra=extra_pip_requirements),
        signature=signature,
        example=input_example,
        predict=lambda example: _PyTorchWrapper(pytorch_model).predict(example),
    )


def log_model(
    pytorch_model: Any,
    artifact_path: str = "model",
    signature: ModelSignature | None = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    save_state_dict: bool = True,
    registered_model_name: str | None = None,
    extra_pip_requirements: list[str] | None = None,
    *,
    name: str | None = None,
) -> ModelInfo:
    """Saves an nn.Module and uploads it under `artifact_path` (or `name`, MLflow 3's keyword) of the active run."""
    return _log_model(
        name or artifact_path,
        lambda path, **kw: save_model(pytorch_model, path, **kw),
        registered_model_name=registered_model_name,
        signature=signature,
        input_example=input_example,
        code_paths=code_paths,
        save_state_dict=save_state_dict,
        extra_pip_requirements=extra_pip_requirements,
    )


def _conf(model_dir: str) -> dict:
    conf = Model.load(model_dir).flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidArgumentError(f"the model at {model_dir} has no {FLAVOR_NAME} flavor")
    pyfunc.add_code_to_path(model_dir, conf.get("code"))
    return conf


def _torch_load(path: str, map_location: Any, weights_only: bool) -> Any:
    """torch.load, memory-mapping the weights of a zip-format file (see the module doc)."""
    import zipfile

    return _torch().load(
        path, map_location=map_location, weights_only=weights_only, mmap=zipfile.is_zipfile(path)
    )


def _load_from_dir(model_dir: str, map_location: Any = None) -> Any:
    conf = _conf(model_dir)
    # weights_only=False: the whole module is a pickle (see the module doc).
    return _torch_load(
        model_path(model_dir, conf["model_data"], "MLmodel flavors.pytorch.model_data"),
        map_location,
        weights_only=False,
    )


def load_model(model_uri: str, dst_path: str | None = None, map_location: Any = None) -> Any:
    """The nn.Module saved at `model_uri` (runs:/, models:/, file:// or a path)."""
    local = download_model(model_uri, dst_path)
    check_environment(local)
    return _load_from_dir(local, map_location)


def load_state_dict(model_uri: str, dst_path: str | None = None, map_location: Any = None) -> dict:
    """The state dict saved with the model, read without unpickling code
    (`weights_only=True`): `module.load_state_dict(...)` it into a module you built."""
    local = download_model(model_uri, dst_path)
    conf = _conf(local)
    if not conf.get("state_dict"):
        raise InvalidArgumentError(
            f"the model at '{model_uri}' was saved without a state dict (save_state_dict=False)"
        )
    file = model_path(local, conf["state_dict"], "MLmodel flavors.pytorch.state_dict")
    return _torch_load(file, map_location, weights_only=True)


def _takes_double(module: Any) -> bool:
    parameter = next(iter(module.parameters()), None)
    return parameter is not None and str(parameter.dtype) == "torch.float64"


class _PyTorchWrapper:
    """predict: the input as float tensors (a DataFrame's values, an array, or a dict of
    arrays as keyword tensors), the module called under torch.no_grad(), numpy out."""

    def __init__(self, model: Any):
        self.model = model

    def predict(self, data: Any, params: dict | None = None):
        torch = _torch()
        self.model.eval()

        def tensor(value: Any):
            if hasattr(value, "to_numpy"):
                value = value.to_numpy()
            array = np.asarray(value)
            if array.dtype == np.float64 and not _takes_double(self.model):
                array = array.astype(np.float32)
            return torch.from_numpy(np.ascontiguousarray(array))

        with torch.no_grad():
            if isinstance(data, dict):
                output = self.model(**{k: tensor(v) for k, v in data.items()})
            else:
                output = self.model(tensor(data))
        if isinstance(output, torch.Tensor):
            return output.detach().cpu().numpy()
        if isinstance(output, (tuple, list)):
            return [o.detach().cpu().numpy() for o in output]
        return output


def _load_pyfunc(model_dir: str) -> _PyTorchWrapper:
    return _PyTorchWrapper(_load_from_dir(model_dir))

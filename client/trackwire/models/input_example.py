"""Input examples: saved as JSON beside the model, read back as what was given."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from trackwire.errors import InvalidArgumentError
from trackwire.models.flavor import model_path

INPUT_EXAMPLE_FILE = "input_example.json"


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")


def _plain(value: Any) -> Any:
    """JSON-ready values: numpy scalars and arrays to Python, NaN to null."""
    if isinstance(value, np.ndarray):
        return (
            [_plain(v) for v in value.tolist()]
            if value.dtype.kind == "O"
            else _plain(value.tolist())
        )
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def save_input_example(path: str, example: Any) -> dict:
    """Writes `example` to input_example.json in the model directory `path`; returns the
    MLmodel `saved_input_example_info` entry."""
    if _is_frame(example):
        data = {
            "columns": [str(c) for c in example.columns],
            "data": _plain(example.to_numpy(dtype=object).tolist()),
        }
        info = {"type": "dataframe", "pandas_orient": "split"}
    elif isinstance(example, np.ndarray):
        data = {"inputs": _plain(example), "dtype": str(example.dtype)}
        info = {"type": "ndarray", "format": "tf-serving"}
    elif isinstance(example, dict):
        if all(isinstance(v, np.ndarray) for v in example.values()):
            data = {"inputs": {k: _plain(v) for k, v in example.items()}}
            info = {"type": "ndarray", "format": "tf-serving"}
        else:
            data = _plain(example)
            info = {"type": "json_object"}
    elif isinstance(example, (list, tuple, str, int, float, bool)):
        data = _plain(example)
        info = {"type": "json_object"}
    else:
        raise InvalidArgumentError(
            f"input_example of type {type(example).__name__} cannot be saved: pass a pandas "
            "DataFrame, a numpy array, a dict or a list"
        )
    with open(os.path.join(path, INPUT_EXAMPLE_FILE), "w") as f:
        json.dump(data, f)
    return {"artifact_path": INPUT_EXAMPLE_FILE, **info}


def load_input_example(path: str, info: dict | None) -> Any:
    """The input example saved in the model directory `path` (None if there is none)."""
    if not info:
        return None
    file = model_path(path, info.get("artifact_path"), "MLmodel saved_input_example_info")
    with open(file) as f:
        data = json.load(f)
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        frame = pd.DataFrame(data["data"], columns=data["columns"])
        return frame.infer_objects()
    if kind == "ndarray":
        inputs = data["inputs"]
        if isinstance(inputs, dict):
            return {k: np.asarray(v) for k, v in inputs.items()}
        return np.asarray(inputs, dtype=data.get("dtype"))
    return data

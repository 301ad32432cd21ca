"""Predictions as MLflow's scoring protocol returns them: `{"predictions": ...}` in JSON,
an array as a list, a DataFrame as a list of row objects, a Series as a list of
`{name: value}` rows (MLflow's shape), anything else as JSON makes it."""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def jsonable(predictions: Any) -> Any:
    """What MLflow's `_get_jsonable_obj` makes of predictions (records orient)."""
    kind = type(predictions).__name__
    module = type(predictions).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(predictions, pd.DataFrame):
            return predictions.to_dict(orient="records")
        if isinstance(predictions, pd.Series):
            return pd.DataFrame(predictions).to_dict(orient="records")
    if kind == "Tensor" and hasattr(predictions, "detach"):  # torch
        return predictions.detach().cpu().numpy()
    if hasattr(predictions, "numpy") and module.startswith("tensorflow"):
        return predictions.numpy()
    return predictions


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        # e.g. an object array orjson does not take whole, or NaN keys: the slow way
        if isinstance(value, dict):
            return orjson.dumps(
                {k: _plain(v) for k, v in value.items()}, default=_default, option=_OPTIONS
            )
        return orjson.dumps(_plain(value), default=_default, option=_OPTIONS)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def predictions_json(predictions: Any) -> bytes:
    """The body of a successful /invocations response."""
    return dumps({"predictions": jsonable(predictions)})

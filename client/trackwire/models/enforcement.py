"""Signature enforcement at predict time.

Column schemas: the input becomes a pandas DataFrame; a missing required column is an
error naming it; extra columns are dropped with a warning; each column is converted to
its type when that is safe (int -> long/float/double, float -> double) and refused when
it is not (float -> int, string -> number, ...). Tensor schemas: shape and dtype are
checked, safe casts are applied. Params: unknown ones are dropped with a warning,
defaults fill the rest, and values must have the declared type.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from trackwire.errors import InvalidArgumentError
from trackwire.models.signature import DATA_TYPES, ColSpec, ParamSchema, Schema, TensorSpec


class SignatureError(InvalidArgumentError):
    """The input does not match the model's signature."""


def records_to_frame(data: Any) -> Any:
    """A dict (of columns, or of scalars: one row) or a list of dicts as a DataFrame;
    anything else as it is. For models without a signature."""
    if isinstance(data, Mapping) or (
        isinstance(data, list) and data and all(isinstance(v, Mapping) for v in data)
    ):
        import pandas as pd

        if isinstance(data, Mapping):
            if all(np.ndim(v) == 0 for v in data.values()):
                return pd.DataFrame({k: [v] for k, v in data.items()})
            return pd.DataFrame(dict(data))
        return pd.DataFrame(list(data))
    return data


def _to_frame(data: Any, schema: Schema):
    import pandas as pd

    names = schema.input_names()
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        if schema.has_input_names() and len(names) > 1:
            return data.to_frame().T if data.name is None else data.to_frame()
        return data.to_frame(name=names[0])
    if isinstance(data, Mapping):
        if all(np.ndim(v) == 0 for v in data.values()):
            return pd.DataFrame({k: [v] for k, v in data.items()})
        return pd.DataFrame({k: list(v) if np.ndim(v) else [v] for k, v in data.items()})
    if isinstance(data, (list, tuple)) and data and all(isinstance(v, Mapping) for v in data):
        return pd.DataFrame(list(data))
    array = np.asarray(data)
    if array.ndim == 1:
        array = array.reshape(-1, 1) if len(names) == 1 else array.reshape(1, -1)
    if array.ndim != 2:
        raise SignatureError(
            f"the model takes a table of {len(names)} columns; got an array of shape {array.shape}"
        )
    if array.shape[1] != len(names):
        raise SignatureError(
            f"the model takes {len(names)} columns ({', '.join(map(str, names))}); "
            f"got an array with {array.shape[1]}"
        )
    return pd.DataFrame(array, columns=names)


_WIDENS_TO = {
    "boolean": {"boolean"},
    "integer": {"integer", "long", "float", "double"},
    "long": {"long", "double"},
    "float": {"float", "double"},
    "double": {"double"},
    "string": {"string"},
    "binary": {"binary"},
    "datetime": {"datetime"},
}


def _column_kind(series, missing: int | None = None) -> str | None:
    """The DATA_TYPES name of a column's values, or None for an all-missing column.
    `missing`: the count of missing values, when the caller has it."""
    from trackwire.models.signature import column_type

    kind = series.dtype.kind if isinstance(series.dtype, np.dtype) else None
    if kind in ("b", "i", "u", "f") and missing is not None:  # the dtype says it all
        return None if missing == len(series) else column_type(series.dtype, (), "")
    values = series.dropna().tolist()
    if not values:
        return None
    try:
        return column_type(series.dtype, values, f"column '{series.name}'")
    except InvalidArgumentError as e:
        raise SignatureError(str(e)) from None


def _missing_count(series) -> int:
    """Missing values in a column: numpy's test for plain numeric columns (a good part
    cheaper than pandas' for the small tables a served model gets), pandas' otherwise."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return 0
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return int(np.isnan(series.to_numpy()).sum())
    return int(series.isna().sum())


def _enforce_column(series, spec: ColSpec, name: Any):
    import pandas as pd

    missing = _missing_count(series)
    if missing and spec.required:
        raise SignatureError(f"column '{name}' is required but has {missing} missing value(s)")
    kind = _column_kind(series, missing)
    if kind is None or kind == spec.type:
        if kind == "integer" and spec.type == "integer":
            return series.astype(np.int32)
        return series
    if spec.type not in _WIDENS_TO.get(kind, set()):
        raise SignatureError(
            f"column '{name}' has type {kind} ({series.dtype}) but the model takes "
            f"{spec.type}: converting {kind} to {spec.type} could lose information"
        )
    target = DATA_TYPES[spec.type]
    if missing and target.kind in "iu":
        return series.astype(pd.Int64Dtype() if spec.type == "long" else pd.Int32Dtype())
    return series.astype(target)


def enforce_columns(data: Any, schema: Schema):
    """`data` as a DataFrame with exactly the schema's columns, in its order and types."""
    frame = _to_frame(data, schema)
    if not schema.has_input_names():
        if frame.shape[1] != len(schema):
            raise SignatureError(
                f"the model takes {len(schema)} unnamed column(s); got {frame.shape[1]}"
            )
        import pandas as pd

        return pd.concat(
            [_enforce_column(frame.iloc[:, i], spec, i) for i, spec in enumerate(schema)],
            axis=1,
        )
    names = schema.input_names()
    present = [str(c) for c in frame.columns]
    frame = frame.set_axis(present, axis=1)
    missing = [n for n in schema.required_input_names() if n not in present]
    if missing:
        raise SignatureError(
            f"the model is missing input column(s) {missing}: it takes {names}, got {present}"
        )
    extra = [c for c in present if c not in names]
    if extra:
        warnings.warn(
            f"input column(s) {extra} are not in the model's signature and were dropped",
            UserWarning,
            stacklevel=4,
        )
    import pandas as pd

    columns = {}
    unchanged = present == [spec.name for spec in schema]
    for spec in schema:
        if spec.name in present:
            column = frame[spec.name]
            columns[spec.name] = _enforce_column(column, spec, spec.name)
            unchanged = unchanged and columns[spec.name] is column
    if unchanged:  # already the schema's columns, in order, of its types: no copy
        return frame
    return pd.DataFrame(columns, index=frame.index)


def _enforce_tensor(array: Any, spec: TensorSpec, name: Any) -> np.ndarray:
    if type(array).__module__.startswith("pandas"):
        array = array.to_numpy()
    array = np.asarray(array)
    label = f"tensor '{name}'" if name is not None else "the input tensor"
    if array.ndim != len(spec.shape) or any(
        want != -1 and want != have for want, have in zip(spec.shape, array.shape, strict=True)
    ):
        raise SignatureError(
            f"{label} has shape {tuple(array.shape)} but the model takes shape {spec.shape} "
            "(-1: any size)"
        )
    if array.dtype == spec.dtype:
        return array
    if not np.can_cast(array.dtype, spec.dtype, casting="safe"):
        raise SignatureError(
            f"{label} has dtype {array.dtype} but the model takes {spec.dtype}: "
            f"converting {array.dtype} to {spec.dtype} could lose information"
        )
    return array.astype(spec.dtype)


def enforce_tensors(data: Any, schema: Schema) -> Any:
    specs = list(schema)
    if schema.has_input_names() and len(specs) > 1 or isinstance(data, Mapping):
        if not isinstance(data, Mapping):
            if type(data).__name__ == "DataFrame":
                data = {c: data[c].to_numpy() for c in data.columns}
            else:
                raise SignatureError(
                    f"the model takes named tensors {schema.input_names()}; pass a dict"
                )
        missing = [s.name for s in specs if s.name not in data]
        if missing:
            raise SignatureError(f"the model is missing input tensor(s) {missing}")
        extra = [k for k in data if k not in schema.input_names()]
        if extra:
            warnings.warn(
                f"input tensor(s) {extra} are not in the model's signature and were dropped",
                UserWarning,
                stacklevel=4,
            )
        return {s.name: _enforce_tensor(data[s.name], s, s.name) for s in specs}
    return _enforce_tensor(data, specs[0], specs[0].name)


def enforce_input(data: Any, schema: Schema | None) -> Any:
    """The input converted to what the schema says, or SignatureError."""
    if schema is None:
        return data
    if schema.is_tensor_spec():
        return enforce_tensors(data, schema)
    return enforce_columns(data, schema)


def _param_value_ok(value: Any, type_name: str) -> Any:
    checks = {
        "boolean": lambda v: isinstance(v, (bool, np.bool_)),
        "integer": lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool),
        "long": lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "binary": lambda v: isinstance(v, (bytes, bytearray)),
        "datetime": lambda v: hasattr(v, "isoformat"),
    }
    return checks[type_name](value)


def enforce_params(params: Mapping[str, Any] | None, schema: ParamSchema | None) -> dict | None:
    """The params to pass: declared ones with defaults filled in, each of its type."""
    if schema is None:
        if params:
            warnings.warn(
                f"params {sorted(params)} were ignored: the model's signature declares none",
                UserWarning,
                stacklevel=4,
            )
        return None
    params = dict(params or {})
    declared = {p.name for p in schema}
    extra = sorted(k for k in params if k not in declared)
    if extra:
        warnings.warn(
            f"params {extra} are not in the model's signature and were ignored",
            UserWarning,
            stacklevel=4,
        )
    out = {}
    for spec in schema:
        value = params.get(spec.name, spec.default)
        values = value if spec.shape is not None else [value]
        if spec.shape is not None and not isinstance(value, (list, tuple, np.ndarray)):
            raise SignatureError(f"param '{spec.name}' must be a list of {spec.type}")
        if not all(_param_value_ok(v, spec.type) for v in values):
            raise SignatureError(f"param '{spec.name}' must be of type {spec.type}; got {value!r}")
        out[spec.name] = value
    return out

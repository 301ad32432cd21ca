"""Model signatures: what a model takes and returns, in MLflow's JSON shape.

A `Schema` is a list of `ColSpec` (named, typed columns: a table) or of `TensorSpec`
(numpy arrays with a dtype and a shape, -1 for "any size"). A `ModelSignature` has an
input schema, an optional output schema and optional `ParamSchema` (inference
parameters with defaults). `infer_signature` builds one from example data.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trackwire.errors import InvalidArgumentError

# MLflow's column types, and the numpy dtype each one is held in.
DATA_TYPES: dict[str, np.dtype] = {
    "boolean": np.dtype(np.bool_),
    "integer": np.dtype(np.int32),
    "long": np.dtype(np.int64),
    "float": np.dtype(np.float32),
    "double": np.dtype(np.float64),
    "string": np.dtype(object),
    "binary": np.dtype(object),
    "datetime": np.dtype("datetime64[ns]"),
}


def _is_pandas(value: Any, name: str) -> bool:
    cls = type(value)
    return cls.__module__.startswith("pandas") and any(c.__name__ == name for c in cls.__mro__)


@dataclass(frozen=True)
class ColSpec:
    """A named (or unnamed) column of one of DATA_TYPES; `required=False` allows it to be
    missing or null."""

    type: str
    name: str | None = None
    required: bool = True

    def __post_init__(self):
        if self.type not in DATA_TYPES:
            raise InvalidArgumentError(
                f"column type '{self.type}' is not one of {', '.join(DATA_TYPES)}"
            )

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    """A numpy array of `dtype` and `shape` (-1 where any size is accepted)."""

    dtype: np.dtype
    shape: tuple[int, ...]
    name: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def type(self) -> np.dtype:
        return self.dtype

    @property
    def required(self) -> bool:
        return True

    def to_dict(self) -> dict:
        out: dict[str, Any] = {
            "type": "tensor",
            "tensor-spec": {"dtype": str(self.dtype), "shape": list(self.shape)},
        }
        if self.name is not None:
            out["name"] = self.name
        return out


Spec = ColSpec | TensorSpec


@dataclass(frozen=True)
class Schema:
    """An ordered list of ColSpecs or of TensorSpecs (not both)."""

    inputs: tuple[Spec, ...]

    def __init__(self, inputs: Sequence[Spec]):
        inputs = tuple(inputs)
        if not inputs:
            raise InvalidArgumentError("a schema needs at least one column or tensor")
        kinds = {type(s) for s in inputs}
        if len(kinds) > 1:
            raise InvalidArgumentError("a schema mixes columns and tensors")
        names = [s.name for s in inputs]
        if any(n is None for n in names) and len(inputs) > 1 and any(n is not None for n in names):
            raise InvalidArgumentError("a schema names all of its entries or none")
        object.__setattr__(self, "inputs", inputs)

    def __iter__(self):
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def is_tensor_spec(self) -> bool:
        return isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return all(s.name is not None for s in self.inputs)

    def input_names(self) -> list[str | int]:
        return [s.name if s.name is not None else i for i, s in enumerate(self.inputs)]

    def required_input_names(self) -> list[str | int]:
        return [n for n, s in zip(self.input_names(), self.inputs, strict=True) if s.required]

    def to_dict(self) -> list[dict]:
        return [s.to_dict() for s in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Schema:
        specs: list[Spec] = []
        for entry in json.loads(text):
            if entry["type"] == "tensor":
                spec = entry["tensor-spec"]
                specs.append(TensorSpec(spec["dtype"], spec["shape"], entry.get("name")))
            else:
                specs.append(ColSpec(entry["type"], entry.get("name"), entry.get("required", True)))
        return cls(specs)


@dataclass(frozen=True)
class ParamSpec:
    """An inference parameter: its name, type (one of DATA_TYPES), default and shape
    (None for a scalar, (-1,) for a list)."""

    name: str
    type: str
    default: Any
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        default = self.default
        if isinstance(default, datetime.datetime):
            default = default.isoformat()
        return {
            "name": self.name,
            "type": self.type,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
        }


@dataclass(frozen=True)
class ParamSchema:
    params: tuple[ParamSpec, ...]

    def __init__(self, params: Sequence[ParamSpec]):
        object.__setattr__(self, "params", tuple(params))

    def __iter__(self):
        return iter(self.params)

    def to_json(self) -> str:
        return json.dumps([p.to_dict() for p in self.params])

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        return cls(
            ParamSpec(
                p["name"],
                p["type"],
                p.get("default"),
                tuple(p["shape"]) if p.get("shape") is not None else None,
            )
            for p in json.loads(text)
        )


@dataclass(frozen=True)
class ModelSignature:
    """What the model takes (`inputs`), returns (`outputs`) and accepts as `params`."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = field(default=None)

    def to_dict(self) -> dict[str, str | None]:
        """The MLmodel `signature` entry: each schema as a JSON string, as MLflow writes it."""
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str | None]) -> ModelSignature:
        return cls(
            Schema.from_json(data["inputs"]) if data.get("inputs") else None,
            Schema.from_json(data["outputs"]) if data.get("outputs") else None,
            ParamSchema.from_json(data["params"]) if data.get("params") else None,
        )


# -- inference -------------------------------------------------------------------------


def _type_of_values(values: Sequence[Any], where: str) -> str:
    """The column type of Python values (None/NaN ignored)."""
    kinds: set[str] = set()
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        if isinstance(v, (bool, np.bool_)):
            kinds.add("boolean")
        elif isinstance(v, (int, np.integer)):
            kinds.add("long")
        elif isinstance(v, (float, np.floating)):
            kinds.add("double")
        elif isinstance(v, str):
            kinds.add("string")
        elif isinstance(v, (bytes, bytearray)):
            kinds.add("binary")
        elif isinstance(v, (datetime.datetime, datetime.date, np.datetime64)):
            kinds.add("datetime")
        else:
            raise InvalidArgumentError(
                f"cannot infer a column type for {where}: values of type {type(v).__name__}"
            )
    if kinds == {"long", "double"}:
        return "double"
    if len(kinds) != 1:
        raise InvalidArgumentError(
            f"cannot infer one column type for {where}: it holds "
            + (", ".join(sorted(kinds)) if kinds else "only missing values")
        )
    return kinds.pop()


def column_type(dtype: Any, values: Sequence[Any], where: str) -> str:
    """The column type for a pandas/numpy dtype; object columns are typed by their values."""
    kind = getattr(dtype, "kind", None)
    size = getattr(dtype, "itemsize", 8)
    name = str(dtype).lower()
    if kind == "b" or name in ("boolean", "bool"):
        return "boolean"
    if kind in ("i", "u"):
        return "integer" if (kind == "i" and size <= 4) or (kind == "u" and size <= 2) else "long"
    if kind == "f":
        return "float" if size <= 4 else "double"
    if kind == "M":
        return "datetime"
    if kind == "U" or name == "string":
        return "string"
    if kind == "S":
        return "binary"
    return _type_of_values(values, where)


def _has_missing(values: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(pd.Series(values, dtype=object)).any())


def _schema_of(data: Any, what: str) -> Schema:
    if _is_pandas(data, "DataFrame"):
        return Schema(
            [
                ColSpec(
                    column_type(data[c].dtype, data[c].tolist(), f"column '{c}'"),
                    str(c),
                    required=not bool(data[c].isna().any()),
                )
                for c in data.columns
            ]
        )
    if _is_pandas(data, "Series"):
        name = str(data.name) if data.name is not None else None
        return Schema(
            [
                ColSpec(
                    column_type(data.dtype, data.tolist(), f"{what} series"),
                    name,
                    required=not bool(data.isna().any()),
                )
            ]
        )
    if isinstance(data, np.ndarray):
        if data.dtype.kind == "O":
            return Schema([ColSpec(_type_of_values(data.ravel().tolist(), what))])
        return Schema([TensorSpec(data.dtype, (-1, *data.shape[1:]))])
    if isinstance(data, Mapping):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema(
                [TensorSpec(v.dtype, (-1, *v.shape[1:]), str(k)) for k, v in data.items()]
            )
        specs = []
        for k, v in data.items():
            values = list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]
            specs.append(
                ColSpec(
                    _type_of_values(values, f"key '{k}'"),
                    str(k),
                    required=not _has_missing(values),
                )
            )
        return Schema(specs)
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(v, Mapping) for v in data):
            import pandas as pd

            return _schema_of(pd.DataFrame(list(data)), what)
        if data and all(isinstance(v, (list, tuple, np.ndarray)) for v in data):
            return _schema_of(np.asarray(data), what)
        return Schema(
            [ColSpec(_type_of_values(list(data), what), required=not _has_missing(list(data)))]
        )
    if isinstance(data, (str, bytes, bool, int, float, np.generic)):
        return Schema([ColSpec(_type_of_values([data], what))])
    raise InvalidArgumentError(
        f"cannot infer a schema from {what} of type {type(data).__name__}: pass a pandas "
        "DataFrame or Series, a numpy array, a list or a dict"
    )


def _param_schema(params: Mapping[str, Any]) -> ParamSchema:
    specs = []
    for name, default in params.items():
        if isinstance(default, (list, tuple, np.ndarray)):
            specs.append(
                ParamSpec(
                    name, _type_of_values(list(default), f"param '{name}'"), list(default), (-1,)
                )
            )
        else:
            specs.append(ParamSpec(name, _type_of_values([default], f"param '{name}'"), default))
    return ParamSchema(specs)


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> ModelSignature:
    """A signature from example data: pandas DataFrames/Series, numpy arrays, lists, dicts.

    Columns get their names and types (optional where a value is missing); arrays become
    tensors whose first dimension is -1 (any batch size).
    """
    return ModelSignature(
        _schema_of(model_input, "the model input") if model_input is not None else None,
        _schema_of(model_output, "the model output") if model_output is not None else None,
        _param_schema(params) if params else None,
    )

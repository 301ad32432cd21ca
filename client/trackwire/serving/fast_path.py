"""The fast path of scoring: numeric rows straight into a numpy array.

For a scikit-learn model whose signature is a table of required numeric columns, a
clean request (every column present, numbers only, no missing values) needs no pandas:
the rows become one 2-D array in the signature's column order and go to the estimator
as they are. That is what the signature enforcement would have let through, and it is
several times cheaper than building and checking a DataFrame (which costs more than
the prediction itself for a small model). A CSV body of numbers goes the same way for a
model of float columns. Anything else (a missing or extra column, a
string, a null, a fraction in an integer column, params) is not "clean" and takes the
general path, which enforces the signature and words the error.

It is switched on per model, at load time, only when the estimator was fitted on these
columns in this order (`feature_names_in_`) and a probe gives the same predictions
through the array as through the DataFrame (a pipeline that selects columns by name,
for one, does not: it stays on the general path).
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import numpy as np

from trackwire.models.signature import DATA_TYPES

log = logging.getLogger("trackwire.serving")

# int32 columns stay on the general path (it checks the range)
_NUMERIC = {"double", "float", "long"}
_LOADERS = ("trackwire.sklearn",)
# sklearn says so for every array given to an estimator fitted on a DataFrame
warnings.filterwarnings("ignore", message="X does not have valid feature names")


class FastPath:
    """Scores clean numeric rows of one model; `rows_*` return None for anything else."""

    def __init__(self, predict: Any, names: list[str], dtypes: list[np.dtype]):
        self._predict = predict
        self.names = names
        self._index = {name: i for i, name in enumerate(names)}
        self._dtypes = dtypes
        self._dtype = np.result_type(*dtypes)
        self._has_integer_columns = any(d.kind == "i" for d in dtypes)

    @classmethod
    def for_model(cls, model: Any) -> FastPath | None:
        """The fast path of a loaded PyFuncModel, or None when it has none."""
        try:
            return cls._for_model(model)
        except Exception as e:  # a probe that fails for any reason: general path
            log.info("scoring takes the general path: %s", e)
            return None

    @classmethod
    def _for_model(cls, model: Any) -> FastPath | None:
        signature = model.metadata.signature
        if model.loader_module not in _LOADERS or signature is None or signature.params:
            return None
        schema = signature.inputs
        if schema.is_tensor_spec() or not schema.has_input_names():
            return None
        if not all(spec.type in _NUMERIC and spec.required for spec in schema):
            return None
        names = [str(spec.name) for spec in schema]
        estimator = model.get_raw_model()
        fitted = getattr(estimator, "feature_names_in_", None)
        if fitted is None or [str(n) for n in fitted] != names:
            return None
        impl = model._impl
        fast = cls(impl.predict, names, [DATA_TYPES[spec.type] for spec in schema])
        probe = np.arange(1, 3 * len(names) + 1, dtype=np.float64).reshape(3, len(names)) / 7
        probe = probe.astype(fast._dtype)
        import pandas as pd

        frame = pd.DataFrame(
            {
                n: probe[:, i].astype(d)
                for i, (n, d) in enumerate(zip(names, fast._dtypes, strict=True))
            }
        )
        through_frame = np.asarray(model.predict(frame))
        through_array = np.asarray(fast._predict(probe))
        if through_frame.shape != through_array.shape or not np.array_equal(
            through_frame, through_array
        ):
            return None
        return fast

    def _array(self, rows: Any) -> np.ndarray | None:
        """Rows of numbers (lists in the signature's order) as the estimator's array."""
        try:
            array = np.array(rows)
        except (ValueError, TypeError):
            return None
        if array.ndim != 2 or array.shape[1] != len(self.names) or array.shape[0] == 0:
            return None
        kind = array.dtype.kind
        if kind == "f":
            # a number with a fraction for an integer column: the enforcement words it
            if self._has_integer_columns:
                return None
        elif kind != "i":
            return None
        if array.dtype != self._dtype:
            array = array.astype(self._dtype)
        return array

    def rows_split(self, split: Any) -> np.ndarray | None:
        """A `dataframe_split` value, or None if it is not clean."""
        if not isinstance(split, dict) or set(split) - {"columns", "data"}:
            return None
        columns, data = split.get("columns"), split.get("data")
        if not isinstance(data, list):
            return None
        if columns == self.names:
            return self._array(data)
        if not isinstance(columns, list) or sorted(map(str, columns)) != sorted(self.names):
            return None
        array = self._array(data)
        if array is None:
            return None
        order = [columns.index(name) for name in self.names]
        return np.ascontiguousarray(array[:, order])

    def rows_records(self, records: Any) -> np.ndarray | None:
        """A `dataframe_records` value (or row objects of `instances`), or None."""
        if not isinstance(records, list) or not records:
            return None
        names = self.names
        width = len(names)
        try:
            rows = [[record[name] for name in names] for record in records]
        except (KeyError, TypeError):
            return None
        if any(len(record) != width for record in records):
            return None
        return self._array(rows)

    def rows_columns(self, columns: Any) -> np.ndarray | None:
        """An `inputs` object of columns, or None."""
        if not isinstance(columns, dict) or sorted(columns) != sorted(self.names):
            return None
        values = [columns[name] for name in self.names]
        if not all(isinstance(v, list) for v in values):
            return None
        array = self._array(values)
        return None if array is None else np.ascontiguousarray(array.T)

    def rows_of(self, key: str, value: Any) -> np.ndarray | None:
        if key == "dataframe_split":
            return self.rows_split(value)
        if key == "dataframe_records":
            return self.rows_records(value)
        if key == "instances":
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return self.rows_records(value)
            return self._array(value) if isinstance(value, list) else None
        if key == "inputs":
            if isinstance(value, dict):
                return self.rows_columns(value)
            return self._array(value) if isinstance(value, list) else None
        return None

    def rows_csv(self, body: bytes) -> np.ndarray | None:
        """A CSV body of numbers under a header naming the columns, or None. Only for
        models of float columns: the text does not tell 2 from 2.0 as JSON does."""
        if self._has_integer_columns:
            return None
        end = body.find(b"\n")
        if end < 0:
            return None
        try:
            header = [h.strip().strip('"') for h in body[:end].decode("utf-8").split(",")]
        except UnicodeDecodeError:
            return None
        if sorted(header) != sorted(self.names):
            return None
        try:
            array = np.loadtxt(
                io.BytesIO(body[end + 1 :]), delimiter=",", dtype=np.float64, ndmin=2, encoding=None
            )
        except ValueError:  # an empty field, a word, a ragged row: the general path words it
            return None
        if array.shape[0] == 0 or array.shape[1] != len(self.names) or np.isnan(array).any():
            return None
        if header != self.names:
            array = np.ascontiguousarray(array[:, [header.index(n) for n in self.names]])
        return array if array.dtype == self._dtype else array.astype(self._dtype)

    def rows_frame(self, frame: Any) -> np.ndarray | None:
        """A parsed DataFrame (CSV, Parquet, a gRPC table, ...) of exactly the signature's
        columns, numeric and without missing values, as the estimator's array; or None."""
        if type(frame).__name__ != "DataFrame" or len(frame) == 0:
            return None
        if sorted(map(str, frame.columns)) != sorted(self.names) or len(frame.columns) != len(
            self.names
        ):
            return None
        for dtype in frame.dtypes:
            if not isinstance(dtype, np.dtype) or dtype.kind not in "fi":
                return None
            if dtype.kind == "f" and self._has_integer_columns:
                return None
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
        array = frame[self.names].to_numpy(dtype=self._dtype)
        if array.dtype.kind == "f" and np.isnan(array).any():
            return None
        return array

    def predict(self, array: np.ndarray) -> Any:
        return self._predict(array)

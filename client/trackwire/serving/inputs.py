"""Request bodies of MLflow's scoring protocol, parsed into what `PyFuncModel.predict` takes.

JSON (`application/json`) is an object with exactly one of `dataframe_split` (pandas'
split orient: `columns`, `data`, optional `index`), `dataframe_records` (a list of
row objects), `instances` (rows: a list of objects or of values) or `inputs` (columns:
an object of lists, or a list of values), plus optional `params`. CSV (`text/csv`)
is a header line and rows; Parquet (`application/vnd.apache.parquet`) is a table.
Everything wrong with a body is a `BadRequest` whose message says what (HTTP 400).

JSON has one number type, so a table's columns are converted to the signature's
types where JSON cannot say them (numbers to float32 or int32 columns), as MLflow's
server does; everything else is left to the signature enforcement.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from trackwire.errors import InvalidArgumentError
from trackwire.models.signature import Schema

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (CONTENT_TYPE_JSON, CONTENT_TYPE_CSV, CONTENT_TYPE_PARQUET)

DF_SPLIT = "dataframe_split"
DF_RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
FORMATS = (DF_SPLIT, DF_RECORDS, INSTANCES, INPUTS)
PARAMS = "params"


class BadRequest(InvalidArgumentError):
    """The request body is malformed or does not fit the model (HTTP 400)."""


class UnsupportedMediaType(InvalidArgumentError):
    """A content type the server does not read (HTTP 415)."""


@dataclass
class ParsedInput:
    data: Any
    params: dict | None = None


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header; 415 for a charset other than UTF-8 or a
    parameter MLflow's server does not accept either."""
    if not content_type:
        raise UnsupportedMediaType(
            f"the request has no Content-Type; use one of {', '.join(CONTENT_TYPES)}"
        )
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "charset":
            raise UnsupportedMediaType(f"unrecognized content type parameter '{key.strip()}'")
        if value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaType("the scoring server only reads UTF-8")
    mime = mime.lower()
    if mime not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"content type '{mime}' is not one of {', '.join(CONTENT_TYPES)}"
        )
    return mime


def parse_body(body: bytes, mime: str, schema: Schema | None) -> ParsedInput:
    """The model input and params of a request body of media type `mime`."""
    if mime == CONTENT_TYPE_JSON:
        return parse_json(body, schema)
    if mime == CONTENT_TYPE_CSV:
        return ParsedInput(parse_csv(body, schema))
    return ParsedInput(parse_parquet(body))


def decode_json(body: bytes | str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None


def parse_json(body: bytes | str, schema: Schema | None) -> ParsedInput:
    return parse_document(decode_json(body), schema)


def parse_document(document: Any, schema: Schema | None) -> ParsedInput:
    """The model input and params of a decoded JSON body."""
    if not isinstance(document, dict):
        raise BadRequest(
            f"the body must be a JSON object with exactly one of {', '.join(FORMATS)}; "
            f"got a {type(document).__name__}"
        )
    formats = [key for key in FORMATS if key in document]
    if len(formats) != 1:
        raise BadRequest(
            f"the body must have exactly one of the fields {', '.join(FORMATS)}; "
            f"got {sorted(document)}"
        )
    unknown = sorted(k for k in document if k not in FORMATS and k != PARAMS)
    if unknown:
        raise BadRequest(f"unknown field(s) {unknown}: the body takes one of {FORMATS} and params")
    params = document.get(PARAMS)
    if params is not None and not isinstance(params, dict):
        raise BadRequest(f"params must be a JSON object; got {type(params).__name__}")
    key = formats[0]
    value = document[key]
    if key == DF_SPLIT:
        data = _frame_from_split(value, schema)
    elif key == DF_RECORDS:
        data = _frame_from_records(value, schema)
    else:
        data = _from_tensor_format(key, value, schema)
    return ParsedInput(data, params)


def _frame_from_split(value: Any, schema: Schema | None):
    import pandas as pd

    if not isinstance(value, dict):
        raise BadRequest(f"dataframe_split must be an object; got {type(value).__name__}")
    extra = set(value) - {"columns", "data", "index"}
    if "data" not in value or extra:
        raise BadRequest(
            "dataframe_split must have a 'data' field and optionally 'columns' and 'index'; "
            f"got {sorted(value)}"
        )
    data, columns = value["data"], value.get("columns")
    if not isinstance(data, list):
        raise BadRequest(f"dataframe_split.data must be a list of rows; got {type(data).__name__}")
    try:
        if columns is not None and data and all(isinstance(row, list) for row in data):
            frame = _frame_from_rows(data, columns)
        else:
            frame = pd.DataFrame(data=data, columns=columns)
        if value.get("index") is not None:
            frame.index = value["index"]
    except (ValueError, TypeError, AssertionError) as e:
        raise BadRequest(f"dataframe_split is not a valid table: {e}") from None
    return cast_columns(frame, schema)


def _frame_from_rows(rows: list[list], columns: list):
    """A DataFrame of equal-length rows, each column typed by its own values (a column of
    integers stays integer beside a column of fractions)."""
    import pandas as pd

    width = len(columns)
    if any(not isinstance(row, list) or len(row) != width for row in rows):
        raise BadRequest(f"dataframe_split.data: every row must have {width} values (columns)")
    return pd.DataFrame(rows, columns=columns)


def _frame_from_records(value: Any, schema: Schema | None):
    import pandas as pd

    if not isinstance(value, list):
        raise BadRequest(f"dataframe_records must be a list of records; got {type(value).__name__}")
    if not all(isinstance(row, dict) for row in value):
        raise BadRequest("dataframe_records must be a list of objects (one per row)")
    try:
        frame = pd.DataFrame.from_records(value) if value else pd.DataFrame()
    except (ValueError, TypeError) as e:
        raise BadRequest(f"dataframe_records is not a valid table: {e}") from None
    return cast_columns(frame, schema)


def _from_tensor_format(key: str, value: Any, schema: Schema | None):
    """`instances` (rows) and `inputs` (columns), TF-serving style."""
    if key == INSTANCES and isinstance(value, list) and value and isinstance(value[0], dict):
        if not all(isinstance(row, dict) for row in value):
            raise BadRequest("instances: every row must be an object when the first is")
        columns: dict[str, list] = {}
        for row in value:
            for name, item in row.items():
                columns.setdefault(name, []).append(item)
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise BadRequest("instances: every row must have the same fields")
        value = columns
    if schema is not None and not schema.is_tensor_spec():
        return _table_from_tensor_format(key, value, schema)
    if isinstance(value, dict):
        return {name: _array(item, f"{key}['{name}']") for name, item in value.items()}
    return _array(value, key)


def _table_from_tensor_format(key: str, value: Any, schema: Schema):
    import pandas as pd

    names = schema.input_names()
    try:
        if isinstance(value, dict):
            frame = pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            frame = pd.DataFrame.from_records(value)
        else:
            array = _array(value, key)
            if array.ndim == 1:
                array = array.reshape(-1, 1) if len(names) == 1 else array.reshape(1, -1)
            if array.ndim != 2 or array.shape[1] != len(names):
                raise BadRequest(
                    f"{key}: the model takes {len(names)} column(s) {names}; "
                    f"got an array of shape {array.shape}"
                )
            frame = pd.DataFrame(array, columns=[str(n) for n in names])
    except ValueError as e:
        raise BadRequest(f"{key} is not a valid table: {e}") from None
    return cast_columns(frame, schema)


def _array(value: Any, where: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as e:
        raise BadRequest(f"{where} is not a rectangular array: {e}") from None
    if array.dtype == object and array.ndim > 1:
        raise BadRequest(f"{where} is not a rectangular array of one type")
    return array


def cast_columns(frame, schema: Schema | None):
    """JSON numbers to the signature's float32 / int32 / float64 columns (JSON cannot say
    which); an int column of fractional numbers is left for the enforcement to refuse."""
    if schema is None or schema.is_tensor_spec() or not schema.has_input_names():
        return frame
    for spec in schema:
        if spec.name not in frame.columns:
            continue
        column = frame[spec.name]
        kind = column.dtype.kind
        if spec.type == "float" and kind in "fi":
            frame[spec.name] = column.astype(np.float32)
        elif spec.type == "double" and kind == "i":
            frame[spec.name] = column.astype(np.float64)
        elif spec.type == "integer" and kind == "i" and column.dtype != np.int32:
            info = np.iinfo(np.int32)
            if len(column) and (column.min() < info.min or column.max() > info.max):
                raise BadRequest(f"column '{spec.name}' has values outside the int32 range")
            frame[spec.name] = column.astype(np.int32)
    return frame


def parse_csv(body: bytes | str | io.IOBase, schema: Schema | None):
    """A table from CSV text with a header line; typed by the signature when it has one."""
    import pandas as pd

    from trackwire.models.signature import DATA_TYPES

    source = io.BytesIO(body) if isinstance(body, bytes) else body
    if isinstance(source, str):
        source = io.StringIO(source)
    dtypes = None
    if schema is not None and not schema.is_tensor_spec() and schema.has_input_names():
        # strings stay strings ("007"); numbers are typed below and by the enforcement,
        # which names a column whose values do not fit
        dtypes = {s.name: DATA_TYPES[s.type] for s in schema if s.type == "string"} or None
    try:
        frame = pd.read_csv(source, dtype=dtypes, encoding="utf-8")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise BadRequest(f"the body is not valid CSV with a header line: {e}") from None
    return cast_columns(frame, schema)


def parse_parquet(body: bytes | io.IOBase):
    import pandas as pd

    source = io.BytesIO(body) if isinstance(body, bytes) else body
    try:
        return pd.read_parquet(source)
    except ImportError as e:
        raise UnsupportedMediaType(f"reading Parquet needs pyarrow: {e}") from None
    except Exception as e:  # pyarrow raises its own types for a broken file
        raise BadRequest(f"the body is not a valid Parquet file: {e}") from None

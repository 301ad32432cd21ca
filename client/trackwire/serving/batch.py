"""Batch scoring: `trackwire models predict -m URI -i input -o output`.

The input is a CSV file (with a header line), a Parquet file, or a JSON file in the
scoring protocol's shape (`{"dataframe_split": ...}`, `dataframe_records`, `instances`
or `inputs`, optional `params`) or simply a list of row objects; `-` reads JSON from
standard input. The format comes from the file's extension unless `content_type`
says it. The output is written as JSON (`{"predictions": [...]}`, as the server
answers), CSV or Parquet (a table: the model's output columns, or one `prediction`
column), by the output's extension; `-` or none writes JSON to standard output.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from trackwire.serving import inputs, outputs, scoring
from trackwire.serving.served_model import load

FORMATS = ("csv", "json", "parquet")


def format_of(path: str | None, given: str | None, default: str = "json") -> str:
    if given:
        if given not in FORMATS:
            raise inputs.BadRequest(f"format '{given}' is not one of {', '.join(FORMATS)}")
        return given
    if not path or path == "-":
        return default
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension in ("jsonl", "ndjson"):
        raise inputs.BadRequest("JSON lines are not read: use a JSON document, CSV or Parquet")
    if extension == "pq":
        extension = "parquet"
    if extension not in FORMATS:
        raise inputs.BadRequest(
            f"cannot tell the format of '{path}' from its extension: name it .csv, .json or "
            ".parquet, or say it with --content-type"
        )
    return extension


def read_input(path: str, fmt: str, schema: Any) -> inputs.ParsedInput:
    if fmt == "json":
        if path == "-":
            text = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                text = f.read()
        import orjson

        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise inputs.BadRequest(f"{path} is not valid JSON: {e}") from None
        if isinstance(document, list):  # plain records
            document = {inputs.DF_RECORDS: document}
        return inputs.parse_json(orjson.dumps(document), schema)
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    if fmt == "csv":
        return inputs.ParsedInput(inputs.parse_csv(data, schema))
    return inputs.ParsedInput(inputs.parse_parquet(data))


def _as_frame(predictions: Any):
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return predictions
    if isinstance(predictions, pd.Series):
        return predictions.to_frame(name=predictions.name or "prediction")
    if isinstance(predictions, dict):
        return pd.DataFrame({k: list(np.asarray(v)) for k, v in predictions.items()})
    array = np.asarray(outputs.jsonable(predictions))
    if array.ndim == 2:
        return pd.DataFrame(array, columns=[f"prediction_{i}" for i in range(array.shape[1])])
    return pd.DataFrame({"prediction": list(array) if array.ndim > 1 else array})


def write_output(predictions: Any, path: str | None, fmt: str) -> None:
    if fmt == "json":
        body = outputs.predictions_json(predictions)
        if not path or path == "-":
            sys.stdout.buffer.write(body + b"\n")
            sys.stdout.flush()
        else:
            with open(path, "wb") as f:
                f.write(body)
        return
    frame = _as_frame(predictions)
    if fmt == "csv":
        frame.to_csv(path if path and path != "-" else sys.stdout, index=False)
    else:
        if not path or path == "-":
            raise inputs.BadRequest("Parquet output needs a file: -o predictions.parquet")
        frame.to_parquet(path, index=False)


def predict(
    model_uri: str,
    input_path: str,
    output_path: str | None = None,
    tracking_uri: str | None = None,
    input_format: str | None = None,
    output_format: str | None = None,
) -> int:
    """Scores the whole input file; returns the number of rows (or items) scored."""
    in_fmt = format_of(input_path, input_format)
    out_fmt = format_of(output_path, output_format)
    loaded = load(model_uri, tracking_uri)
    signature = loaded.signature
    parsed = read_input(input_path, in_fmt, signature.inputs if signature else None)
    scoring.quiet_signature_warnings()
    predictions = scoring.predict(loaded, parsed.data, parsed.params)
    write_output(predictions, output_path, out_fmt)
    return len(parsed.data) if hasattr(parsed.data, "__len__") else 1

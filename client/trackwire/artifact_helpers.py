"""The bytes that log_text, log_dict, log_figure and log_table upload."""

from __future__ import annotations

import io
import json
import posixpath

from trackwire.errors import InvalidArgumentError


def _extension(artifact_file: str) -> str:
    return posixpath.splitext(artifact_file)[1].lower().lstrip(".")


def dict_text(dictionary: dict, artifact_file: str) -> str:
    if _extension(artifact_file) in ("yaml", "yml"):
        import yaml

        return yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False)
    return json.dumps(dictionary, indent=2)


def figure_bytes(figure, artifact_file: str, save_kwargs: dict | None) -> bytes:
    """A matplotlib Figure (savefig) or a plotly Figure (HTML for .html, else write_image)."""
    extension = _extension(artifact_file)
    if not extension:
        raise InvalidArgumentError(
            f"artifact_file '{artifact_file}' needs an extension naming the image format (.png, ...)"
        )
    module = type(figure).__module__
    buffer = io.BytesIO()
    if module.startswith("matplotlib"):
        figure.savefig(buffer, format=extension, **(save_kwargs or {}))
        return buffer.getvalue()
    if module.startswith("plotly"):
        if extension in ("html", "htm"):
            return figure.to_html(**(save_kwargs or {})).encode("utf-8")
        return figure.to_image(format=extension, **(save_kwargs or {}))
    raise InvalidArgumentError(
        f"figure of type {type(figure).__name__} is neither a matplotlib nor a plotly figure"
    )


def table_bytes(data, artifact_file: str, existing: bytes | None) -> bytes:
    import pandas as pd

    if _extension(artifact_file) != "json":
        raise InvalidArgumentError(f"artifact_file '{artifact_file}' must end with .json")
    if isinstance(data, dict):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgumentError(
            f"data must be a pandas DataFrame or a dict of columns; got {type(data).__name__}"
        )
    if existing:
        data = pd.concat(
            [pd.read_json(io.BytesIO(existing), orient="split"), data], ignore_index=True
        )
    return data.to_json(orient="split", index=False).encode("utf-8")

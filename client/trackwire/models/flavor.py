"""What every flavor shares: importing its library lazily, naming the extra to install."""

from __future__ import annotations

import importlib
import types
from typing import Any

from trackwire.errors import FailedPreconditionError, InvalidArgumentError, names_checked
from trackwire_protocol import naming


def model_path(model_dir: str, relative: Any, field: str) -> str:
    """The local path of a file an MLmodel names (`relative`, e.g. "model.skops"), inside
    `model_dir`: InvalidArgumentError naming `field` if it is no relative path that stays
    there (trackwire_protocol.naming's rules, the server's: no '..', no absolute path, ...)."""
    if not isinstance(relative, str):
        raise InvalidArgumentError(f"{field} must be a path, not {type(relative).__name__}")
    with names_checked():
        return naming.local_path(model_dir, relative, field)


def import_library(module: str, extra: str) -> types.ModuleType:
    """`import module`, or an error that says which Trackwire extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise FailedPreconditionError(
            f"trackwire.{extra} needs the '{module.split('.')[0]}' package, which is not "
            f"installed: pip install 'trackwire[{extra}]' ({e})"
        ) from e

"""What every flavor shares: importing its library lazily, naming the extra to install."""

from __future__ import annotations

import importlib
import types

from trackwire.errors import FailedPreconditionError


def import_library(module: str, extra: str) -> types.ModuleType:
    """`import module`, or an error that says which Trackwire extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise FailedPreconditionError(
            f"trackwire.{extra} needs the '{module.split('.')[0]}' package, which is not "
            f"installed: pip install 'trackwire[{extra}]' ({e})"
        ) from e

"""Who is running this process: the default user id of new runs and model versions."""

from __future__ import annotations

import functools


@functools.cache
def default_user() -> str:
    """The login name of this process's user; "" if there is none to find."""
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return ""

"""What a key, a name, a run id or a path may be: one set of rules for server and client.

The server checks every key, name and path of a request with these functions (wrapping
`InvalidName` into INVALID_ARGUMENT); the client uses the same functions wherever it turns
a name into a local path (downloaded artifacts, the files an MLmodel names) and before it
queues metric points. The checks are pure: no I/O, no gRPC, no server code.

- **Text** shown to people (names, keys, paths) holds no control character (C0, DEL, C1,
  U+2028/U+2029) and no bidirectional formatting character (U+200E, U+200F, U+061C,
  U+202A-U+202E, U+2066-U+2069), which could hide or reorder what a reader sees.
- **Keys** of metrics, params and tags use MLflow's characters (`^[/\\w.\\- :]*$`: letters
  and digits of any script, `_`, `-`, `.`, space, `:`, `/`), start with no `/` and hold no
  `..` segment.
- **Run ids** are 32 lowercase hexadecimal characters.
- **Relative paths** (artifact paths, model files) stay inside their root: no leading
  `/`, drive letter, `\\`, `scheme://` nor `..` segment, neither as written nor once
  percent-decoded (`%2e%2e`); at most 1,024 characters, each segment at most 255 bytes.

A refusal raises `InvalidName`, a `ValueError` whose message names the field:
`metrics[3].key '../x' must not contain a '..' segment`.
"""

from __future__ import annotations

import os
import re
import unicodedata
import urllib.parse

MAX_PATH_LENGTH = 1024
MAX_SEGMENT_BYTES = 255

RUN_ID = re.compile(r"[0-9a-f]{32}")
_KEY = re.compile(r"[/\w.\- :]*")
_DRIVE = re.compile(r"[A-Za-z]:")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Control characters (Unicode category Cc: C0, DEL, C1), the line and paragraph separators,
# and _BIDI: one scan finds whether a value needs a closer look.
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_SHOWN_LENGTH = 80
# Percent-decoding stops after this many rounds: "%25" * n decodes one level per round.
_MAX_DECODE_ROUNDS = 8


class InvalidName(ValueError):
    """A key, name, run id or path that breaks the rules; the message names the field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _is_control(c: str) -> bool:
    return unicodedata.category(c) in ("Cc", "Zl", "Zp")


def shown(value: str) -> str:
    """`value` quoted for a message or a log line: control and bidirectional characters
    escaped (never reproduced), cut at 80 characters."""
    cut = value[:_SHOWN_LENGTH]
    text = "".join(
        c.encode("unicode_escape").decode("ascii") if _is_control(c) or c in _BIDI else c
        for c in cut
    ).replace("'", "\\'")
    return f"'{text}{'...' if len(value) > _SHOWN_LENGTH else ''}'"


def check_printable(field: str, value: str) -> None:
    """No NUL, control or bidirectional formatting character in `value`."""
    if not _UNPRINTABLE.search(value):
        return
    if "\x00" in value:
        raise InvalidName(field, f"{field} contains a NUL character")
    for c in value:
        if _is_control(c):
            raise InvalidName(
                field, f"{field} {shown(value)} contains the control character U+{ord(c):04X}"
            )
        if c in _BIDI:
            raise InvalidName(
                field,
                f"{field} {shown(value)} contains the bidirectional formatting character "
                f"U+{ord(c):04X}",
            )


def check_name(field: str, name: str) -> None:
    """A name people read (experiment, run, model, user): not blank, printable."""
    if not name or not name.strip():
        raise InvalidName(field, f"{field} must not be empty")
    check_printable(field, name)


def check_key(field: str, key: str) -> None:
    """A metric, param or tag key (MLflow's characters; no leading '/', no '..' segment)."""
    if not key:
        raise InvalidName(field, f"{field} must not be empty")
    if not _KEY.fullmatch(key):
        check_printable(field, key)
        bad = next(c for c in key if not _KEY.fullmatch(c))
        raise InvalidName(
            field,
            f"{field} {shown(key)} contains {bad!r}: keys may hold only letters, digits, "
            "'_', '-', '.', ' ', ':' and '/'",
        )
    if key.startswith("/"):
        raise InvalidName(field, f"{field} {shown(key)} must not start with '/'")
    if ".." in key.split("/"):
        raise InvalidName(field, f"{field} {shown(key)} must not contain a '..' segment")


def check_run_id(field: str, run_id: str) -> None:
    """32 lowercase hexadecimal characters, as the server makes them."""
    if not run_id:
        raise InvalidName(field, f"{field} must not be empty")
    if not RUN_ID.fullmatch(run_id):
        raise InvalidName(
            field, f"{field} {shown(run_id)} is not a run id (32 lowercase hex characters)"
        )


def percent_decoded(field: str, value: str) -> str:
    """`value` percent-decoded again and again until it no longer changes."""
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = urllib.parse.unquote(value, errors="replace")
        if decoded == value:
            return value
        value = decoded
    raise InvalidName(field, f"{field} is percent-encoded more than {_MAX_DECODE_ROUNDS} times")


def _check_path_form(field: str, path: str, original: str, how: str) -> list[str]:
    """The segments of `path` (no empty or '.' ones), refusing what leaves the root."""
    if "\\" in path:
        raise InvalidName(field, f"{field} {shown(original)} contains a backslash{how}; use '/'")
    if path.startswith("/") or _DRIVE.match(path) or "://" in path:
        raise InvalidName(
            field, f"{field} {shown(original)} must be a relative path{how}, not an absolute one"
        )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidName(field, f"{field} {shown(original)} must not contain a '..' segment{how}")
    return parts


def check_relative_path(field: str, path: str, allow_empty: bool = False) -> str:
    """`path` normalised ('/'-separated, without empty or '.' segments), or InvalidName
    if it could leave its root, as written or once percent-decoded."""
    if not path:
        if allow_empty:
            return ""
        raise InvalidName(field, f"{field} must not be empty")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidName(
            field, f"{field} is {len(path)} characters; the limit is {MAX_PATH_LENGTH}"
        )
    check_printable(field, path)
    parts = _check_path_form(field, path, path, "")
    decoded = percent_decoded(field, path)
    if decoded != path:
        check_printable(field, decoded)
        _check_path_form(field, decoded, path, " (once percent-decoded)")
    for part in parts:
        if len(part.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidName(
                field,
                f"{field} has a segment of {len(part.encode('utf-8'))} bytes; the limit is "
                f"{MAX_SEGMENT_BYTES}",
            )
    if not parts and not allow_empty:
        raise InvalidName(field, f"{field} {shown(path)} names no file")
    return "/".join(parts)


def local_path(root: str, relative: str, field: str) -> str:
    """The local path of `relative` (checked as check_relative_path does) inside the
    folder `root`: for files named by a model's MLmodel or listed by a server."""
    return os.path.join(root, *check_relative_path(field, relative).split("/"))


__all__ = [
    "MAX_PATH_LENGTH",
    "MAX_SEGMENT_BYTES",
    "InvalidName",
    "check_key",
    "check_name",
    "check_printable",
    "check_relative_path",
    "check_run_id",
    "local_path",
    "percent_decoded",
    "shown",
]

"""Where artifacts may live: under the server's artifact root, or under a prefix the
operator allowed (`--artifacts-allow`). Never where a client says.

An experiment's artifact location is derived by the server (`<root>/<experiment id>`);
a client may name a folder relative to the root (`team/churn` → `<root>/team/churn`) or
a location under an allowed prefix. Locations are compared in a normal form: a local
folder is an absolute path, anything else `scheme://segment/segment...`; no `.` or `..`
segment, no percent-encoding, query, fragment, backslash or credentials
(`user:secret@host`), no control character. A prefix matches on segment boundaries:
`s3://bucket/team` allows `s3://bucket/team/x`, not `s3://bucket/team-evil`.

The artifact repository checks every stored location again before it touches storage
(`ArtifactLocations.check_stored`): a database written before these rules may hold
locations that no longer pass, and those are refused (FAILED_PRECONDITION), not used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from trackwire_protocol import naming
from trackwire_server.errors import FailedPrecondition, InvalidArgument

LOCAL = "file"
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://(.*)", re.DOTALL)
_SCHEME_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_REFUSED = {
    "%": "percent-encoding ('%')",
    "?": "a query ('?')",
    "#": "a fragment ('#')",
    "\\": "a backslash",
}


@dataclass(frozen=True)
class Location:
    """An artifact location in normal form: `scheme` ("file" for a local folder) and the
    segments of its path (for URLs the first one is the bucket or host)."""

    scheme: str
    segments: tuple[str, ...]

    @property
    def is_local(self) -> bool:
        return self.scheme == LOCAL

    def __str__(self) -> str:
        path = "/".join(self.segments)
        return f"/{path}" if self.is_local else f"{self.scheme}://{path}"

    def child(self, relative: str) -> Location:
        """This location joined with a relative path already checked by naming."""
        return Location(self.scheme, self.segments + tuple(p for p in relative.split("/") if p))

    def is_under(self, prefix: Location) -> bool:
        """True if this location is `prefix` or inside it (whole segments only)."""
        n = len(prefix.segments)
        return self.scheme == prefix.scheme and self.segments[:n] == prefix.segments

    def relative_to(self, prefix: Location) -> tuple[str, ...]:
        return self.segments[len(prefix.segments) :]


def looks_absolute(text: str) -> bool:
    """A path from the filesystem's root, a URL or anything scheme-like (`c:`, `file:x`)."""
    return text.startswith(("/", "~")) or bool(_SCHEME_LIKE.match(text))


def parse_location(field: str, text: str) -> Location:
    """`text` (an absolute local path, `file://` URL or `scheme://...` URL) in normal form,
    or naming.InvalidName naming `field`."""
    if not text:
        raise naming.InvalidName(field, f"{field} must not be empty")
    if len(text) > naming.MAX_PATH_LENGTH:
        raise naming.InvalidName(
            field, f"{field} is {len(text)} characters; the limit is {naming.MAX_PATH_LENGTH}"
        )
    url = _URL.fullmatch(text)
    if url and url.group(1).lower() != LOCAL and "@" in url.group(2).split("/", 1)[0]:
        hidden = naming.shown(f"{url.group(1)}://***@{url.group(2).split('@', 1)[1]}")
        raise naming.InvalidName(
            field,
            f"{field} {hidden} must not hold credentials (user@host); give them as storage options",
        )
    naming.check_printable(field, text)

    def shown() -> str:  # only for an error: shown() escapes character by character
        return naming.shown(text)

    for char, what in _REFUSED.items():
        if char in text:
            raise naming.InvalidName(field, f"{field} {shown()} must not contain {what}")
    if url:
        scheme, rest = url.group(1).lower(), url.group(2)
        if scheme == LOCAL:
            host, slash, path = rest.partition("/")
            if host not in ("", "localhost"):
                raise naming.InvalidName(
                    field, f"{field} {shown()} names another host; file:// URLs must be local"
                )
            rest = slash + path
    elif text.startswith("/"):
        scheme, rest = LOCAL, text
    else:
        raise naming.InvalidName(
            field, f"{field} {shown()} is neither an absolute path nor a URL (scheme://...)"
        )
    segments = tuple(s for s in rest.split("/") if s not in ("", "."))
    if ".." in segments:
        raise naming.InvalidName(field, f"{field} {shown()} must not contain a '..' segment")
    if not segments and scheme != LOCAL:
        raise naming.InvalidName(field, f"{field} {shown()} names no bucket, host or folder")
    for segment in segments:
        if len(segment.encode("utf-8")) > naming.MAX_SEGMENT_BYTES:
            raise naming.InvalidName(
                field,
                f"{field} {shown()} has a segment longer than {naming.MAX_SEGMENT_BYTES} bytes",
            )
    return Location(scheme, segments)


def operator_location(field: str, text: str) -> Location:
    """A location the operator configured (`--artifacts`, `--artifacts-allow`): a local
    folder may be relative to the working directory or start with `~`."""
    if not _URL.fullmatch(text):
        text = os.path.abspath(os.path.expanduser(text))
    return parse_location(field, text)


class ArtifactLocations:
    """The server's artifact root and the prefixes the operator allowed besides it."""

    def __init__(self, root: Location, allowed: Iterable[Location] = ()):
        self.root = root
        self.allowed = tuple(allowed)

    @classmethod
    def configured(cls, root: str, allowed: Iterable[str] = ()) -> ArtifactLocations:
        """From the operator's values; naming.InvalidName (a ValueError) if one is malformed."""
        return cls(
            operator_location("--artifacts", root),
            [operator_location("--artifacts-allow", a) for a in allowed],
        )

    def base_of(self, location: Location) -> Location | None:
        """The root or allowed prefix `location` lies under (the longest), or None."""
        bases = [b for b in (self.root, *self.allowed) if location.is_under(b)]
        return max(bases, key=lambda b: len(b.segments), default=None)

    def experiment_location(self, requested: str, field: str = "artifact_location") -> str:
        """The location to store for a new experiment: "" for the default
        (`<root>/<experiment id>`), the root joined with a relative folder, or a location
        under the root or an allowed prefix; InvalidArgument naming `field` otherwise."""
        if not requested:
            return ""
        try:
            if looks_absolute(requested):
                location = parse_location(field, requested)
            else:
                for char, what in _REFUSED.items():
                    if char in requested:
                        raise naming.InvalidName(
                            field, f"{field} {naming.shown(requested)} must not contain {what}"
                        )
                location = self.root.child(naming.check_relative_path(field, requested))
        except naming.InvalidName as e:
            raise InvalidArgument(e.message) from None
        if _inside_run_artifacts(str(location)):
            raise InvalidArgument(
                f"{field} {naming.shown(requested)} lies inside the artifacts of a run "
                "(.../<run id>/artifacts): its runs would write among that run's files; "
                "choose a folder of its own"
            )
        if self.base_of(location) is None:
            raise InvalidArgument(
                f"{field} {naming.shown(requested)} is outside the server's artifact root: give "
                "a folder relative to it (e.g. 'team/churn'), or leave it empty"
                + (", or a location under a prefix the server allows" if self.allowed else "")
            )
        return str(location)

    def check_stored(self, uri: str, what: str) -> tuple[Location, Location]:
        """(location, base) of a stored artifact URI; FailedPrecondition if it is malformed
        or lies outside the root and the allowed prefixes (a database written before these
        rules, or by another server)."""
        try:
            location = parse_location(what, uri)
        except naming.InvalidName as e:
            raise FailedPrecondition(
                f"{e.message}; refusing to use it", reason="ARTIFACT_LOCATION_REFUSED"
            ) from None
        base = self.base_of(location)
        if base is None:
            raise FailedPrecondition(
                f"{what} {naming.shown(uri)} is outside this server's artifact root and its "
                "--artifacts-allow prefixes; refusing to use it",
                reason="ARTIFACT_LOCATION_REFUSED",
            )
        return location, base


def _inside_run_artifacts(location: str) -> bool:
    """Whether `location` is, or lies under, a folder shaped like a run's artifacts
    (`<experiment location>/<run id>/artifacts`), whether or not that run exists (so that
    the answer confirms no run)."""
    parts = location.rstrip("/").split("/")
    return any(
        naming.RUN_ID.fullmatch(parts[i]) and parts[i + 1] == "artifacts"
        for i in range(len(parts) - 1)
    )

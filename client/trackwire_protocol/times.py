"""Times on the wire: a resource's times are google.protobuf.Timestamp, kept as
milliseconds since the Unix epoch on both sides."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(ms: int | None) -> Timestamp | None:
    """`ms` milliseconds since the epoch as a Timestamp; None for None (a field left unset)."""
    if ms is None:
        return None
    ts = Timestamp()
    ts.FromMilliseconds(int(ms))
    return ts

"""The artifact chunk messages, encoded and decoded without protobuf objects.

UploadArtifactRequest and DownloadArtifactResponse carry the bytes of files, 1 MiB a
message. Through protobuf objects each chunk is copied three times on the way out (into
the message, into its encoding, then by gRPC) and twice on the way in (into the message,
out of it as `bytes`). These functions write the same protobuf wire format directly (the
encoding is the one protobuf writes: field tag, length, bytes) and read it back as a view
of the received buffer, so a chunk is copied once on each side. Anything the fast path
does not expect (another field, a repeated field) is still decoded as protobuf does:
unknown fields are skipped, the last `data` wins, headers merge.

Both the client (`TrackwireClient`) and the server (`ArtifactServicer`) use these; the
bytes on the wire are what the generated stubs send and receive, so other clients (the
Node client, grpcurl) see no difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from google.protobuf.message import DecodeError

from trackwire.v1 import artifact_service_pb2 as pb

UPLOAD_METHOD = "/trackwire.v1.ArtifactService/UploadArtifact"
DOWNLOAD_METHOD = "/trackwire.v1.ArtifactService/DownloadArtifact"

_WIRE_VARINT, _WIRE_I64, _WIRE_LEN, _WIRE_I32 = 0, 1, 2, 5
# UploadArtifactRequest: header = 1, data = 2; DownloadArtifactResponse: data = 1.
_UPLOAD_HEADER_TAG = b"\x0a"
_UPLOAD_DATA_TAG = b"\x12"
_DOWNLOAD_DATA_TAG = b"\x0a"


class WireError(ValueError):
    """A message that is not valid protobuf wire format."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(raw) -> list[tuple[int, int, memoryview | None]]:
    """(field number, wire type, value of length-delimited fields) of a message."""
    buf = memoryview(raw).cast("B") if not isinstance(raw, memoryview) else raw.cast("B")
    fields = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        value = None
        if wire_type == _WIRE_VARINT:
            _, pos = _read_varint(buf, pos)
        elif wire_type == _WIRE_I64:
            pos += 8
        elif wire_type == _WIRE_I32:
            pos += 4
        elif wire_type == _WIRE_LEN:
            length, pos = _read_varint(buf, pos)
            value = buf[pos : pos + length]
            pos += length
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if pos > len(buf):
            raise WireError("truncated field")
        fields.append((number, wire_type, value))
    return fields


def encode_upload_request(header: pb.UploadArtifactHeader | None, data) -> bytes:
    """An UploadArtifactRequest's encoding; `data` is any bytes-like object."""
    parts = []
    if header is not None:
        encoded = header.SerializeToString()
        parts += [_UPLOAD_HEADER_TAG, _varint(len(encoded)), encoded]
    if len(data):
        parts += [_UPLOAD_DATA_TAG, _varint(len(data)), data]
    return b"".join(parts)


@dataclass
class UploadChunk:
    """A decoded UploadArtifactRequest: `data` is a view of the received message.

    A message that does not decode gives a chunk with `error` set rather than an
    exception: gRPC's server would end the request stream as if it were complete
    (and keep the call open), so the servicer refuses it itself."""

    header: pb.UploadArtifactHeader | None
    data: memoryview
    error: str = ""
    # What the server's access rules read of a message, as on the protobuf message.
    DESCRIPTOR: ClassVar = pb.UploadArtifactRequest.DESCRIPTOR

    def HasField(self, name: str) -> bool:  # noqa: N802 (the protobuf message's method)
        if name != "header":
            raise ValueError(f"UploadArtifactRequest has no message field '{name}'")
        return self.header is not None


def decode_upload_request(raw: bytes) -> UploadChunk:
    try:
        return _decode_upload_request(raw)
    except (WireError, DecodeError) as e:
        return UploadChunk(None, memoryview(b""), error=str(e) or type(e).__name__)


def _decode_upload_request(raw: bytes) -> UploadChunk:
    header = None
    data = memoryview(b"")
    for number, wire_type, value in _fields(raw):
        if wire_type != _WIRE_LEN or value is None:
            if number in (1, 2):
                raise WireError(f"field {number} has wire type {wire_type}")
            continue
        if number == 1:
            header = header or pb.UploadArtifactHeader()
            header.MergeFromString(value.tobytes())
        elif number == 2:
            data = value
    return UploadChunk(header, data)


def encode_download_response(data) -> bytes:
    """A DownloadArtifactResponse's encoding; `data` is any bytes-like object."""
    if not len(data):
        return b""
    return b"".join((_DOWNLOAD_DATA_TAG, _varint(len(data)), data))


def decode_download_response(raw: bytes) -> memoryview:
    """The `data` of a DownloadArtifactResponse, as a view of `raw`."""
    data = memoryview(b"")
    for number, wire_type, value in _fields(raw):
        if number == 1:
            if wire_type != _WIRE_LEN or value is None:
                raise WireError(f"field 1 has wire type {wire_type}")
            data = value
    return data


def passthrough(encoded: bytes) -> bytes:
    """The serializer of messages encoded above."""
    return encoded

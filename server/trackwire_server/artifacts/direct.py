"""Direct transfers: presigned URLs of the object store, so that artifact bytes bypass
the server (`--artifacts-direct`).

The server signs, the client moves the bytes. Nothing is kept here between calls: an
upload's state is the object store's (its multipart upload, listed with ListParts), and
its part size is a function of the file's size, so any server of a fleet can resume or
complete an upload another one started. URLs are signed with botocore (which s3fs is
built on) with the artifact root's storage options and, like s3fs, the AWS environment
(AWS_ACCESS_KEY_ID, ...) for what they leave out.

Only locations in an S3-compatible store (`s3://`, `s3a://`) are served directly; the
others stream through the server. Every location is checked against the server's root
and allowed prefixes (`locations.check_stored`) before a URL is made for it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import math
import posixpath
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import fsspec

from trackwire_server.artifacts.local import PARTIAL_PREFIX
from trackwire_server.artifacts.locations import ArtifactLocations, Location
from trackwire_server.artifacts.s3_client import botocore_client
from trackwire_server.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

AUTO, OFF, ONLY = "auto", "off", "only"
MODES = (AUTO, OFF, ONLY)
DIRECT_SCHEMES = ("s3", "s3a")
DEFAULT_URL_EXPIRY_SECONDS = 900.0
MIB = 1024 * 1024
# Parts of a multipart upload: at least this big (S3's minimum is 5 MiB; bigger parts
# mean fewer requests, 16 MiB keeps a client's memory at threads x 16 MiB)...
MIN_PART_BYTES = 16 * MIB
# ... and at most this many (S3's limit).
MAX_PARTS = 10_000
MAX_OBJECT_BYTES = 5 * 1024**4
# Part URLs in one answer (a few hundred bytes each; signing one takes ~0.5 ms).
MAX_URLS_PER_PLAN = 1000
# The object metadata key recording the part size of a direct multipart upload, so that
# a download can check the ETag part by part.
PART_SIZE_METADATA = "trackwire-part-size"


def part_size(size: int) -> int:
    """The part size of a file of `size` bytes: whole MiB, at least MIN_PART_BYTES, so
    that the file needs at most MAX_PARTS parts. The same for every server and call."""
    return max(MIN_PART_BYTES, math.ceil(size / MAX_PARTS / MIB) * MIB)


def part_count(size: int, part_bytes: int) -> int:
    return max(1, math.ceil(size / part_bytes))


@dataclass
class Part:
    number: int
    offset: int
    size: int
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str = ""


@dataclass
class UploadPlan:
    """None of the fields but `direct` mean anything when it is False (stream instead)."""

    direct: bool
    upload_id: str = ""
    part_size: int = 0
    parts: list[Part] = field(default_factory=list)  # to upload
    uploaded: list[Part] = field(default_factory=list)  # held by the store already
    expire_ms: int = 0


@dataclass
class DownloadPlan:
    direct: bool
    url: str = ""
    size: int = 0
    etag: str = ""
    part_size: int = 0
    expire_ms: int = 0


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str


class DirectTransfers:
    """Presigned URLs for the run locations in an S3-compatible store, in `mode`:
    AUTO (direct where the location allows it), OFF (never), ONLY (and streams of such
    files are refused: see `check_stream`)."""

    def __init__(
        self,
        locations: ArtifactLocations,
        storage_options: dict | None = None,
        mode: str = AUTO,
        url_expiry: float = DEFAULT_URL_EXPIRY_SECONDS,
    ):
        if mode not in MODES:
            raise ValueError(f"--artifacts-direct must be one of {', '.join(MODES)}, not {mode}")
        if mode == ONLY and locations.root.scheme not in DIRECT_SCHEMES:
            raise ValueError(
                f"--artifacts-direct=only needs an S3-compatible artifact root (s3://bucket/"
                f"prefix); {locations.root} is not one"
            )
        if not url_expiry > 0:
            raise ValueError(f"--artifacts-direct-expiry must be positive, not {url_expiry}")
        self.locations = locations
        self.storage_options = storage_options or {}
        self.mode = mode
        self.url_expiry = url_expiry
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()

    # -- where ----------------------------------------------------------------------

    def object_of(self, artifact_uri: str, path: str) -> StoredObject | None:
        """The bucket and key of a run's file, or None if it is to be streamed."""
        if self.mode == OFF:
            return None
        location, _base = self.locations.check_stored(artifact_uri, "the run's artifact location")
        if location.scheme not in DIRECT_SCHEMES:
            return None
        return _object(location, path)

    def check_stream(self, artifact_uri: str, path: str) -> None:
        """With ONLY: FailedPrecondition if the file is in an object store (its bytes are
        to move directly, not through the server)."""
        if self.mode == ONLY and self.object_of(artifact_uri, path) is not None:
            raise FailedPrecondition(
                "this server moves no artifact bytes of object-store files "
                "(--artifacts-direct=only): upload with StartArtifactUpload and download "
                "with GetArtifactDownloadUrl",
                reason="DIRECT_TRANSFER_REQUIRED",
            )

    # -- uploads --------------------------------------------------------------------

    def start_upload(
        self, artifact_uri: str, path: str, size: int, content_md5: str, upload_id: str
    ) -> UploadPlan:
        _check_upload_path(path)
        if not 0 <= size <= MAX_OBJECT_BYTES:
            raise InvalidArgument(
                f"size_bytes is {size}; a file has 0 to {MAX_OBJECT_BYTES:,} bytes",
                field="size_bytes",
            )
        if content_md5:
            _check_md5(content_md5)
        target = self.object_of(artifact_uri, path)
        if target is None:
            return UploadPlan(direct=False)
        part_bytes = part_size(size)
        expire_ms = int((time.time() + self.url_expiry) * 1000)
        with self._s3(target) as s3:
            if not upload_id and content_md5 and size <= part_bytes:
                # Both are signed: the store takes exactly these bytes or nothing.
                headers = {"Content-MD5": content_md5, "Content-Length": str(size)}
                url = self._presign(
                    s3, "put_object", target, ContentMD5=content_md5, ContentLength=size
                )
                return UploadPlan(
                    direct=True,
                    part_size=part_bytes,
                    parts=[Part(1, 0, size, url, headers)],
                    expire_ms=expire_ms,
                )
            uploaded: dict[int, Part] = {}
            if upload_id:
                uploaded = self._uploaded_parts(s3, target, upload_id, "upload_id")
            else:
                upload_id = s3.create_multipart_upload(
                    Bucket=target.bucket,
                    Key=target.key,
                    Metadata={PART_SIZE_METADATA: str(part_bytes)},
                )["UploadId"]
            parts = []
            for number in range(1, part_count(size, part_bytes) + 1):
                offset = (number - 1) * part_bytes
                length = min(part_bytes, size - offset)
                held = uploaded.get(number)
                if held is not None and held.size == length:
                    continue
                if len(parts) == MAX_URLS_PER_PLAN:
                    break  # the client asks again, with the upload id, for the rest
                url = self._presign(
                    s3, "upload_part", target, UploadId=upload_id, PartNumber=number
                )
                parts.append(Part(number, offset, length, url))
        return UploadPlan(
            direct=True,
            upload_id=upload_id,
            part_size=part_bytes,
            parts=parts,
            uploaded=[p for n, p in sorted(uploaded.items()) if n not in {q.number for q in parts}],
            expire_ms=expire_ms,
        )

    def complete_upload(
        self, artifact_uri: str, path: str, upload_id: str, size: int, parts: list[Part]
    ) -> int:
        """Assembles the upload's parts into the file, after checking them against the
        store; returns its size."""
        _check_upload_path(path)
        target = self._required_object(artifact_uri, path)
        if size < 0:
            raise InvalidArgument(f"size_bytes is {size}; a size is 0 or more", field="size_bytes")
        if not parts:
            raise InvalidArgument("parts must list the uploaded parts", field="parts")
        with self._s3(target) as s3:
            if not upload_id:
                return self._check_single_put(s3, target, size, parts)
            try:
                held = self._uploaded_parts(s3, target, upload_id, "upload_id")
            except NotFound:
                # A retry of a completion that succeeded (its answer lost): the object is
                # there with these parts' multipart ETag.
                if self._completed_with(s3, target, size, parts):
                    return size
                raise
            expected = part_count(size, part_size(size))
            numbers = [p.number for p in parts]
            if numbers != list(range(1, len(parts) + 1)):
                raise InvalidArgument(
                    "parts must be numbered 1, 2, 3... in order, each once", field="parts"
                )
            if len(parts) != expected:
                raise InvalidArgument(
                    f"parts lists {len(parts)} parts; a file of {size:,} bytes has {expected} "
                    "(size_bytes must be the size given to StartArtifactUpload); nothing "
                    "was stored",
                    reason="UPLOAD_SIZE_MISMATCH",
                    field="size_bytes",
                )
            missing = [n for n in numbers if n not in held]
            if missing:
                raise FailedPrecondition(
                    f"the store holds no part {', '.join(map(str, missing[:10]))} of upload "
                    f"{upload_id}; upload them (StartArtifactUpload with the upload_id "
                    "presigns them again); nothing was stored",
                    reason="UPLOAD_INCOMPLETE",
                )
            for i, part in enumerate(parts):
                if _unquoted(part.etag) != _unquoted(held[part.number].etag):
                    raise InvalidArgument(
                        f"parts[{i}].etag {part.etag[:80]!r} is not the ETag of the part the "
                        f"store holds ({held[part.number].etag}); nothing was stored",
                        reason="UPLOAD_PART_MISMATCH",
                        field=f"parts[{i}].etag",
                    )
            stored = sum(held[n].size for n in numbers)
            if stored != size:
                raise InvalidArgument(
                    f"size_bytes is {size:,}; the parts the store holds have {stored:,} "
                    "bytes; nothing was stored",
                    reason="UPLOAD_SIZE_MISMATCH",
                    field="size_bytes",
                )
            s3.complete_multipart_upload(
                Bucket=target.bucket,
                Key=target.key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": held[n].etag} for n in numbers]
                },
            )
        return size

    def abort_upload(self, artifact_uri: str, path: str, upload_id: str) -> None:
        _check_upload_path(path)
        target = self._required_object(artifact_uri, path)
        if not upload_id:
            raise InvalidArgument("upload_id is required", field="upload_id")
        with self._s3(target, upload_id=upload_id) as s3:
            s3.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload_id)

    # -- downloads ------------------------------------------------------------------

    def download(self, artifact_uri: str, path: str) -> DownloadPlan:
        target = self.object_of(artifact_uri, path)
        if target is None:
            return DownloadPlan(direct=False)
        with self._s3(target) as s3:
            try:
                head = s3.head_object(Bucket=target.bucket, Key=target.key)
            except s3.exceptions.ClientError as e:
                if _code(e) not in ("404", "NoSuchKey", "NotFound"):
                    raise
                if self._is_folder(s3, target):
                    raise InvalidArgument(f"path '{path}' is a folder, not a file") from None
                raise NotFound(f"artifact '{path}' does not exist") from None
            url = self._presign(s3, "get_object", target)
        try:
            part_bytes = int(head.get("Metadata", {}).get(PART_SIZE_METADATA, 0))
        except ValueError:
            part_bytes = 0
        return DownloadPlan(
            direct=True,
            url=url,
            size=int(head["ContentLength"]),
            etag=head.get("ETag", ""),
            part_size=part_bytes,
            expire_ms=int((time.time() + self.url_expiry) * 1000),
        )

    # -- the store ------------------------------------------------------------------

    def _required_object(self, artifact_uri: str, path: str) -> StoredObject:
        target = self.object_of(artifact_uri, path)
        if target is None:
            raise FailedPrecondition(
                "this run's artifacts are not in an object store this server transfers "
                "directly (see --artifacts-direct); upload with UploadArtifact",
                reason="DIRECT_TRANSFER_UNAVAILABLE",
            )
        return target

    def _presign(self, s3, operation: str, target: StoredObject, **params) -> str:
        return s3.generate_presigned_url(
            operation,
            Params={"Bucket": target.bucket, "Key": target.key, **params},
            ExpiresIn=max(1, int(self.url_expiry)),
        )

    @staticmethod
    def _uploaded_parts(s3, target: StoredObject, upload_id: str, field_name: str):
        parts: dict[int, Part] = {}
        marker = 0
        while True:
            try:
                page = s3.list_parts(
                    Bucket=target.bucket,
                    Key=target.key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                )
            except s3.exceptions.ClientError as e:
                if _code(e) in ("NoSuchUpload", "404"):
                    raise NotFound(
                        f"{field_name} {upload_id[:200]!r}: the store has no upload of this "
                        "id for this file (completed, aborted, or never started); start a "
                        "new upload without it",
                        reason="UPLOAD_NOT_FOUND",
                        field=field_name,
                    ) from None
                raise
            for p in page.get("Parts", []):
                number = int(p["PartNumber"])
                parts[number] = Part(number, 0, int(p["Size"]), etag=p["ETag"])
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])

    @staticmethod
    def _check_single_put(s3, target: StoredObject, size: int, parts: list[Part]) -> int:
        if len(parts) != 1 or parts[0].number != 1:
            raise InvalidArgument(
                "parts must be part 1 alone after a single PUT (no upload_id)", field="parts"
            )
        try:
            head = s3.head_object(Bucket=target.bucket, Key=target.key)
        except s3.exceptions.ClientError as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound"):
                raise FailedPrecondition(
                    "the store holds no object for this upload: PUT it first",
                    reason="UPLOAD_INCOMPLETE",
                ) from None
            raise
        if _unquoted(head.get("ETag", "")) != _unquoted(parts[0].etag):
            raise InvalidArgument(
                f"parts[0].etag {parts[0].etag[:80]!r} is not the ETag of the object the "
                f"store holds ({head.get('ETag')}): another upload replaced it",
                reason="UPLOAD_PART_MISMATCH",
                field="parts[0].etag",
            )
        if int(head["ContentLength"]) != size:
            raise InvalidArgument(
                f"size_bytes is {size:,}; the object the store holds has "
                f"{int(head['ContentLength']):,} bytes",
                reason="UPLOAD_SIZE_MISMATCH",
                field="size_bytes",
            )
        return size

    @staticmethod
    def _completed_with(s3, target: StoredObject, size: int, parts: list[Part]) -> bool:
        """Whether the object exists with `size` bytes and the ETag S3 gives the
        multipart upload of `parts` (the MD5 of their MD5s, "-N")."""
        try:
            digests = b"".join(bytes.fromhex(_unquoted(p.etag)) for p in parts)
            head = s3.head_object(Bucket=target.bucket, Key=target.key)
        except (ValueError, s3.exceptions.ClientError):
            return False
        etag = f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"
        return int(head["ContentLength"]) == size and _unquoted(head.get("ETag", "")) == etag

    @staticmethod
    def _is_folder(s3, target: StoredObject) -> bool:
        listed = s3.list_objects_v2(Bucket=target.bucket, Prefix=target.key + "/", MaxKeys=1)
        return bool(listed.get("KeyCount") or listed.get("Contents"))

    @contextlib.contextmanager
    def _s3(self, target: StoredObject, upload_id: str = "") -> Iterator[object]:
        """The botocore client for the root's store, with its errors as domain errors."""
        import botocore.exceptions

        client = self._client()
        try:
            yield client
        except client.exceptions.ClientError as e:
            code = _code(e)
            if upload_id and code in ("NoSuchUpload", "404"):
                raise NotFound(
                    f"upload_id {upload_id[:200]!r}: the store has no upload of this id for "
                    "this file",
                    reason="UPLOAD_NOT_FOUND",
                    field="upload_id",
                ) from None
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise FailedPrecondition(
                    f"artifact storage refused access ({code})", reason="STORAGE_ACCESS_DENIED"
                ) from None
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
                raise InvalidArgument(
                    f"parts: the store refused them ({code}); nothing was stored",
                    reason="UPLOAD_PART_MISMATCH",
                    field="parts",
                ) from None
            raise Unavailable(f"artifact storage failed: {code}") from None
        except botocore.exceptions.BotoCoreError as e:
            raise Unavailable(f"artifact storage failed: {type(e).__name__}: {e}") from None

    def _client(self):
        with self._lock:
            client = self._clients.get("s3")
            if client is None:
                client = self._clients["s3"] = botocore_client(self._options())
            return client

    def _options(self) -> dict:
        """s3fs's options for the root's store: fsspec's configuration (FSSPEC_S3_...)
        under the server's --artifacts-option values."""
        configured = dict(fsspec.config.conf.get("s3", {}))
        if self.locations.root.scheme in DIRECT_SCHEMES:
            configured.update(self.storage_options)
        return configured


def _object(location: Location, path: str) -> StoredObject:
    bucket, *prefix = location.segments
    return StoredObject(bucket, posixpath.join(*prefix, path) if prefix else path)


def _check_upload_path(path: str) -> None:
    if any(p.startswith(PARTIAL_PREFIX) for p in path.split("/")):
        raise InvalidArgument(f"path '{path}' uses the reserved prefix {PARTIAL_PREFIX}")


def _check_md5(content_md5: str) -> None:
    try:
        digest = base64.b64decode(content_md5, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise InvalidArgument(
            f"content_md5 {content_md5[:80]!r} is not a base64 MD5 digest (24 characters)",
            field="content_md5",
        )


def _unquoted(etag: str) -> str:
    return etag.strip().strip('"')


def _code(error) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))

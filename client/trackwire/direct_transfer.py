"""Direct transfers: file bytes straight to and from the object store, with the presigned
URLs the server hands out (ArtifactService.StartArtifactUpload, CompleteArtifactUpload,
GetArtifactDownloadUrl; the flow is documented in artifact_service.proto).

Uploads are multipart (a single signed `PUT` for small files): parts go up THREADS at a
time, each read from the file into memory when its turn comes (memory: THREADS parts),
its MD5 compared with the ETag the store answers. The upload id is kept in a small file
under the user's cache folder until the upload completes, so that running the same
upload again after a crash resumes it: the server lists the parts the store holds, they
are checked against the file (MD5), and only the missing ones are sent. Downloads are
ranged `GET`s in parallel, written in place into a `.part` file, checked against the
object's size and ETag (part by part for the store's multipart ETags), then renamed.

Each method returns None when the server says to stream the file through gRPC instead
(a local artifact root, or direct transfers off); the answer is remembered per run.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable

import grpc
import urllib3

from trackwire.entities import FileInfo
from trackwire.v1 import artifact_service_pb2 as pb
from trackwire_protocol import errors
from trackwire_protocol.calls import call
from trackwire_protocol.channel import Connection

# Parts (or ranges) moved at once per file.
THREADS = 4
# Files up to this size go up in one signed PUT (their MD5 computed first).
SINGLE_PUT_BYTES = 16 * 1024 * 1024
# Ranges of a download when the object's part size is unknown.
RANGE_BYTES = 16 * 1024 * 1024
READ_BYTES = 1024 * 1024
STATE_DIR_ENV = "TRACKWIRE_UPLOAD_STATE_DIR"
# URLs that expire midway are replaced by resuming, as long as each plan gets some part
# further; this many plans in a row that do not is an error.
ATTEMPTS = 3
_MD5_HEX = re.compile(r"[0-9a-f]{32}")
_MULTIPART_ETAG = re.compile(r"([0-9a-f]{32})-(\d+)")
Progress = Callable[[int], object]


class TransferError(errors.TrackwireException):
    """The object store refused or broke a transfer, or its bytes did not check out."""


class UrlRefused(TransferError):
    """The store refused a presigned URL (403): most often, it expired."""


def state_dir() -> str:
    """Where unfinished uploads are remembered: $TRACKWIRE_UPLOAD_STATE_DIR, else
    $XDG_CACHE_HOME/trackwire/uploads (~/.cache/trackwire/uploads)."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return configured
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "trackwire", "uploads")


class DirectTransfer:
    """The direct transfers of one connection."""

    def __init__(self, connection: Connection, threads: int | None = None):
        self._connection = connection
        self._threads = threads = threads or THREADS
        self._http = urllib3.PoolManager(
            maxsize=threads * 4,
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
            ),
            timeout=urllib3.Timeout(connect=10, read=120),
        )
        self._streamed_uploads: set[str] = set()
        self._streamed_downloads: set[str] = set()
        self._direct_runs: set[str] = set()
        self._lock = threading.Lock()

    # -- uploads ------------------------------------------------------------------------

    def offered(self, run_id: str, path: str) -> bool:
        """Whether the server moves this run's uploads directly: asked once per run with
        the plan of an empty file (a URL signed, nothing started in the store). A refusal
        (a bad path, a deleted run) answers False: the streamed upload reports it."""
        if run_id in self._streamed_uploads:
            return False
        if run_id in self._direct_runs:
            return True
        empty_md5 = base64.b64encode(hashlib.md5(b"").digest()).decode()
        try:
            if self._start(run_id, path, 0, empty_md5, "") is None:
                return False
        except errors.TrackwireException:
            return False
        self._direct_runs.add(run_id)
        return True

    def upload_file(
        self, run_id: str, path: str, local_path: str, progress: Progress | None = None
    ) -> FileInfo | None:
        """Uploads the file `local_path` as the run's `path`; None: stream it instead."""
        if run_id in self._streamed_uploads:
            return None
        with open(local_path, "rb", buffering=0) as f:
            st = os.fstat(f.fileno())
            size = st.st_size
            md5 = ""
            if size <= SINGLE_PUT_BYTES:
                md5 = base64.b64encode(_md5_range(f.fileno(), 0, size).digest()).decode()
            state = _UploadState(
                self._connection.target, run_id, path, os.path.abspath(local_path), st
            )
            stalls, missing = 0, None  # plans in a row that got no part further
            while True:
                plan = self._start(run_id, path, size, md5, state.upload_id())
                if plan is None:
                    return None
                if plan.upload_id:
                    state.save(plan.upload_id)
                if missing is not None and len(plan.parts) < missing:
                    stalls = 0
                missing = len(plan.parts)
                held = {p.part_number: p.etag for p in plan.uploaded_parts}
                if not self._held_parts_match(f.fileno(), plan):
                    # Another file was uploaded under this id: start over.
                    self._abort(run_id, path, plan.upload_id)
                    state.forget()
                    stalls += 1
                    if stalls < ATTEMPTS:
                        missing = None
                        continue
                    raise TransferError(f"the resumed upload of '{path}' does not match its file")
                if progress is not None and plan.uploaded_parts:
                    progress(sum(p.size_bytes for p in plan.uploaded_parts))
                try:
                    sent = self._put_parts(f.fileno(), plan, progress)
                except UrlRefused:
                    stalls += 1
                    if stalls >= ATTEMPTS:
                        raise
                    continue  # expired: resume, with new URLs for the parts still missing
                etags = {**held, **sent}
                if plan.upload_id and len(etags) < -(-size // plan.part_size_bytes):
                    continue  # a plan lists at most 1,000 parts: ask for the next ones
                request = pb.CompleteArtifactUploadRequest(
                    run_id=run_id,
                    path=path,
                    upload_id=plan.upload_id,
                    size_bytes=size,
                    parts=[pb.CompletedPart(part_number=n, etag=etags[n]) for n in sorted(etags)],
                )
                response = call(self._connection.artifacts.CompleteArtifactUpload, request)
                state.forget()
                return FileInfo.from_proto(response.file)

    def upload_bytes(self, run_id: str, path: str, data: bytes) -> FileInfo | None:
        """Uploads `data` as the run's `path` (one signed PUT, or parts); None: stream."""
        if run_id in self._streamed_uploads:
            return None
        view = memoryview(data).cast("B")
        md5 = ""
        if len(view) <= SINGLE_PUT_BYTES:
            md5 = base64.b64encode(hashlib.md5(view).digest()).decode()
        plan = self._start(run_id, path, len(view), md5, "")
        if plan is None:
            return None

        def put(part: pb.PresignedPart) -> tuple[int, str]:
            body = view[part.offset : part.offset + part.size_bytes]
            return part.part_number, self._put(part, body)

        sent = dict(self._parallel([lambda p=p: put(p) for p in plan.parts]))
        response = call(
            self._connection.artifacts.CompleteArtifactUpload,
            pb.CompleteArtifactUploadRequest(
                run_id=run_id,
                path=path,
                upload_id=plan.upload_id,
                size_bytes=len(view),
                parts=[pb.CompletedPart(part_number=n, etag=sent[n]) for n in sorted(sent)],
            ),
        )
        return FileInfo.from_proto(response.file)

    def _start(
        self, run_id: str, path: str, size: int, md5: str, upload_id: str
    ) -> pb.StartArtifactUploadResponse | None:
        request = pb.StartArtifactUploadRequest(
            run_id=run_id, path=path, size_bytes=size, content_md5=md5, upload_id=upload_id
        )
        try:
            plan = call(self._connection.artifacts.StartArtifactUpload, request)
        except errors.NotFoundError as e:
            if not upload_id or e.reason != "UPLOAD_NOT_FOUND":
                raise
            request.upload_id = ""  # completed or aborted meanwhile: a new upload
            plan = call(self._connection.artifacts.StartArtifactUpload, request)
        except errors.TrackwireException as e:
            if e.code == grpc.StatusCode.UNIMPLEMENTED:  # an older server
                self._streamed_uploads.add(run_id)
                return None
            raise
        if plan.method != pb.TRANSFER_METHOD_PRESIGNED:
            self._streamed_uploads.add(run_id)
            return None
        return plan

    def _abort(self, run_id: str, path: str, upload_id: str) -> None:
        if upload_id:
            with contextlib.suppress(errors.NotFoundError):
                call(
                    self._connection.artifacts.AbortArtifactUpload,
                    pb.AbortArtifactUploadRequest(run_id=run_id, path=path, upload_id=upload_id),
                )

    def _held_parts_match(self, fd: int, plan: pb.StartArtifactUploadResponse) -> bool:
        """Whether the parts the store holds (resuming) have the MD5s of the file's."""
        if not plan.uploaded_parts:
            return True
        part_bytes = plan.part_size_bytes

        def matches(p: pb.UploadedPart) -> bool:
            digest = _md5_range(fd, (p.part_number - 1) * part_bytes, p.size_bytes).hexdigest()
            return digest == p.etag.strip('"')

        return all(self._parallel([lambda p=p: matches(p) for p in plan.uploaded_parts]))

    def _put_parts(
        self, fd: int, plan: pb.StartArtifactUploadResponse, progress: Progress | None
    ) -> dict[int, str]:
        def put(part: pb.PresignedPart) -> tuple[int, str]:
            body = bytearray(part.size_bytes)
            view = memoryview(body)
            got = 0
            while got < part.size_bytes:
                n = os.preadv(fd, [view[got:]], part.offset + got)
                if n == 0:
                    raise TransferError("the file shrank while it was being uploaded")
                got += n
            etag = self._put(part, body)
            if progress is not None:
                progress(part.size_bytes)
            return part.part_number, etag

        return dict(self._parallel([lambda p=p: put(p) for p in plan.parts]))

    def _put(self, part: pb.PresignedPart, body) -> str:
        """PUTs one part; its ETag, checked against the body's MD5."""
        md5 = hashlib.md5(body).hexdigest()
        response = self._http.request(
            "PUT", part.url, body=body, headers=dict(part.headers), preload_content=True
        )
        if response.status != 200:
            error = UrlRefused if response.status == 403 else TransferError
            raise error(
                f"the object store answered {response.status} to part {part.part_number}: "
                f"{_store_error(response.data)}"
            )
        etag = response.headers.get("ETag", "")
        bare = etag.strip('"')
        if _MD5_HEX.fullmatch(bare) and bare != md5:
            raise TransferError(
                f"part {part.part_number} arrived with MD5 {bare}, not {md5}: its bytes "
                "changed on the way"
            )
        return etag

    # -- downloads ----------------------------------------------------------------------

    def download_file(
        self, run_id: str, path: str, local: str, progress: Progress | None = None
    ) -> str | None:
        """Downloads the run's `path` to `local` (through `local`.part); None: stream."""
        plan = self._download_plan(run_id, path)
        if plan is None:
            return None
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        tmp = f"{local}.part"
        with open(tmp, "wb") as f:
            for attempt in range(ATTEMPTS):
                f.truncate(plan.size_bytes)
                try:
                    self._fetch(
                        plan,
                        path,
                        lambda offset, data: os.pwrite(f.fileno(), data, offset),
                        progress,
                    )
                    break
                except UrlRefused:  # expired: a new URL (the whole file again)
                    if attempt == ATTEMPTS - 1:
                        raise
                    plan = self._download_plan(run_id, path)
                    if plan is None:
                        raise
        os.replace(tmp, local)
        return local

    def read(self, run_id: str, path: str) -> bytes | None:
        plan = self._download_plan(run_id, path)
        if plan is None:
            return None
        buffer = bytearray(plan.size_bytes)

        def write(offset: int, data) -> None:
            buffer[offset : offset + len(data)] = data

        self._fetch(plan, path, write, None)
        return bytes(buffer)

    def _download_plan(self, run_id: str, path: str) -> pb.GetArtifactDownloadUrlResponse | None:
        if run_id in self._streamed_downloads:
            return None
        try:
            plan = call(
                self._connection.artifacts.GetArtifactDownloadUrl,
                pb.GetArtifactDownloadUrlRequest(run_id=run_id, path=path),
            )
        except errors.TrackwireException as e:
            if e.code == grpc.StatusCode.UNIMPLEMENTED:
                self._streamed_downloads.add(run_id)
                return None
            raise
        if plan.method != pb.TRANSFER_METHOD_PRESIGNED:
            self._streamed_downloads.add(run_id)
            return None
        return plan

    def _fetch(self, plan, path: str, write, progress: Progress | None) -> None:
        """GETs the object in ranges, in parallel, each passed to write(offset, bytes);
        checks the size and, where the ETag allows, the MD5s."""
        size = plan.size_bytes
        etag = plan.etag.strip('"')
        multipart = _MULTIPART_ETAG.fullmatch(etag)
        range_bytes = RANGE_BYTES
        if multipart and plan.part_size_bytes > 0:
            if -(-size // plan.part_size_bytes) == int(multipart.group(2)):
                range_bytes = plan.part_size_bytes
            else:
                multipart = None
        elif _MD5_HEX.fullmatch(etag):
            range_bytes = max(size, 1)  # one range: its MD5 is the ETag
        ranges = [(start, min(size, start + range_bytes)) for start in range(0, size, range_bytes)]

        def get(start: int, end: int) -> bytes:
            digest = hashlib.md5()
            headers = {"Range": f"bytes={start}-{end - 1}"}
            response = self._http.request("GET", plan.url, headers=headers, preload_content=False)
            try:
                if response.status not in (200, 206) or (
                    response.status == 200 and (start, end) != (0, size)
                ):
                    error = UrlRefused if response.status == 403 else TransferError
                    raise error(
                        f"the object store answered {response.status} to a GET of '{path}': "
                        f"{_store_error(response.read())}"
                    )
                at = start
                for data in response.stream(READ_BYTES):
                    if at + len(data) > end:
                        raise TransferError(f"the store sent more than the range of '{path}'")
                    write(at, data)
                    digest.update(data)
                    at += len(data)
                    if progress is not None:
                        progress(len(data))
                if at != end:
                    raise TransferError(
                        f"'{path}': the store sent {at - start:,} bytes of a {end - start:,}-byte "
                        "range"
                    )
            finally:
                response.release_conn()
            return digest.digest()

        digests = self._parallel([lambda r=r: get(*r) for r in ranges])
        if multipart:
            combined = hashlib.md5(b"".join(digests)).hexdigest()
            if combined != multipart.group(1):
                raise TransferError(f"'{path}' arrived with other bytes than the store's ETag says")
        elif _MD5_HEX.fullmatch(etag) and len(digests) == 1 and digests[0].hex() != etag:
            raise TransferError(f"'{path}' arrived with other bytes than the store's ETag says")

    def _parallel(self, calls: list) -> list:
        """The results of `calls`, run on up to THREADS threads; the first error is raised
        once all have ended (the others are cancelled if not started)."""
        if len(calls) <= 1:
            return [c() for c in calls]
        with concurrent.futures.ThreadPoolExecutor(min(self._threads, len(calls))) as pool:
            futures = [pool.submit(c) for c in calls]
            for future in futures:
                if future.exception() is not None:
                    for other in futures:
                        other.cancel()
                    break
        return [f.result() for f in futures]


class _UploadState:
    """The upload id of an unfinished upload of one file, kept on disk until it completes
    (a file named after the server, run, path and the file's identity: path, size, mtime)."""

    def __init__(self, target: str, run_id: str, path: str, local_path: str, st: os.stat_result):
        key = json.dumps([target, run_id, path, local_path, st.st_size, st.st_mtime_ns])
        self.file = os.path.join(state_dir(), hashlib.sha256(key.encode()).hexdigest() + ".json")

    def upload_id(self) -> str:
        try:
            with open(self.file) as f:
                return str(json.load(f).get("upload_id", ""))
        except (OSError, ValueError):
            return ""

    def save(self, upload_id: str) -> None:
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(self.file), exist_ok=True)
            tmp = f"{self.file}.tmp"
            with open(tmp, "w") as f:
                json.dump({"upload_id": upload_id}, f)
            os.replace(tmp, self.file)

    def forget(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.file)


def _md5_range(fd: int, offset: int, length: int):
    digest = hashlib.md5()
    buffer = bytearray(min(max(length, 1), READ_BYTES))
    view = memoryview(buffer)
    done = 0
    while done < length:
        n = os.preadv(fd, [view[: min(len(view), length - done)]], offset + done)
        if n == 0:
            break
        digest.update(view[:n])
        done += n
    return digest


def _store_error(body: bytes) -> str:
    """The code and message of an S3 error document, briefly."""
    text = body[:2000].decode("utf-8", "replace")
    code = re.search(r"<Code>(.*?)</Code>", text)
    message = re.search(r"<Message>(.*?)</Message>", text)
    if code:
        return f"{code.group(1)}: {message.group(1) if message else ''}".strip()
    return text[:200] or "(no body)"

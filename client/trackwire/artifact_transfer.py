"""Artifact transfer: files streamed up (UploadArtifact) and down (DownloadArtifact), or
moved straight to and from the object store when the server hands out presigned URLs
(`direct_transfer`, asked first for every file of a run until the server says to stream).

`ArtifactTransfer` does it for `TrackwireClient` on the client's connection: one stream per
file, the files of a folder TRANSFER_THREADS at a time, chunks encoded by
`trackwire_protocol.wire` (each copied once into its message), downloads written through
a `.part` file and checked to stay inside their destination.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import os
import posixpath
import queue
import tempfile
from collections.abc import Callable, Iterable, Iterator

import grpc

from trackwire.direct_transfer import DirectTransfer
from trackwire.entities import FileInfo
from trackwire.v1 import artifact_service_pb2 as artifact_pb
from trackwire_protocol import errors, naming, wire
from trackwire_protocol.calls import call, call_once, stream
from trackwire_protocol.channel import Connection

UPLOAD_CHUNK_BYTES = 1024 * 1024
# Files of a folder go up or down this many at a time: one stream leaves the other core
# (and the server) idle while it reads or writes.
TRANSFER_THREADS = 4
# Told the size of each chunk a transfer sends or receives (a progress bar's update).
Progress = Callable[[int], object]


class ArtifactTransfer:
    """The artifact streams of one connection."""

    def __init__(self, connection: Connection):
        self._connection = connection
        self.direct = DirectTransfer(connection)

    def upload_file(
        self,
        run_id: str,
        local_path: str,
        artifact_path: str | None = None,
        progress: Progress | None = None,
    ) -> FileInfo:
        """Uploads one file under `artifact_path` (a folder in the run's artifacts);
        `progress(n)` is called with the size of each chunk sent."""
        name = os.path.basename(local_path)
        path = posixpath.join(artifact_path, name) if artifact_path else name
        uploaded = self.direct.upload_file(run_id, path, local_path, progress)
        if uploaded is not None:
            return uploaded
        with open(local_path, "rb", buffering=0) as f:
            # The size, so that a stream cut short never replaces a good file; no digest:
            # it would cost a pass over the file on each side (a third of the throughput).
            size = os.fstat(f.fileno()).st_size
            return self.upload(run_id, path, _counted(_file_chunks(f), progress), size, "")

    def upload_folder(
        self,
        run_id: str,
        local_dir: str,
        artifact_path: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Uploads every file under `local_dir`, keeping the folder structure; several
        files at once (TRANSFER_THREADS streams)."""
        uploads = []
        for root, _dirs, files in os.walk(local_dir):
            rel = os.path.relpath(root, local_dir)
            folder = "" if rel == "." else rel.replace(os.sep, "/")
            target = posixpath.join(artifact_path or "", folder).strip("/")
            for name in sorted(files):
                uploads.append((os.path.join(root, name), target or None))
        _in_parallel(
            [functools.partial(self.upload_file, run_id, *u, progress=progress) for u in uploads]
        )

    def upload_bytes(self, run_id: str, data: bytes, path: str) -> FileInfo:
        """Uploads `data` as the run's file `path`."""
        uploaded = self.direct.upload_bytes(run_id, path, data)
        if uploaded is not None:
            return uploaded
        return self.upload(
            run_id,
            path,
            [data[i : i + UPLOAD_CHUNK_BYTES] for i in range(0, len(data), UPLOAD_CHUNK_BYTES)]
            or [b""],
            len(data),
            hashlib.sha256(data).hexdigest(),
        )

    def upload(
        self, run_id: str, path: str, chunks: Iterable, size: int | None = None, sha256: str = ""
    ) -> FileInfo:
        """Streams `chunks` (bytes-like, each copied once into its message: a chunk may be
        a reused buffer) as the file `path`, of `size` bytes with the SHA-256 digest `sha256`
        (None, empty: not declared); the server stores it only if what it received matches."""

        def requests():
            header = artifact_pb.UploadArtifactHeader(
                run_id=run_id, path=path, size_bytes=size, sha256=sha256
            )
            first = True
            for data in chunks:
                yield wire.encode_upload_request(header if first else None, data)
                first = False
            if first:
                yield wire.encode_upload_request(header, b"")

        return FileInfo.from_proto(call_once(self._connection.upload, requests()).file)

    def open_writer(self, run_id: str, path: str) -> ArtifactWriter | SpooledArtifactWriter:
        """A writer whose bytes are uploaded as the run's file `path`: streamed as they are
        written (ArtifactWriter), or, where the server moves the run's files directly,
        written to a temporary file sent to the store when it is closed
        (SpooledArtifactWriter), so that they never pass through the server."""
        if self.direct.offered(run_id, path):
            return SpooledArtifactWriter(self, run_id, path)
        return ArtifactWriter(self._connection, run_id, path)

    def list(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and folders directly in the run's folder `path` (its root if empty)."""
        response = call(
            self._connection.artifacts.ListArtifacts,
            artifact_pb.ListArtifactsRequest(run_id=run_id, path=path or ""),
        )
        return [FileInfo.from_proto(f) for f in response.files]

    def read(self, run_id: str, path: str) -> bytes:
        """The bytes of the run's file `path`."""
        data = self.direct.read(run_id, path)
        if data is not None:
            return data
        return b"".join(
            chunk.data
            for chunk in stream(
                self._connection.artifacts.DownloadArtifact,
                artifact_pb.DownloadArtifactRequest(run_id=run_id, path=path),
            )
        )

    def download(
        self,
        run_id: str,
        path: str = "",
        dst_path: str | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Downloads a file or a whole folder of the run; returns the local path. Every
        path the server lists is checked to lie inside the folder listed
        (trackwire_protocol.naming's rules), so nothing is written outside `dst_path`.
        `progress(n)` is called with the size of each chunk received."""
        dst_path = os.path.abspath(dst_path or os.getcwd())
        with errors.names_checked():
            path = naming.check_relative_path("path", path or "", allow_empty=True)
        entries = self.list(run_id, path) if path == "" else None
        if entries is None:
            parent = posixpath.dirname(path)
            siblings = self.list(run_id, parent)
            match = next((e for e in siblings if e.path == path), None)
            if match is None:
                raise errors.NotFoundError(f"artifact '{path}' does not exist in run {run_id}")
            if not match.is_dir:
                return self.download_file(
                    run_id, path, os.path.join(dst_path, posixpath.basename(path)), progress
                )
            entries = self.list(run_id, path)
        local_root = os.path.join(dst_path, posixpath.basename(path)) if path else dst_path
        os.makedirs(local_root, exist_ok=True)
        stack = [(path, entries)]
        downloads = []
        while stack:
            folder, listed = stack.pop()
            for entry in listed:
                inside = _listed_inside(folder, entry.path)
                rel = inside[len(path) :].lstrip("/")
                with errors.names_checked():
                    local = naming.local_path(local_root, rel, "listed artifact path")
                if entry.is_dir:
                    os.makedirs(local, exist_ok=True)
                    stack.append((inside, self.list(run_id, inside)))
                else:
                    downloads.append(
                        functools.partial(self.download_file, run_id, inside, local, progress)
                    )
        _in_parallel(downloads)
        return local_root

    def download_file(
        self, run_id: str, path: str, local: str, progress: Progress | None = None
    ) -> str:
        """Downloads the run's file `path` to `local` (through `local`.part)."""
        if self.direct.download_file(run_id, path, local, progress) is not None:
            return local
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        tmp = f"{local}.part"
        with open(tmp, "wb", buffering=0) as f:
            for data in stream(
                self._connection.download,
                artifact_pb.DownloadArtifactRequest(run_id=run_id, path=path),
            ):
                f.write(data)
                if progress is not None:
                    progress(len(data))
        os.replace(tmp, local)
        return local


def _listed_inside(folder: str, listed: str) -> str:
    """`listed`, a path the server listed in `folder`, checked to lie strictly inside it
    (so a download never leaves its destination, and a folder listing itself cannot loop)."""
    with errors.names_checked():
        checked = naming.check_relative_path("listed artifact path", listed)
    if folder and not checked.startswith(folder + "/"):
        raise errors.InvalidArgumentError(
            f"the server listed {naming.shown(listed)} in {naming.shown(folder)}, outside it"
        )
    return checked


class ArtifactWriter:
    """Uploads what is written to it as one artifact (see TrackwireClient.open_artifact).

    The upload is one UploadArtifact stream sent by a gRPC thread: `write` cuts the bytes
    into UPLOAD_CHUNK_BYTES messages (each copied once) and queues them, waiting while
    WRITER_QUEUE messages are on their way.
    """

    WRITER_QUEUE = 4

    def __init__(self, connection: Connection, run_id: str, artifact_file: str):
        self.path = artifact_file
        self.size = 0
        self.file: FileInfo | None = None
        self._header: artifact_pb.UploadArtifactHeader | None = artifact_pb.UploadArtifactHeader(
            run_id=run_id, path=artifact_file
        )
        self._queue: queue.Queue = queue.Queue(self.WRITER_QUEUE)
        self._closed = False
        self._future = connection.upload.future(self._requests())

    def _requests(self) -> Iterator[bytes]:
        while (message := self._queue.get()) is not None:
            yield message

    def _put(self, message: bytes | None) -> None:
        while True:
            if self._future.done():  # the server ended the stream: its error says why
                self._raise_error()
            try:
                self._queue.put(message, timeout=0.05)
                return
            except queue.Full:
                continue

    def _release(self) -> None:
        """Ends the request iterator, which gRPC's sending thread may be waiting on."""
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        self._queue.put_nowait(None)

    def _raise_error(self):
        self._closed = True
        self._release()
        try:
            self._future.result()
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        raise errors.TrackwireException(f"the upload of '{self.path}' ended before it was complete")

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._closed:
            raise ValueError(f"write to the closed artifact writer of '{self.path}'")
        view = memoryview(data).cast("B")
        for start in range(0, len(view), UPLOAD_CHUNK_BYTES):
            chunk = view[start : start + UPLOAD_CHUNK_BYTES]
            self._put(wire.encode_upload_request(self._header, chunk))
            self._header = None
        self.size += len(view)
        return len(view)

    def flush(self) -> None:
        pass

    def close(self) -> FileInfo:
        """Ends the upload and returns the file as stored."""
        if not self._closed:
            if self._header is not None:  # nothing written: an empty file
                self._put(wire.encode_upload_request(self._header, b""))
                self._header = None
            self._put(None)
            self._closed = True
            try:
                self.file = FileInfo.from_proto(self._future.result().file)
            except grpc.RpcError as e:
                raise errors.from_rpc_error(e) from None
        return self.file

    def abort(self) -> None:
        """Cancels the upload: the server keeps nothing of it."""
        self._closed = True
        self._future.cancel()
        self._release()

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class SpooledArtifactWriter:
    """Collects what is written to it in a temporary file and uploads it as one artifact
    when closed (directly to the object store; see ArtifactTransfer.open_writer); the
    file appears then, or not at all if the writer is closed by an error."""

    def __init__(self, transfer: ArtifactTransfer, run_id: str, artifact_file: str):
        self.path = artifact_file
        self.size = 0
        self.file: FileInfo | None = None
        self._transfer = transfer
        self._run_id = run_id
        # Closed by close() or abort(), then removed.
        self._spool = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="trackwire-upload-", delete=False
        )
        self._closed = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._closed:
            raise ValueError(f"write to the closed artifact writer of '{self.path}'")
        n = self._spool.write(data)
        self.size += n
        return n

    def flush(self) -> None:
        pass

    def close(self) -> FileInfo:
        """Uploads the bytes written and returns the file as stored."""
        if not self._closed:
            self._closed = True
            try:
                self._spool.close()
                self.file = self._transfer.direct.upload_file(
                    self._run_id, self.path, self._spool.name
                )
                if self.file is None:  # the server changed its mind: stream the file
                    with open(self._spool.name, "rb", buffering=0) as f:
                        self.file = self._transfer.upload(
                            self._run_id, self.path, _file_chunks(f), self.size, ""
                        )
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(self._spool.name)
        return self.file

    def abort(self) -> None:
        """Drops what was written: nothing is uploaded."""
        if not self._closed:
            self._closed = True
            self._spool.close()
            with contextlib.suppress(OSError):
                os.unlink(self._spool.name)

    def __enter__(self) -> SpooledArtifactWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _file_chunks(f) -> Iterator[memoryview]:
    """The file's bytes, UPLOAD_CHUNK_BYTES at a time, read into one reused buffer (each
    chunk is valid until the next is asked for: `upload` copies it into its message)."""
    buffer = memoryview(bytearray(UPLOAD_CHUNK_BYTES))
    while n := f.readinto(buffer):
        yield buffer[:n]


def _counted(chunks: Iterator[memoryview], progress: Progress | None) -> Iterator[memoryview]:
    """The chunks, each counted by `progress` as it is taken (None: as they are)."""
    if progress is None:
        yield from chunks
        return
    for chunk in chunks:
        progress(len(chunk))
        yield chunk


def _in_parallel(calls: list) -> None:
    """Runs the calls (file transfers) on up to TRANSFER_THREADS threads; raises the first
    error after every call has ended."""
    if len(calls) <= 1:
        for call in calls:
            call()
        return
    with concurrent.futures.ThreadPoolExecutor(min(TRANSFER_THREADS, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
    for future in futures:
        future.result()

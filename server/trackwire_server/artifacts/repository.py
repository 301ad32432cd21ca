"""Reading and writing run artifacts: local folders (`local.py`) and fsspec object stores.

Every path from a client is checked (`trackwire_protocol.naming`) before it touches a filesystem,
and every stored run location is checked against the server's root and allowed prefixes
(`locations.py`) before it is used. Local folders are walked without following links;
other filesystems are reached through a `DirFileSystem` rooted at the run's folder.
"""

from __future__ import annotations

import contextlib
import errno
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import fsspec
from fsspec.implementations.dirfs import DirFileSystem

from trackwire_server.artifacts.local import PARTIAL_PREFIX, LocalFolder
from trackwire_server.artifacts.locations import ArtifactLocations, Location
from trackwire_server.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    TrackwireError,
    Unavailable,
)

DOWNLOAD_CHUNK_BYTES = 1024 * 1024
_FULL = (errno.ENOSPC, errno.EDQUOT)
_REFUSED = (errno.EACCES, errno.EPERM)


def storage_error(e: OSError) -> TrackwireError:
    """The domain error for a failure of the artifact storage: full or over quota is
    RESOURCE_EXHAUSTED, read-only or refused access FAILED_PRECONDITION (retrying cannot
    help either), a name too long INVALID_ARGUMENT; anything else (an unreachable
    endpoint) UNAVAILABLE."""
    reason = e.strerror or str(e) or type(e).__name__
    if e.errno in _FULL:
        return ResourceExhausted(
            f"artifact storage is full ({reason}); nothing was stored",
            reason="STORAGE_FULL",
        )
    if e.errno == errno.EROFS:
        return FailedPrecondition(
            f"artifact storage is read-only ({reason})", reason="STORAGE_READ_ONLY"
        )
    if isinstance(e, PermissionError) or e.errno in _REFUSED:
        return FailedPrecondition(
            f"artifact storage refused access ({reason})", reason="STORAGE_ACCESS_DENIED"
        )
    if e.errno == errno.ENAMETOOLONG:
        return InvalidArgument(f"a name is too long for the artifact storage ({reason})")
    return Unavailable(f"artifact storage failed: {type(e).__name__}: {e}")


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Filesystem errors as domain errors: a missing file is NOT_FOUND, the others as
    `storage_error` says."""
    try:
        yield
    except FileNotFoundError as e:
        raise NotFound(f"artifact does not exist: {e}") from None
    except OSError as e:
        raise storage_error(e) from None


@dataclass
class FileEntry:
    path: str
    is_dir: bool
    size: int


class ArtifactRepository:
    """Artifacts under the server's root (a folder, `s3://`, `memory://`...) and the
    prefixes the operator allowed; nowhere else."""

    def __init__(self, locations: ArtifactLocations, storage_options: dict | None = None):
        self.locations = locations
        self.storage_options = storage_options or {}
        for place in (locations.root, *locations.allowed):
            fsspec.get_filesystem_class(place.scheme)  # ValueError or ImportError now

    def _place(self, artifact_uri: str) -> LocalFolder | DirFileSystem:
        """Where a run's files are: a local folder, or a filesystem rooted at them."""
        location, base = self.locations.check_stored(artifact_uri, "the run's artifact location")
        if location.is_local:
            return LocalFolder(str(base), location.relative_to(base))
        # The storage options are the root's (an endpoint, keys): a prefix allowed on
        # another kind of storage is reached with fsspec's own configuration.
        options = self.storage_options if location.scheme == self.locations.root.scheme else {}
        fs, root = fsspec.core.url_to_fs(str(location), **options)
        return DirFileSystem(path=root, fs=fs)

    def write(self, artifact_uri: str, path: str, chunks: Iterable[bytes]) -> FileEntry:
        """Writes the file from `chunks`; it appears whole or not at all."""
        if any(p.startswith(PARTIAL_PREFIX) for p in path.split("/")):
            raise InvalidArgument(f"path '{path}' uses the reserved prefix {PARTIAL_PREFIX}")
        with storage_errors():
            place = self._place(artifact_uri)
            if isinstance(place, LocalFolder):
                size = place.write(path, chunks)
            else:
                size = self._write_object(place, path, chunks)
        return FileEntry(path=path, is_dir=False, size=size)

    @staticmethod
    def _write_object(fs: DirFileSystem, path: str, chunks: Iterable[bytes]) -> int:
        """Object stores: the upload is committed at the end, or discarded."""
        size = 0
        f = fs.open(path, "wb", autocommit=False)
        try:
            for chunk in chunks:
                f.write(chunk)
                size += len(chunk)
            f.close()
            f.commit()
        except BaseException:
            f.discard()
            raise
        finally:
            fs.fs.invalidate_cache()
        return size

    def read(self, artifact_uri: str, path: str) -> Iterator[bytes]:
        with storage_errors():
            place = self._place(artifact_uri)
            if isinstance(place, LocalFolder):
                f = place.open(path)
            else:
                place.fs.invalidate_cache()
                try:
                    if place.isdir(path):
                        raise InvalidArgument(f"path '{path}' is a folder, not a file")
                    f = place.open(path, "rb")
                except FileNotFoundError:
                    raise NotFound(f"artifact '{path}' does not exist") from None
        return self._chunks(f)

    @staticmethod
    def _chunks(f) -> Iterator[bytes]:
        with storage_errors(), f:
            while chunk := f.read(DOWNLOAD_CHUNK_BYTES):
                yield chunk

    def list(self, artifact_uri: str, path: str) -> list[FileEntry]:
        with storage_errors():
            place = self._place(artifact_uri)
            if isinstance(place, LocalFolder):
                found = place.list(path)
            else:
                found = self._list_object(place, path)
        result = [
            FileEntry(
                path=posixpath.join(path, name) if path else name,
                is_dir=is_dir,
                size=0 if is_dir else size,
            )
            for name, is_dir, size in found
            if not name.startswith(PARTIAL_PREFIX)
        ]
        return sorted(result, key=lambda e: e.path)

    def remove_run(self, artifact_uri: str) -> None:
        """Removes a run's artifacts, its whole folder (a purged run's; nothing else)."""
        with storage_errors():
            place = self._place(artifact_uri)
            if isinstance(place, LocalFolder):
                place.remove_all()
                return
            place.fs.invalidate_cache()
            try:
                place.fs.rm(place.path, recursive=True)
            except FileNotFoundError:
                pass
            finally:
                place.fs.invalidate_cache()

    @staticmethod
    def _list_object(fs: DirFileSystem, path: str) -> list[tuple[str, bool, int]]:
        fs.fs.invalidate_cache()  # fsspec's listing cache never expires; other writers exist
        try:
            if path and not fs.isdir(path):
                return []
            entries = fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        return [
            (
                posixpath.basename(e["name"].rstrip("/")),
                e["type"] == "directory",
                int(e.get("size") or 0),
            )
            for e in entries
        ]


__all__ = ["ArtifactRepository", "FileEntry", "Location", "storage_error", "storage_errors"]

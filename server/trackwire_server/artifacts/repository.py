"""Reading and writing run artifacts through fsspec.

Each run's files live under its artifact URI; every path from a client is
checked before it touches a filesystem, and all access goes through a
`DirFileSystem` rooted at the run's folder.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import fsspec
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

from trackwire_server.errors import InvalidArgument, NotFound, Unavailable

_DRIVE = re.compile(r"^[A-Za-z]:")
_PARTIAL_PREFIX = ".trackwire-partial-"
DOWNLOAD_CHUNK_BYTES = 1024 * 1024


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Filesystem errors as domain errors: a missing file is NOT_FOUND, any other
    failure of the storage (refused credentials, unreachable endpoint) UNAVAILABLE."""
    try:
        yield
    except FileNotFoundError as e:
        raise NotFound(f"artifact does not exist: {e}") from None
    except OSError as e:
        raise Unavailable(f"artifact storage failed: {type(e).__name__}: {e}") from None


def check_relative_path(field: str, path: str, allow_empty: bool = False) -> str:
    """Returns `path` normalised, or raises InvalidArgument if it could leave the root."""
    if not path:
        if allow_empty:
            return ""
        raise InvalidArgument(f"{field} must not be empty")
    if "\x00" in path:
        raise InvalidArgument(f"{field} contains a NUL character")
    if "\\" in path:
        raise InvalidArgument(f"{field} '{path}' contains a backslash; use '/'")
    if path.startswith("/") or _DRIVE.match(path) or "://" in path:
        raise InvalidArgument(f"{field} '{path}' must be relative to the run's artifact root")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"{field} '{path}' must not contain '..'")
    if not parts and not allow_empty:
        raise InvalidArgument(f"{field} '{path}' names no file")
    return "/".join(parts)


@dataclass
class FileEntry:
    path: str
    is_dir: bool
    size: int


class ArtifactRepository:
    """Artifacts under fsspec URLs: `/abs/path`, `file://`, `s3://`, `memory://`..."""

    def __init__(self, storage_options: dict | None = None):
        self.storage_options = storage_options or {}

    def run_fs(self, artifact_uri: str) -> DirFileSystem:
        fs, root = fsspec.core.url_to_fs(artifact_uri, **self.storage_options)
        return DirFileSystem(path=root, fs=fs)

    def write(self, artifact_uri: str, path: str, chunks: Iterable[bytes]) -> FileEntry:
        """Writes the file from `chunks`; it appears whole or not at all."""
        with storage_errors():
            fs = self.run_fs(artifact_uri)
            parent = posixpath.dirname(path)
            if isinstance(fs.fs, LocalFileSystem):
                size = self._write_local(fs, parent, path, chunks)
            else:
                size = self._write_object(fs, path, chunks)
        return FileEntry(path=path, is_dir=False, size=size)

    @staticmethod
    def _write_local(fs: DirFileSystem, parent: str, path: str, chunks: Iterable[bytes]) -> int:
        """Written beside the target under a hidden name, then renamed over it."""
        fs.makedirs(parent, exist_ok=True)
        partial = posixpath.join(
            parent, f"{_PARTIAL_PREFIX}{posixpath.basename(path)}.{uuid.uuid4().hex}"
        )
        size = 0
        try:
            with fs.open(partial, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    size += len(chunk)
            fs.mv(partial, path)
        except BaseException:
            if fs.exists(partial):
                fs.rm(partial)
            raise
        return size

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
            fs = self.run_fs(artifact_uri)
            fs.fs.invalidate_cache()
            try:
                if fs.isdir(path):
                    raise InvalidArgument(f"path '{path}' is a folder, not a file")
                f = fs.open(path, "rb")
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
            fs = self.run_fs(artifact_uri)
            fs.fs.invalidate_cache()  # fsspec's listing cache never expires; other writers exist
            try:
                if path and not fs.isdir(path):
                    return []
                entries = fs.ls(path, detail=True)
            except FileNotFoundError:
                return []
        result = []
        for entry in entries:
            name = posixpath.basename(entry["name"].rstrip("/"))
            if name.startswith(_PARTIAL_PREFIX):
                continue
            rel = posixpath.join(path, name) if path else name
            is_dir = entry["type"] == "directory"
            result.append(
                FileEntry(
                    path=rel, is_dir=is_dir, size=0 if is_dir else int(entry.get("size") or 0)
                )
            )
        return sorted(result, key=lambda e: e.path)

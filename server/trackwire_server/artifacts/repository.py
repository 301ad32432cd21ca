"""Reading and writing run artifacts through fsspec.

Each run's files live under its artifact URI; every path from a client is
checked before it touches a filesystem, and all access goes through a
`DirFileSystem` rooted at the run's folder.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import fsspec
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

from trackwire_server.errors import InvalidArgument, NotFound

_DRIVE = re.compile(r"^[A-Za-z]:")
DOWNLOAD_CHUNK_BYTES = 1024 * 1024


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
        fs = self.run_fs(artifact_uri)
        parent = posixpath.dirname(path)
        local = isinstance(fs.fs, LocalFileSystem)
        if parent:
            fs.makedirs(parent, exist_ok=True)
        elif local:
            fs.makedirs("", exist_ok=True)
        # Local files: write aside and rename. Object stores commit on close.
        target = (
            posixpath.join(parent, f".{posixpath.basename(path)}.upload-{uuid.uuid4().hex}")
            if local
            else path
        )
        size = 0
        try:
            with fs.open(target, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    size += len(chunk)
            if local:
                fs.mv(target, path)
        except BaseException:
            if local and fs.exists(target):
                fs.rm(target)
            raise
        return FileEntry(path=path, is_dir=False, size=size)

    def read(self, artifact_uri: str, path: str) -> Iterator[bytes]:
        fs = self.run_fs(artifact_uri)
        try:
            if fs.isdir(path):
                raise InvalidArgument(f"path '{path}' is a folder, not a file")
            f = fs.open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"artifact '{path}' does not exist") from None
        return self._chunks(f)

    @staticmethod
    def _chunks(f) -> Iterator[bytes]:
        with f:
            while chunk := f.read(DOWNLOAD_CHUNK_BYTES):
                yield chunk

    def list(self, artifact_uri: str, path: str) -> list[FileEntry]:
        fs = self.run_fs(artifact_uri)
        try:
            if path and not fs.isdir(path):
                return []
            entries = fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        result = []
        for entry in entries:
            name = posixpath.basename(entry["name"].rstrip("/"))
            if name.startswith(".") and ".upload-" in name:
                continue
            rel = posixpath.join(path, name) if path else name
            is_dir = entry["type"] == "directory"
            result.append(
                FileEntry(
                    path=rel, is_dir=is_dir, size=0 if is_dir else int(entry.get("size") or 0)
                )
            )
        return sorted(result, key=lambda e: e.path)

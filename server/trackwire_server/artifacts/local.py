"""Run artifacts in a local folder, never through a symbolic link.

Every path is opened one segment at a time from the folder of the root (or allowed
prefix) it lies under: `os.open(segment, O_NOFOLLOW, dir_fd=parent)`. A symbolic link
anywhere below that folder, planted in a run's artifacts or on the way to them, is refused
(FAILED_PRECONDITION naming the path), never followed: reads, listings and writes stay
inside the root whatever the folder holds. Listings leave links out. An upload whose
target is a link is refused; otherwise it is written beside the target under a hidden name,
created with O_EXCL | O_NOFOLLOW, and renamed over it (a rename replaces whatever is there
and never writes through it); on any failure the partial file and the folders the upload
created are removed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from trackwire_protocol import naming
from trackwire_server.errors import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger("trackwire.artifacts")

PARTIAL_PREFIX = ".trackwire-partial-"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_PARTIAL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_LINK_REASON = "SYMLINK_REFUSED"


@dataclass
class _Opened:
    """An opened folder (`fd`) and what opening it created: (parent fd, name) pairs."""

    fd: int
    created: list[tuple[int, str]] = field(default_factory=list)

    def remove_created(self) -> None:
        """Removes the folders this walk created, deepest first, if they are still empty."""
        for parent, name in reversed(self.created):
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=parent)
        self.created.clear()


@dataclass(frozen=True)
class LocalFolder:
    """A run's artifact folder: `run_segments` below the operator's folder `base`."""

    base: str
    run_segments: tuple[str, ...]

    # -- walking -----------------------------------------------------------------------

    def _link(self, depth: int, path: Sequence[str]) -> FailedPrecondition:
        """The refusal of a link met at segment `depth` of run_segments + path."""
        inside = depth - len(self.run_segments)
        if inside < 0:
            where = "the run's artifact folder is reached through a symbolic link"
        else:
            where = f"{naming.shown('/'.join(path[: inside + 1]))} is a symbolic link"
        log.warning("refused a symbolic link under %s: %s", self.base, where)
        return FailedPrecondition(
            f"artifact path {naming.shown('/'.join(path))}: {where}; links in artifact "
            "folders are not followed",
            reason=_LINK_REASON,
        )

    @contextlib.contextmanager
    def _folder(self, path: Sequence[str], create: bool) -> Iterator[_Opened]:
        """The folder run_segments + path, opened without following links (created if
        `create`). FileNotFoundError or NotADirectoryError if it is not there."""
        segments = (*self.run_segments, *path)
        fds: list[int] = []
        try:
            try:
                fds.append(os.open(self.base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            except FileNotFoundError:
                if not create:
                    raise
                os.makedirs(self.base, exist_ok=True)
                fds.append(os.open(self.base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            opened = _Opened(fds[0])
            try:
                for depth, name in enumerate(segments):
                    fds.append(self._open_child(fds[-1], name, create, opened, depth, path))
            except BaseException:
                opened.remove_created()
                raise
            opened.fd = fds[-1]
            yield opened
        finally:
            for fd in reversed(fds):
                os.close(fd)

    def _open_child(
        self, parent: int, name: str, create: bool, opened: _Opened, depth: int, path
    ) -> int:
        for _ in range(3):
            try:
                return os.open(name, _DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, dir_fd=parent)
                    opened.created.append((parent, name))
            except NotADirectoryError:  # O_DIRECTORY | O_NOFOLLOW's answer for a link too
                if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                    raise self._link(depth, path) from None
                raise
        raise FileNotFoundError(f"folder {name!r} keeps disappearing")

    # -- operations --------------------------------------------------------------------

    def write(self, path: str, chunks: Iterable[bytes]) -> int:
        """Writes `path` from `chunks`; it appears whole or not at all. Returns its size."""
        *folders, name = path.split("/")
        for attempt in range(3):
            with self._folder(folders, create=True) as folder:
                partial = f"{PARTIAL_PREFIX}{uuid.uuid4().hex}"
                try:
                    self._check_target(folder.fd, name, path)
                    try:
                        fd = os.open(partial, _PARTIAL_FLAGS, 0o666, dir_fd=folder.fd)
                    except FileNotFoundError:
                        # A failed upload next door removed the folder it had created,
                        # which this one had just opened: walk again.
                        if attempt < 2:
                            continue
                        raise
                    try:
                        size = _write_all(fd, chunks)
                    finally:
                        os.close(fd)
                    os.rename(partial, name, src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
                    return size
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(partial, dir_fd=folder.fd)
                    folder.remove_created()
                    raise
        raise AssertionError("unreachable")

    def _check_target(self, folder: int, name: str, path: str) -> None:
        try:
            mode = os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            segments = path.split("/")
            raise self._link(len(self.run_segments) + len(segments) - 1, segments)
        if stat.S_ISDIR(mode):
            raise InvalidArgument(f"path {naming.shown(path)} is a folder, not a file")

    def open(self, path: str) -> BinaryIO:
        """The file `path`, opened for reading (NotFound, or a refusal for a link, a folder
        or anything but a regular file)."""
        *folders, name = path.split("/")
        try:
            with self._folder(folders, create=False) as folder:
                try:
                    fd = os.open(name, _FILE_FLAGS, dir_fd=folder.fd)
                except OSError as e:
                    if e.errno == errno.ELOOP:
                        segments = path.split("/")
                        raise self._link(
                            len(self.run_segments) + len(segments) - 1, segments
                        ) from None
                    raise
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"artifact {naming.shown(path)} does not exist") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            if stat.S_ISDIR(mode):
                raise InvalidArgument(f"path {naming.shown(path)} is a folder, not a file")
            raise FailedPrecondition(f"artifact {naming.shown(path)} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def list(self, path: str) -> list[tuple[str, bool, int]]:
        """(name, is folder, size) of the files and folders in `path`; links, partial
        uploads and special files are left out. [] if `path` is no folder."""
        try:
            with (
                self._folder(path.split("/") if path else [], create=False) as folder,
                os.scandir(folder.fd) as entries,
            ):
                found = []
                for entry in entries:
                    if entry.name.startswith(PARTIAL_PREFIX) or entry.is_symlink():
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        found.append((entry.name, True, 0))
                    elif entry.is_file(follow_symlinks=False):
                        found.append((entry.name, False, entry.stat(follow_symlinks=False).st_size))
                return found
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove_all(self) -> bool:
        """Removes the run's folder and everything in it, then its parent folder if that
        is left empty (the run's own folder, `<run_id>/artifacts`); nothing is followed
        through a link (shutil.rmtree on an opened parent, which resists link swaps).
        Returns whether there was anything to remove."""
        if not self.run_segments:
            raise FailedPrecondition("refusing to remove the artifact root itself")
        *parents, name = self.run_segments
        parent = LocalFolder(self.base, tuple(parents))
        try:
            with parent._folder([], create=False) as folder:
                try:
                    shutil.rmtree(name, dir_fd=folder.fd)
                except FileNotFoundError:
                    return False
        except (FileNotFoundError, NotADirectoryError):
            return False
        if parents:
            with (
                contextlib.suppress(OSError),
                LocalFolder(self.base, tuple(parents[:-1]))._folder([], create=False) as up,
            ):
                os.rmdir(parents[-1], dir_fd=up.fd)
        return True


def _write_all(fd: int, chunks: Iterable[bytes]) -> int:
    size = 0
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        size += len(view)
        while view:
            view = view[os.write(fd, view) :]
    return size

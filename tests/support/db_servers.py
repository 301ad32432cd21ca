"""Throw-away PostgreSQL and MariaDB servers for fault-injection tests, and the
file-system faults (a small tmpfs that fills up, a read-only bind mount) they use.

Nothing here touches the machine's own database servers: each server is a new
cluster (`initdb`, `mariadb-install-db`) in a temporary folder, listening on
127.0.0.1 on a free port below the kernel's ephemeral range (so that no client
socket can take the port while the server is down for a restart), with its Unix
socket in that folder. As root, PostgreSQL runs as the `postgres` user (it
refuses root) and MariaDB as `mysql`; otherwise both run as the current user.
The server process is our own child (no pg_ctl/mysqld_safe daemonizing), so
stopping it is a signal and a wait, and a restart reuses the same port and data.

    servers = DatabaseServers()            # starts nothing yet
    pg = servers.get("postgresql")         # initdb + start on first use (about 1.5 s)
    pg.reset()                             # empty database `test`, writable, running
    pg.app_url                             # postgresql://trackwire@127.0.0.1:PORT/test
    pg.restart(down_for=2.0)               # stop (fast), wait, start on the same port: Restart
    pg.terminate_connections()             # pg_terminate_backend / KILL the app's sessions
    pg.set_read_only(True)                 # writes fail, reads work
    pg.set_lock_timeout(1)                 # lock waits fail after 1 s
    with pg.holding_lock("SELECT * FROM runs FOR UPDATE"): ...
    with pg.database_on_tmpfs(32) as vol:  # database `test` on a 32 MB tmpfs
        vol.fill(); ...; vol.free()        # no byte left; then space again
    servers.close()                        # stop (grace, then SIGKILL), unmount, remove

Two users reach database `test`:

- `url`: the superuser (`postgres`, `root`), as the CI's shared servers are used;
- `app_url`: `trackwire`, an ordinary user owning/granted database `test` only.
  Fault tests point Trackwire at `app_url`: it is what a deployment does, MariaDB's
  `read_only` does not apply to a user with READ ONLY ADMIN (root has it), and the
  app's sessions are then exactly the sessions of that user.

Disk full: PostgreSQL's `test` database is created in a tablespace on the tmpfs and
MariaDB's `test` folder is a symlink to a folder on it, so that the tables fill
the small file system while the write-ahead/redo logs and system tables stay on
the large one. (With the whole data directory on a full tmpfs, PostgreSQL PANICs
and stops when a WAL segment cannot be created, and MariaDB's Aria log waits for
space: that is a database crash or hang, not the "disk full" error a client
should be told about.) tmpfs allocates at write time, so ENOSPC is reported by
the write that needs the space, whatever fsync says.

pytest: the session fixture `database_servers` (tests/conftest.py) holds one
DatabaseServers; `DatabaseServers.get` skips the test with the reason when a
server cannot run here (binaries or driver missing, no user to run as), and
`require_mounts()` does the same for tests that mount (tmpfs, bind mounts: root only).
With TRACKWIRE_TEST_FAULTS=require (set by .ci/run) they fail instead of skipping.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import glob
import importlib.util
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import NamedTuple

HOST = "127.0.0.1"
DATABASE = "test"
APP_USER = "trackwire"
# Fault tests keep each server small and fast: startup (initdb/install + start) is
# measured by `DatabaseServer.startup_seconds`.
POSTGRES_SETTINGS = {
    "shared_buffers": "16MB",
    "max_connections": "200",
    # Durable against a crash of the server process (what "immediate" stop is), not of
    # the machine: a commit is in the OS's cache before it is acknowledged. (Not
    # synchronous_commit = off: an immediate stop would lose the last commits, and the
    # tests would blame Trackwire for it.)
    "fsync": "off",
    "full_page_writes": "off",
    "max_wal_size": "256MB",
    "checkpoint_timeout": "30min",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",  # errors without their (possibly huge) statements
    "log_checkpoints": "off",
    "log_line_prefix": "%m [%p] %u@%d ",
    "log_lock_waits": "on",
    "deadlock_timeout": "200ms",
}
MARIADB_SETTINGS = [
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=16M",
    # The redo log is written (not synced) at each commit: a commit survives SIGKILL.
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
    "--innodb-print-all-deadlocks=ON",
    "--skip-log-bin",
    "--skip-name-resolve",
    "--max-connections=300",
    "--performance-schema=OFF",
    "--character-set-server=utf8mb4",
]


# CI sets TRACKWIRE_TEST_FAULTS=require (.ci/run, as root): a fault test that cannot run
# there fails instead of skipping, so that a missing binary cannot pass unnoticed.
REQUIRE_ENV = "TRACKWIRE_TEST_FAULTS"


def skip_or_fail(reason: str) -> None:
    """pytest.skip(reason), or pytest.fail when $TRACKWIRE_TEST_FAULTS is "require"."""
    import pytest

    if os.environ.get(REQUIRE_ENV) == "require":
        pytest.fail(f"{reason} (and ${REQUIRE_ENV}=require)", pytrace=False)
    pytest.skip(reason)


def require_mounts() -> None:
    """Skips (or fails, see REQUIRE_ENV) the calling test if it cannot mount here."""
    reason = mount_unavailable_reason()
    if reason:
        skip_or_fail(reason)


class Restart(NamedTuple):
    """When a restart's steps happened (time.monotonic())."""

    stopping: float  # the stop signal was sent
    stopped: float  # the server process had ended
    started: float  # the server took connections again


class DatabaseServerError(RuntimeError):
    """A throw-away server could not be set up, started or stopped (the message says why,
    with the end of its log)."""


# -- where things are -------------------------------------------------------------


def _postgres_bindir() -> str | None:
    """The folder of `postgres` and `initdb`: PATH first, else the newest
    /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb"), shutil.which("postgres")
    if all(on_path):
        return os.path.dirname(os.path.realpath(on_path[1]))

    def version(path: str) -> float:
        try:
            return float(path.split(os.sep)[-2])
        except ValueError:
            return 0.0

    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if all(os.access(os.path.join(bindir, b), os.X_OK) for b in ("initdb", "postgres")):
            return bindir
    return None


def _mariadb_binaries() -> tuple[str, str] | None:
    """(mariadbd, mariadb-install-db), or None."""
    server = next(
        (
            p
            for p in (shutil.which("mariadbd"), "/usr/sbin/mariadbd", shutil.which("mysqld"))
            if p and os.access(p, os.X_OK)
        ),
        None,
    )
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    return (server, install) if server and install else None


def _service_account(name: str) -> pwd.struct_passwd | None:
    """The account a server runs as: `name` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def unavailable_reason(kind: str) -> str | None:
    """Why a throw-away server of `kind` ("postgresql", "mysql") cannot run here, or None."""
    if kind == "postgresql":
        if _postgres_bindir() is None:
            return "PostgreSQL's initdb/postgres not found (PATH, /usr/lib/postgresql/*/bin)"
        if importlib.util.find_spec("psycopg2") is None:
            return "psycopg2 is not installed"
        if _service_account("postgres") is None:
            return "running as root and there is no 'postgres' user (PostgreSQL refuses root)"
        return None
    if kind == "mysql":
        if _mariadb_binaries() is None:
            return "MariaDB's mariadbd/mariadb-install-db not found"
        if importlib.util.find_spec("pymysql") is None:
            return "pymysql is not installed"
        if _service_account("mysql") is None:
            return "running as root and there is no 'mysql' user to run mariadbd as"
        return None
    raise ValueError(f"unknown database kind {kind!r}")


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free loopback port outside the ephemeral range: an outgoing connection cannot
    be given it while a restarted server is down."""
    low, high = _ephemeral_range()
    ranges = [(r0, r1) for r0, r1 in ((10000, low - 1), (high + 1, 65535)) if r1 - r0 > 100]
    for _ in range(200):
        r0, r1 = random.choice(ranges) if ranges else (1024, 65535)
        port = random.randint(r0, r1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    raise DatabaseServerError("found no free port on 127.0.0.1")


def _base_dir() -> str | None:
    """Where servers' folders go: $TMPDIR unless we are root and the service account could
    not reach it (e.g. TMPDIR under /root), then /tmp."""
    base = tempfile.gettempdir()
    if os.geteuid() == 0 and base != "/tmp":
        path = base
        while path not in ("/", ""):
            if not os.stat(path).st_mode & 0o001:  # others may not traverse it
                return "/tmp"
            path = os.path.dirname(path)
    return base


def _log_tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


def _as_account(command: list[str], account: pwd.struct_passwd) -> tuple[list[str], dict]:
    """(command, Popen keywords) that run `command` as `account` (when we are root).

    Through `setpriv`, which execs the command as that user: Popen's own user=/group=
    make Python fork() instead of vfork(), and in a process with gRPC threads the child
    then runs gRPC's fork handlers before exec, which crash it now and then (SIGSEGV,
    SIGBUS, "Check failed: next_worker->state == KICKED")."""
    if os.geteuid() != 0 or account.pw_uid == 0:
        return command, {}
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [
            setpriv,
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            "--",
            *command,
        ], {}
    return command, {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _chown_tree(path: str, account: pwd.struct_passwd) -> None:
    if os.geteuid() != 0:
        return
    os.chown(path, account.pw_uid, account.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.lchown(os.path.join(root, name), account.pw_uid, account.pw_gid)


# -- file-system faults ---------------------------------------------------------------

_mount_reason: list[str | None] = []


def mount_unavailable_reason() -> str | None:
    """Why tmpfs and bind mounts cannot be used here, or None (tried once, with a 1 MB tmpfs)."""
    if _mount_reason:
        return _mount_reason[0]
    reason = None
    if os.geteuid() != 0:
        reason = "mounting a tmpfs or a read-only bind mount needs root"
    elif shutil.which("mount") is None or shutil.which("umount") is None:
        reason = "mount/umount not found"
    else:
        probe = tempfile.mkdtemp(prefix="tw-mount-probe-")
        try:
            result = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if result.returncode != 0:
                reason = f"mount -t tmpfs is not permitted here: {result.stderr.strip()}"
            else:
                subprocess.run(["umount", probe], capture_output=True, timeout=30, check=False)
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(probe)
    _mount_reason.append(reason)
    return reason


def _run(command: list[str], what: str, timeout: float = 60) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise DatabaseServerError(
            f"{what} failed ({result.returncode}): {' '.join(command)}\n{result.stdout}{result.stderr}"
        )


def mount_points() -> set[str]:
    """Every mount point of this process's mount namespace (os.path.ismount misses a bind
    mount of a folder of the same file system)."""
    points = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            # the mount point, with space, tab, newline and backslash octal-escaped
            points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return points


def _unmount(path: str) -> None:
    """Unmounts whatever is mounted on `path` (lazily, detached now and freed when no
    longer used, if it is busy)."""
    target = os.path.realpath(path)
    for _ in range(5):  # mounts may be stacked
        if target not in mount_points():
            return
        result = subprocess.run(["umount", target], capture_output=True, timeout=30, check=False)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", target], capture_output=True, timeout=30, check=False)


class Tmpfs:
    """A small tmpfs mounted at `path`, owned by `owner`, that `fill()` fills to the last byte.

    Filling writes filler files as root (tmpfs keeps nothing in reserve for root);
    `free()` removes them.
    """

    def __init__(self, path: str, size_mb: int, owner: pwd.struct_passwd | None = None):
        self.path = path
        self.size_mb = size_mb
        self._fillers: list[str] = []
        os.makedirs(path, exist_ok=True)
        _run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", path],
            f"mounting a {size_mb} MB tmpfs",
        )
        if owner is not None and os.geteuid() == 0:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave_bytes: int = 0) -> int:
        """Writes filler until at most `leave_bytes` are free; returns the bytes written."""
        filler = os.path.join(self.path, f".filler-{len(self._fillers)}")
        self._fillers.append(filler)
        written = 0
        with open(filler, "wb", buffering=0) as f:
            for block in (1 << 20, 1 << 16, 1 << 12):
                data = b"\xa5" * block
                while self.free_bytes() - block >= leave_bytes:
                    try:
                        written += f.write(data)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def free(self) -> None:
        """Removes the filler: the space is there again."""
        for filler in self._fillers:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(filler)
        self._fillers.clear()

    def unmount(self) -> None:
        self.free()
        _unmount(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self.path)

    def __enter__(self) -> Tmpfs:
        return self

    def __exit__(self, *exc) -> None:
        self.unmount()


@contextlib.contextmanager
def read_only_bind(source: str, target: str) -> Iterator[str]:
    """`source` visible read-only at `target` (a bind mount remounted ro) while inside."""
    os.makedirs(target, exist_ok=True)
    _run(["mount", "--bind", source, target], "bind mount")
    try:
        _run(["mount", "-o", "remount,bind,ro", target], "remounting the bind mount read-only")
        yield target
    finally:
        _unmount(target)
        with contextlib.suppress(OSError):
            os.rmdir(target)


# -- the servers --------------------------------------------------------------------


class DatabaseServer:
    """One throw-away database server: its own data, port, process and log."""

    kind = ""
    service_user = ""
    superuser = ""

    def __init__(self, stop_grace: float = 10.0):
        self.account = _service_account(self.service_user)
        if self.account is None:
            raise DatabaseServerError(unavailable_reason(self.kind) or "no account")
        self.stop_grace = stop_grace
        self.workdir = tempfile.mkdtemp(prefix=f"tw-{self.kind}-", dir=_base_dir())
        os.chmod(self.workdir, 0o755)
        self.data_dir = os.path.join(self.workdir, "data")
        self.log_path = os.path.join(self.workdir, "server.log")
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.startup_seconds: float | None = None
        self._volumes: list[Tmpfs] = []
        self._closed = False

    # URLs
    @property
    def url(self) -> str:
        return f"{self.kind}://{self.superuser}@{HOST}:{self.port}/{DATABASE}"

    @property
    def app_url(self) -> str:
        return f"{self.kind}://{APP_USER}@{HOST}:{self.port}/{DATABASE}"

    # process control
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _initialize(self) -> None:
        raise NotImplementedError

    def _connect_admin(self, timeout: float = 5.0):
        raise NotImplementedError

    def setup(self) -> DatabaseServer:
        """Creates the cluster, starts it, creates the app user and database `test`."""
        started = time.monotonic()
        self._initialize()
        self.start()
        self._create_app_user()
        self._create_database()
        self.startup_seconds = time.monotonic() - started
        return self

    def start(self, timeout: float = 60.0) -> None:
        """Starts the server on its port and data; returns once it takes connections."""
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')} ---\n".encode())
            log.flush()
            command, kwargs = _as_account(self._command(), self.account)
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
                start_new_session=True,
                **kwargs,
            )
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            if self.process.poll() is not None:
                raise DatabaseServerError(
                    f"{self.kind} exited with status {self.process.returncode} while starting "
                    f"on port {self.port}\n--- {self.log_path} ---\n{_log_tail(self.log_path)}"
                )
            try:
                self._connect_admin(timeout=2).close()
                return
            except Exception as e:  # not up yet
                last_error = e
            if time.monotonic() > deadline:
                self._signal_and_wait(signal.SIGKILL, 10)
                raise DatabaseServerError(
                    f"{self.kind} on port {self.port} took no connection within {timeout:.0f}s "
                    f"(last error: {last_error!r})\n--- {self.log_path} ---\n"
                    f"{_log_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def _stop_signal(self, mode: str) -> signal.Signals:
        raise NotImplementedError

    def _signal_and_wait(self, sig: signal.Signals, grace: float) -> bool:
        """Sends `sig`; True if the process ended within `grace` seconds."""
        process = self.process
        if process is None or process.poll() is not None:
            return True
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(grace)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, mode: str = "fast", grace: float | None = None) -> None:
        """Stops the server: "fast" (sessions are ended with an error, data is flushed),
        "immediate" (a crash: the next start recovers) or "kill" (SIGKILL). A server that
        has not stopped after `grace` seconds is killed."""
        if self.process is None:
            return
        grace = self.stop_grace if grace is None else grace
        if mode == "kill" or not self._signal_and_wait(self._stop_signal(mode), grace):
            self._signal_and_wait(signal.SIGKILL, 30)
            self._kill_leftovers()
        self.process = None

    def _kill_leftovers(self) -> None:
        """After SIGKILL of the main process: children that outlived it (its session)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self._pgid is not None:
                os.killpg(self._pgid, signal.SIGKILL)

    @property
    def _pgid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def restart(self, down_for: float = 2.0, mode: str = "fast") -> Restart:
        """Stops the server (`mode` as for `stop`), waits `down_for` seconds, starts it again
        on the same port and data; returns when it takes connections again, with the
        monotonic times of each step."""
        stopping = time.monotonic()
        self.stop(mode)
        stopped = time.monotonic()
        time.sleep(down_for)
        self.start()
        return Restart(stopping, stopped, time.monotonic())

    # sessions
    def app_sessions(self) -> list[int]:
        """The ids (backend pid / connection id) of the app user's sessions."""
        raise NotImplementedError

    def terminate_connections(self, wait: float = 10.0) -> int:
        """Ends every session of the app user from the server side (the client sees its
        connection broken on next use); returns how many there were."""
        raise NotImplementedError

    def _wait_sessions_gone(self, ids: list[int], wait: float) -> None:
        deadline = time.monotonic() + wait
        while set(ids) & set(self.app_sessions()):
            if time.monotonic() > deadline:
                raise DatabaseServerError(f"sessions {ids} of {APP_USER} did not end")
            time.sleep(0.05)

    # faults
    def set_read_only(self, read_only: bool) -> None:
        raise NotImplementedError

    def set_lock_timeout(self, seconds: float | None) -> None:
        """How long a session waits for a row lock before its statement fails (PostgreSQL
        lock_timeout, SQLSTATE 55P03; MariaDB innodb_lock_wait_timeout, error 1205); None
        for the server's default. PostgreSQL applies it at once, MariaDB to sessions
        opened afterwards."""
        raise NotImplementedError

    def _connect_app_database(self):
        """A superuser connection to database `test` (autocommit off)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def holding_lock(self, statement: str, params: tuple = ()) -> Iterator[None]:
        """Runs `statement` (e.g. SELECT ... FOR UPDATE) in a transaction of its own in
        database `test` and keeps that transaction, and its locks, open while inside."""
        connection = self._connect_app_database()
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, params or None)
                if cursor.description:
                    cursor.fetchall()
            yield
        finally:
            with contextlib.suppress(Exception):
                connection.rollback()
            connection.close()

    def database_on_tmpfs(self, size_mb: int = 32):
        raise NotImplementedError

    # between tests
    def reset(self) -> None:
        """Running, writable, and an empty database `test`, whatever the last test did."""
        if not self.running:
            self.process = None
            self.start()
        self.set_read_only(False)
        self.set_lock_timeout(None)
        self._drop_database()
        self._create_database()

    def _create_app_user(self) -> None:
        raise NotImplementedError

    def _create_database(self, location: str | None = None) -> None:
        raise NotImplementedError

    def _drop_database(self) -> None:
        raise NotImplementedError

    def log_tail(self, lines: int = 40) -> str:
        return _log_tail(self.log_path, lines)

    def log_text(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self) -> None:
        """Stops the server (grace, then SIGKILL), unmounts its tmpfs, removes its folder."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop("fast")
        finally:
            for volume in self._volumes:
                volume.unmount()
            self._volumes.clear()
            for path in glob.glob(os.path.join(self.workdir, "tmpfs-*")):
                _unmount(path)
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _new_volume(self, size_mb: int) -> Tmpfs:
        reason = mount_unavailable_reason()
        if reason:
            raise DatabaseServerError(reason)
        path = os.path.join(self.workdir, f"tmpfs-{len(self._volumes)}-{time.monotonic_ns()}")
        volume = Tmpfs(path, size_mb, self.account)
        self._volumes.append(volume)
        return volume

    def _drop_volume(self, volume: Tmpfs) -> None:
        volume.unmount()
        with contextlib.suppress(ValueError):
            self._volumes.remove(volume)


class PostgresServer(DatabaseServer):
    kind = "postgresql"
    service_user = "postgres"
    superuser = "postgres"

    def __init__(self, stop_grace: float = 10.0):
        super().__init__(stop_grace)
        self.bindir = _postgres_bindir()
        if self.bindir is None:
            raise DatabaseServerError(unavailable_reason("postgresql") or "no PostgreSQL")

    def _initialize(self) -> None:
        _chown_tree(self.workdir, self.account)
        command = [
            os.path.join(self.bindir, "initdb"),
            "-D",
            self.data_dir,
            "-U",
            self.superuser,
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        ]
        command, kwargs = _as_account(command, self.account)
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.workdir,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
            **kwargs,
        )
        if result.returncode != 0:
            raise DatabaseServerError(f"initdb failed:\n{result.stdout}{result.stderr}")

        settings = {
            **POSTGRES_SETTINGS,
            "port": str(self.port),
            "listen_addresses": HOST,
            "unix_socket_directories": self.workdir,
        }
        # In postgresql.conf rather than on the command line, so that a reload (read-only
        # on/off) finds nothing it cannot apply.
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write("\n# tests/support/db_servers.py\n")
            f.writelines(f"{name} = '{value}'\n" for name, value in settings.items())

    def _command(self) -> list[str]:
        return [os.path.join(self.bindir, "postgres"), "-D", self.data_dir]

    def _stop_signal(self, mode: str) -> signal.Signals:
        # SIGTERM: smart (waits for clients), SIGINT: fast, SIGQUIT: immediate
        return {"fast": signal.SIGINT, "immediate": signal.SIGQUIT, "smart": signal.SIGTERM}[mode]

    def _connect_admin(self, timeout: float = 5.0, dbname: str = "postgres"):
        import psycopg2

        connection = psycopg2.connect(
            host=HOST,
            port=self.port,
            user=self.superuser,
            dbname=dbname,
            connect_timeout=max(1, int(timeout)),
        )
        connection.autocommit = True
        return connection

    def sql(self, statement: str, params: tuple = (), dbname: str = "postgres") -> list[tuple]:
        """Runs one statement as the superuser; its rows ([] for none)."""
        connection = self._connect_admin(dbname=dbname)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def _create_app_user(self) -> None:
        self.sql(f"CREATE ROLE {APP_USER} LOGIN")

    def _create_database(self, tablespace: str | None = None) -> None:
        where = f" TABLESPACE {tablespace}" if tablespace else ""
        self.sql(f"CREATE DATABASE {DATABASE} OWNER {APP_USER}{where}")

    def _drop_database(self) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")

    def app_sessions(self) -> list[int]:
        rows = self.sql(
            "SELECT pid FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
            (APP_USER,),
        )
        return [r[0] for r in rows]

    def terminate_connections(self, wait: float = 10.0) -> int:
        rows = self.sql(
            "SELECT pid, pg_terminate_backend(pid, %s) FROM pg_stat_activity "
            "WHERE usename = %s AND pid <> pg_backend_pid()",
            (int(wait * 1000), APP_USER),
        )
        self._wait_sessions_gone([r[0] for r in rows], wait)
        return len(rows)

    def set_read_only(self, read_only: bool) -> None:
        """New transactions are read-only (as on a hot standby): a write fails with SQLSTATE
        25006 "cannot execute ... in a read-only transaction"; existing sessions see the
        change from their next statement."""
        if read_only:
            self.sql("ALTER SYSTEM SET default_transaction_read_only = on")
        else:
            self.sql("ALTER SYSTEM RESET default_transaction_read_only")
        self.sql("SELECT pg_reload_conf()")
        want = "on" if read_only else "off"
        deadline = time.monotonic() + 10
        while self.sql("SHOW default_transaction_read_only")[0][0] != want:
            if time.monotonic() > deadline:
                raise DatabaseServerError("default_transaction_read_only did not change")
            time.sleep(0.02)

    def set_lock_timeout(self, seconds: float | None) -> None:
        if seconds is None:
            self.sql("ALTER SYSTEM RESET lock_timeout")
        else:
            self.sql(f"ALTER SYSTEM SET lock_timeout = '{int(seconds * 1000)}ms'")
        self.sql("SELECT pg_reload_conf()")
        want = {"0"} if seconds is None else {f"{int(seconds * 1000)}ms", f"{seconds:g}s"}
        deadline = time.monotonic() + 10
        while self.sql("SHOW lock_timeout")[0][0] not in want:
            if time.monotonic() > deadline:
                raise DatabaseServerError("lock_timeout did not change")
            time.sleep(0.02)

    def _connect_app_database(self):
        connection = self._connect_admin(dbname=DATABASE)
        connection.autocommit = False
        return connection

    @contextlib.contextmanager
    def database_on_tmpfs(self, size_mb: int = 32) -> Iterator[Tmpfs]:
        """Database `test` (empty) in a tablespace on a `size_mb` tmpfs; the WAL stays on
        the data directory's disk. Afterwards `test` is back on the data directory."""
        volume = self._new_volume(size_mb)
        self._drop_database()
        tablespace = "tw_tmpfs"
        try:
            self.sql(f"CREATE TABLESPACE {tablespace} OWNER {APP_USER} LOCATION %s", (volume.path,))
            self._create_database(tablespace)
            yield volume
        finally:
            volume.free()
            if not self.running:
                self.process = None
                self.start()
            self._drop_database()
            self.sql(f"DROP TABLESPACE IF EXISTS {tablespace}")
            self._drop_volume(volume)
            self._create_database()


class PostgresReplica(PostgresServer):
    """A streaming replica (hot standby) of a running PostgresServer, on a port of its own:
    `pg_basebackup -R` of the primary, then replaying what the primary streams. Its
    `app_url` reads database `test` as the primary's app user does.

        replica = PostgresReplica(primary).setup()
        replica.wait_replayed()     # has replayed everything the primary has written
        replica.pause_replay(); ...; replica.resume_replay()
    """

    def __init__(self, primary: PostgresServer, stop_grace: float = 10.0):
        self.primary = primary
        super().__init__(stop_grace)

    def setup(self) -> PostgresReplica:
        started = time.monotonic()
        self._initialize()
        self.start()
        self.startup_seconds = time.monotonic() - started
        return self

    def _initialize(self) -> None:
        if not self.primary.running:
            raise DatabaseServerError("the primary of a replica must be running")
        _chown_tree(self.workdir, self.account)
        command = [
            os.path.join(self.bindir, "pg_basebackup"),
            f"--dbname=host={HOST} port={self.primary.port} user={self.primary.superuser}",
            "-D",
            self.data_dir,
            "--write-recovery-conf",  # standby.signal and primary_conninfo
            "--wal-method=stream",
            "--checkpoint=fast",
            "--no-sync",
        ]
        command, kwargs = _as_account(command, self.account)
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, **kwargs
        )
        if result.returncode != 0:
            raise DatabaseServerError(f"pg_basebackup failed:\n{result.stdout}{result.stderr}")
        # The primary's postgresql.conf came along: its port and socket folder are
        # replaced (the last setting of a name wins).
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write("\n# tests/support/db_servers.py: PostgresReplica\n")
            f.write(f"port = '{self.port}'\nunix_socket_directories = '{self.workdir}'\n")
            f.write("hot_standby = 'on'\n")

    def replay_position(self) -> int:
        """How far the replica has replayed the primary's WAL (bytes)."""
        return int(self.sql("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")[0][0])

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Returns once the replica has replayed all the WAL the primary has inserted now
        (past every commit made so far, as the positions Trackwire hands out)."""
        target = int(self.primary.sql("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")[0][0])
        started = time.monotonic()
        nudged = started
        while self.replay_position() < target:
            now = time.monotonic()
            if now > started + timeout:
                raise DatabaseServerError(
                    f"the replica replayed up to {self.replay_position()}, not {target}, "
                    f"within {timeout:.0f}s\n{self.log_tail()}"
                )
            if now - nudged > 0.5:
                # The insert position can lie past the last record (a page header) until
                # more WAL comes: a commit of an xid makes some.
                self.primary.sql("SELECT txid_current()")
                nudged = now
            time.sleep(0.01)

    def pause_replay(self) -> None:
        """WAL keeps arriving, but nothing more is applied: readers see the data as it is."""
        self.sql("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 10
        while self.sql("SELECT pg_get_wal_replay_pause_state()")[0][0] != "paused":
            if time.monotonic() > deadline:
                raise DatabaseServerError("WAL replay did not pause")
            time.sleep(0.01)

    def resume_replay(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")


class MariaDBServer(DatabaseServer):
    kind = "mysql"
    service_user = "mysql"
    superuser = "root"

    def __init__(self, stop_grace: float = 20.0):
        super().__init__(stop_grace)
        binaries = _mariadb_binaries()
        if binaries is None:
            raise DatabaseServerError(unavailable_reason("mysql") or "no MariaDB")
        self.mariadbd, self.install_db = binaries
        self.error_log = os.path.join(self.workdir, "error.log")

    def _initialize(self) -> None:
        _chown_tree(self.workdir, self.account)
        command = [
            self.install_db,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            "--innodb-log-file-size=16M",
            "--innodb-buffer-pool-size=32M",
        ]
        if os.geteuid() == 0:
            command.append(f"--user={self.account.pw_name}")
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=self.workdir, check=False
        )
        if result.returncode != 0:
            raise DatabaseServerError(f"mariadb-install-db failed:\n{result.stdout}{result.stderr}")
        _chown_tree(self.workdir, self.account)

    def _command(self) -> list[str]:
        return [
            self.mariadbd,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--port={self.port}",
            f"--bind-address={HOST}",
            f"--socket={os.path.join(self.workdir, 'mysqld.sock')}",
            f"--pid-file={os.path.join(self.workdir, 'mysqld.pid')}",
            f"--log-error={self.error_log}",
            f"--tmpdir={self.workdir}",
            *MARIADB_SETTINGS,
        ]

    def log_text(self) -> str:
        parts = []
        for path in (self.log_path, self.error_log):
            with contextlib.suppress(OSError), open(path, errors="replace") as f:
                parts.append(f.read())
        return "".join(parts)

    def log_tail(self, lines: int = 40) -> str:
        return _log_tail(self.log_path, lines // 4) + _log_tail(self.error_log, lines)

    def _stop_signal(self, mode: str) -> signal.Signals:
        # SIGTERM: a normal shutdown; immediate is a crash (InnoDB recovers on start)
        return {"fast": signal.SIGTERM, "smart": signal.SIGTERM, "immediate": signal.SIGKILL}[mode]

    def start(self, timeout: float = 60.0) -> None:
        try:
            super().start(timeout)
        except DatabaseServerError as e:
            raise DatabaseServerError(
                f"{e}\n--- {self.error_log} ---\n{_log_tail(self.error_log)}"
            ) from None

    def _connect_admin(self, timeout: float = 5.0):
        import pymysql

        return pymysql.connect(
            host=HOST,
            port=self.port,
            user=self.superuser,
            connect_timeout=timeout,
            autocommit=True,
        )

    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        connection = self._connect_admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, params or None)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()

    def _create_app_user(self) -> None:
        self.sql(f"CREATE USER '{APP_USER}'@'%'")
        self.sql(f"GRANT ALL PRIVILEGES ON `{DATABASE}`.* TO '{APP_USER}'@'%'")

    def _create_database(self, location: str | None = None) -> None:
        if location is None:
            self.sql(f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4")
            return
        # The database's folder on the tmpfs, linked from the data directory (MariaDB
        # follows a symlinked database folder on Unix).
        folder = os.path.join(location, DATABASE)
        os.mkdir(folder, 0o700)
        with open(os.path.join(folder, "db.opt"), "w") as f:
            f.write("default-character-set=utf8mb4\ndefault-collation=utf8mb4_general_ci\n")
        _chown_tree(folder, self.account)
        os.symlink(folder, os.path.join(self.data_dir, DATABASE))
        if not self.sql("SHOW DATABASES LIKE %s", (DATABASE,)):
            raise DatabaseServerError(f"MariaDB does not see the linked database folder {folder}")

    def _drop_database(self) -> None:
        self._kill_app_sessions()
        link = os.path.join(self.data_dir, DATABASE)
        self.sql(f"DROP DATABASE IF EXISTS `{DATABASE}`")
        if os.path.islink(link):  # left by database_on_tmpfs
            os.unlink(link)

    def app_sessions(self) -> list[int]:
        rows = self.sql(
            "SELECT id FROM information_schema.processlist WHERE user = %s", (APP_USER,)
        )
        return [r[0] for r in rows]

    def _kill_app_sessions(self) -> list[int]:
        ids = self.app_sessions()
        for session in ids:
            with contextlib.suppress(Exception):  # it may have ended meanwhile
                self.sql(f"KILL CONNECTION {int(session)}")
        return ids

    def terminate_connections(self, wait: float = 10.0) -> int:
        ids = self._kill_app_sessions()
        self._wait_sessions_gone(ids, wait)
        return len(ids)

    def set_read_only(self, read_only: bool) -> None:
        """`read_only`: statements that write fail for users without READ ONLY ADMIN (the app
        user) with error 1290 "... is running with the --read-only option ..."."""
        self.sql(f"SET GLOBAL read_only = {1 if read_only else 0}")

    def set_lock_timeout(self, seconds: float | None) -> None:
        value = 50 if seconds is None else max(1, round(seconds))  # whole seconds; 50: default
        self.sql(f"SET GLOBAL innodb_lock_wait_timeout = {value}")

    def _connect_app_database(self):
        import pymysql

        return pymysql.connect(
            host=HOST, port=self.port, user=self.superuser, database=DATABASE, autocommit=False
        )

    def deadlock_count(self) -> int:
        """InnoDB's own counter of deadlocks since the server started."""
        rows = self.sql("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
        return int(rows[0][1]) if rows else 0

    @contextlib.contextmanager
    def database_on_tmpfs(self, size_mb: int = 16) -> Iterator[Tmpfs]:
        """Database `test` (empty) in a folder on a `size_mb` tmpfs; redo log, undo and
        system tables stay on the data directory's disk."""
        volume = self._new_volume(size_mb)
        self._drop_database()
        try:
            self._create_database(volume.path)
            yield volume
        finally:
            volume.free()
            if not self.running:
                self.process = None
                self.start()
            self._drop_database()
            self._drop_volume(volume)
            self._create_database()


SERVER_CLASSES: dict[str, type[DatabaseServer]] = {
    "postgresql": PostgresServer,
    "mysql": MariaDBServer,
}


class DatabaseServers:
    """Throw-away servers by kind, each set up on first use and kept until `close()`."""

    def __init__(self):
        self._servers: dict[str, DatabaseServer] = {}
        self._failed: dict[str, str] = {}
        atexit.register(self.close)  # should pytest end without running the fixture's teardown

    def get(self, kind: str) -> DatabaseServer:
        """The running server of `kind`; pytest.skip()s with the reason if it cannot run
        here, raises DatabaseServerError if it should but did not start."""
        server = self._servers.get(kind)
        if server is not None:
            return server
        reason = unavailable_reason(kind)
        if reason:
            skip_or_fail(f"throw-away {kind} server unavailable: {reason}")
        if kind in self._failed:
            raise DatabaseServerError(self._failed[kind])
        server = SERVER_CLASSES[kind]()
        try:
            server.setup()
        except BaseException as e:
            self._failed[kind] = f"the throw-away {kind} server did not start: {e}"
            server.close()
            raise
        self._servers[kind] = server
        return server

    def fresh(self, kind: str) -> DatabaseServer:
        """`get(kind)`, reset: running, writable, with an empty database `test`."""
        server = self.get(kind)
        server.reset()
        return server

    def close(self) -> None:
        servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.close()

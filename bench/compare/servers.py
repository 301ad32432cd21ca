"""The two servers of `make bench-compare` and the memory of their process trees.

- `trackwire server` (the project's .venv) on a SQLite file and a local artifact folder;
- `mlflow server --backend-store-uri sqlite:///... --default-artifact-root ... --host
  127.0.0.1 --port <free> --workers 1` (MLflow's venv), as WORKLOADS.md ran it, plus
  `--artifacts-destination` for the proxied artifacts of W7 (`mlflow-artifacts:/`).

`TreeMemory` samples the resident memory of every process under a server (the server and
all its descendants) from /proc, a few times a second: the peak of the tree's sum, and
each process's peak (its VmHWM where still alive, else the sampled peak).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
SAMPLE_EVERY = 0.2
PAGE = os.sysconf("SC_PAGE_SIZE")

_LISTENING = re.compile(r"listening on (\S+):(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process started in its own session (so the whole tree can be signalled)."""

    name = ""

    def __init__(self, command: list[str], workdir: str, env: dict | None = None):
        self.workdir = workdir
        self.command = command
        self.log_path = os.path.join(workdir, f"{self.name}-server.log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.memory = TreeMemory(self.proc.pid)

    def log_tail(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]

    def _fail(self, why: str):
        self.stop()
        raise RuntimeError(f"{self.name} server {why}:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the whole process group, then SIGKILL what is left."""
        self.memory.stop()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()


class TrackwireServer(Server):
    name = "trackwire"

    def __init__(self, venv_bin: str, workdir: str, extra_args: list[str] = ()):
        self.db_path = os.path.join(workdir, "trackwire.db")
        super().__init__(
            [
                os.path.join(venv_bin, "trackwire"),
                "server",
                "--db",
                f"sqlite:///{self.db_path}",
                "--artifacts",
                os.path.join(workdir, "trackwire-artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                # The web UI stays on, as by default, on a free port: two benchmark
                # servers on one machine must not both want port 5000.
                "--ui-port",
                "0",
                *extra_args,
            ],
            workdir,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log_tail())
            if match:
                self.uri = f"grpc://{match.group(1)}:{match.group(2)}"
                self.memory.start()
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self._fail("did not start")


class MlflowServer(Server):
    name = "mlflow"

    def __init__(self, venv_bin: str, workdir: str, env: dict):
        self.db_path = os.path.join(workdir, "mlflow.db")
        self.port = free_port()
        super().__init__(
            [
                os.path.join(venv_bin, "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.db_path}",
                "--default-artifact-root",
                os.path.join(workdir, "mlflow-artifacts"),
                "--artifacts-destination",
                os.path.join(workdir, "mlflow-proxied-artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            workdir,
            env,
        )
        self.uri = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2) as response:
                    if response.status == 200:
                        self.memory.start()
                        return
            except OSError:
                pass
            time.sleep(0.25)
        self._fail("did not start")

    def serving_pid(self) -> int | None:
        """The process that holds the listening socket and used the most CPU (the one
        serving requests), from /proc/net/tcp and the tree's open files."""
        inodes = set()
        port_hex = f":{self.port:04X}"
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    for line in f.readlines()[1:]:
                        fields = line.split()
                        if fields[1].endswith(port_hex) and fields[3] == "0A":
                            inodes.add(f"socket:[{fields[9]}]")
            except OSError:
                pass
        holders = []
        for pid in descendants(self.proc.pid):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds}
            except OSError:
                continue
            if links & inodes:
                holders.append((cpu_ticks(pid), pid))
        return max(holders)[1] if holders else None


# -- /proc -----------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children(p))
    return tree


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def hwm_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class TreeMemory:
    """Peak resident memory of a process tree, sampled every SAMPLE_EVERY seconds."""

    def __init__(self, root: int):
        self.root = root
        self.peak_tree = 0
        self.peak_by_pid: dict[int, int] = {}
        self.commands: dict[int, str] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.sample()
            self._stop.set()
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.sample()

    def sample(self) -> None:
        with self._lock:
            total = 0
            for pid in descendants(self.root):
                rss = rss_bytes(pid)
                total += rss
                peak = max(rss, hwm_bytes(pid), self.peak_by_pid.get(pid, 0))
                self.peak_by_pid[pid] = peak
                if pid not in self.commands:
                    self.commands[pid] = command_line(pid)
            self.peak_tree = max(self.peak_tree, total)

    def snapshot(self) -> dict:
        """The peaks so far: the tree's summed RSS and each process's (with its command)."""
        self.sample()
        with self._lock:
            return {
                "tree_peak_bytes": self.peak_tree,
                "processes": [
                    {"pid": pid, "peak_bytes": peak, "command": self.commands.get(pid, "")[:200]}
                    for pid, peak in sorted(self.peak_by_pid.items())
                ],
            }

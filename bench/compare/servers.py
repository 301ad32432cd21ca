"""The two servers of `make bench-compare`, the memory of their process trees, and who
used the CPU.

- `trackwire server` (the project's .venv) on a SQLite file (or, with `db_url`, a
  PostgreSQL or MariaDB database) and a local artifact folder; several of them on one
  database for W6 over a fleet (`--servers`);
- `mlflow server --backend-store-uri sqlite:///... --default-artifact-root ... --host
  127.0.0.1 --port <free> --workers 1` (MLflow's venv), as WORKLOADS.md ran it, plus
  `--artifacts-destination` for the proxied artifacts of W7 (`mlflow-artifacts:/`); with
  `backend_uri` on PostgreSQL or MariaDB, and `workers` N beside a fleet of N.

`TreeMemory` samples the resident memory of every process under a server (the server and
all its descendants) from /proc, a few times a second: the peak of the tree's sum, and
each process's peak (its VmHWM where still alive, else the sampled peak).

`CpuSampler` adds up, while one workload runs, the CPU time of groups of processes (the
servers' trees, the database server's processes) from /proc, and the machine's busy time.
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

    def __init__(
        self, command: list[str], workdir: str, env: dict | None = None, log_name: str = ""
    ):
        self.workdir = workdir
        self.command = command
        self.log_path = os.path.join(workdir, log_name or f"{self.name}-server.log")
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

    def __init__(
        self,
        venv_bin: str,
        workdir: str,
        extra_args: list[str] = (),
        db_url: str | None = None,
        index: int = 0,
    ):
        """`db_url`: a PostgreSQL or MySQL URL (default: a SQLite file in `workdir`, whose
        path is `db_path`); `index` tells the servers of a fleet apart (their logs)."""
        self.db_path = None if db_url else os.path.join(workdir, "trackwire.db")
        super().__init__(
            [
                os.path.join(venv_bin, "trackwire"),
                "server",
                "--db",
                db_url or f"sqlite:///{self.db_path}",
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
            log_name=f"trackwire-server-{index}.log" if index else "",
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

    def __init__(
        self,
        venv_bin: str,
        workdir: str,
        env: dict,
        backend_uri: str | None = None,
        workers: int = 1,
    ):
        """`backend_uri`: a SQLAlchemy URL of a PostgreSQL or MySQL database (default: a
        SQLite file in `workdir`, whose path is `db_path`); `workers`: uvicorn's worker
        processes."""
        self.db_path = None if backend_uri else os.path.join(workdir, "mlflow.db")
        self.port = free_port()
        super().__init__(
            [
                os.path.join(venv_bin, "mlflow"),
                "server",
                "--backend-store-uri",
                backend_uri or f"sqlite:///{self.db_path}",
                "--default-artifact-root",
                os.path.join(workdir, "mlflow-artifacts"),
                "--artifacts-destination",
                os.path.join(workdir, "mlflow-proxied-artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            workdir,
            env,
            log_name=f"mlflow-server-{workers}-workers.log",
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


# -- CPU --------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_SAMPLE_EVERY = 0.1
CPU_MEMBERS_EVERY = 1.0


def processes_named(names: tuple[str, ...]) -> list[int]:
    """Every process whose comm is one of `names`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() in names:
                    found.append(int(entry))
        except OSError:
            pass
    return found


def children_cpu_ticks() -> int:
    """This process's reaped children's CPU (cutime + cstime): a runner's, with the writer
    processes it joined, once it has been waited for."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[13]) + int(fields[14])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already in user
    return total - idle, total


class CpuSampler:
    """The CPU seconds each group of processes used while a workload ran, and in its timed
    window.

    `groups` maps a name to a function returning the group's pids now (e.g. a server's
    tree, a database's backends). Every CPU_SAMPLE_EVERY seconds the sampler reads each
    group's processes' CPU ticks and the machine's busy ticks (/proc/stat), stamped with the
    machine's monotonic clock, which the runners' processes read too: `result(start, end)`
    gives each group's CPU between the samples around that window (a process first seen
    inside it counts whole, one that ended counts up to its last sample). The client's CPU
    over the whole call, the runner's process tree, is exact: the growth of this process's
    reaped children's time (`children_cpu_ticks`), read after the runner was waited for.
    The machine is shared: its busy time beyond the groups' is someone else's."""

    def __init__(self, groups: dict):
        self.groups = groups
        self.samples: list[tuple[float, int, dict]] = []  # (time, machine busy, ticks)
        self._members: list[tuple[str, int]] = []
        self._members_at = -1e9
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._children = children_cpu_ticks()
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample(refresh=True)
        self.client_s = (children_cpu_ticks() - self._children) / CLOCK_TICKS

    def _run(self) -> None:
        while not self._stop.wait(CPU_SAMPLE_EVERY):
            self.sample()

    def sample(self, refresh: bool = False) -> None:
        now = time.monotonic()
        if refresh or now - self._members_at >= CPU_MEMBERS_EVERY:  # (scanning /proc costs)
            self._members = [(g, pid) for g, pids in self.groups.items() for pid in pids()]
            self._members_at = now
        ticks = {}
        for group, pid in self._members:
            value = cpu_ticks(pid)
            if value:
                ticks[(group, pid)] = value
        self.samples.append((time.monotonic(), machine_ticks()[0], ticks))

    def result(self, start: float | None = None, end: float | None = None) -> dict:
        """{"wall_s", "cores", "machine_busy_s", "groups": {name: seconds}} between the
        samples around [start, end] (default: the whole call), and "call": the same for
        the whole call with "client_s"."""
        whole = self._between(0, len(self.samples) - 1)
        whole["client_s"] = self.client_s
        if start is None or end is None:
            return dict(whole, call=whole)
        first = max((i for i, s in enumerate(self.samples) if s[0] <= start), default=0)
        last = min(
            (i for i, s in enumerate(self.samples) if s[0] >= end), default=len(self.samples) - 1
        )
        return dict(self._between(first, last), call=whole)

    def _between(self, first: int, last: int) -> dict:
        t0, busy0, ticks0 = self.samples[first]
        t1, busy1, _ = self.samples[last]
        seen: dict[tuple[str, int], int] = {}
        for _t, _busy, ticks in self.samples[first : last + 1]:
            seen.update(ticks)
        groups = dict.fromkeys(self.groups, 0.0)
        for (group, pid), value in seen.items():
            groups[group] += (value - ticks0.get((group, pid), 0)) / CLOCK_TICKS
        return {
            "wall_s": t1 - t0,
            "cores": os.cpu_count(),
            "machine_busy_s": (busy1 - busy0) / CLOCK_TICKS,
            "groups": groups,
        }

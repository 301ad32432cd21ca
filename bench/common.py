"""What the benchmarks share: the machine, the server process, checks, bytes on disk, the table.

The benchmarks are scripts (`python bench/ingest.py`), so this module is imported as
`common` from the script's own folder.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import time

import trackwire
from trackwire.client import close_metric_writers

# The checkout this module belongs to (export_revision reads its git history).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 30.0

_LISTENING = re.compile(r"listening on (\S+):(\d+)")


# -- the machine ---------------------------------------------------------------------


def machine_info() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "trackwire": trackwire.__version__,
    }


def source_revision() -> str:
    """The repository's commit, with "+changes" when tracked files differ from it
    ("unknown" outside a git work tree)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+changes" if changes else commit


# -- the server process --------------------------------------------------------------


def export_revision(rev: str, folder: str) -> str:
    """Extracts client/ and server/ of git revision `rev` into `folder` (`git archive`);
    returns their PYTHONPATH, for a ServerProcess running that revision's code."""
    archive = subprocess.run(
        ["git", "-C", ROOT, "archive", rev, "client", "server"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return os.pathsep.join(os.path.join(folder, p) for p in ("client", "server"))


class ServerProcess:
    """`python -m trackwire_server` on a free port: over a SQLite file in `workdir`, or on
    the database at `db_url`; with the code at `pythonpath` (another revision's, from
    `export_revision`) if given, else this checkout's."""

    def __init__(
        self,
        workdir: str,
        ui: bool = False,
        db_url: str | None = None,
        pythonpath: str | None = None,
    ):
        self.db_path = os.path.join(workdir, "trackwire.db") if db_url is None else None
        self.log_path = os.path.join(workdir, f"server-{time.monotonic_ns()}.log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trackwire_server",
                "--db",
                db_url or f"sqlite:///{self.db_path}",
                "--artifacts",
                os.path.join(workdir, "artifacts"),
                "--port",
                "0",
                *(["--ui-port", "0"] if ui else ["--no-ui"]),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=None if pythonpath is None else {**os.environ, "PYTHONPATH": pythonpath},
        )
        self.host, self.port = self._wait_until_listening()
        self.ui_url = self._wait_for_ui() if ui else None
        self.peak_rss_bytes: int | None = None

    @property
    def target(self) -> str:
        """host:port, as gRPC channels take it."""
        return f"{self.host}:{self.port}"

    @property
    def uri(self) -> str:
        return f"grpc://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_until_listening(self) -> tuple[str, int]:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                match = _LISTENING.search(f.read())
            if match:
                return match.group(1), int(match.group(2))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            raise RuntimeError(f"the server did not start:\n{f.read()[-4000:]}")

    def _wait_for_ui(self) -> str:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                match = re.search(r"web UI on (http://\S+)", f.read())
            if match:
                return match.group(1)
            time.sleep(0.05)
        raise RuntimeError("the server printed no web UI address")

    def read_peak_rss(self) -> int | None:
        """VmHWM of the server process, in bytes (None where /proc is missing)."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def stop(self) -> None:
        """Reads the peak RSS, then SIGTERM and wait (SIGKILL if it does not stop)."""
        if self.proc.poll() is None:
            self.peak_rss_bytes = self.read_peak_rss()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def close_clients_and_stop(server: ServerProcess) -> None:
    """Stores and closes the clients' metric streams, then stops the server.

    In this order: a stream cut by the server's exit would be retried, with warnings.
    """
    try:
        close_metric_writers()
    finally:
        server.stop()


# -- checks and bytes on disk --------------------------------------------------------


def check(ok: bool, message: str) -> None:
    """Like assert, but also under python -O: a wrong answer must not be timed as a fast one."""
    if not ok:
        raise RuntimeError(message)


def database_bytes(db_path: str) -> int:
    return sum(
        os.path.getsize(db_path + suffix)
        for suffix in ("", "-wal", "-shm")
        if os.path.exists(db_path + suffix)
    )


def checkpoint(db_path: str) -> None:
    """Folds the WAL into the database file, through a connection of our own."""
    db = sqlite3.connect(db_path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


# -- the report ------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def format_value(value: float | None, decimals: int = 2) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{decimals}f}"


def print_table(headers: list[str], lines: list[list[str]], right: set[int]) -> None:
    widths = [max(len(row[i]) for row in [headers, *lines]) for i in range(len(headers))]

    def fmt(row: list[str]) -> str:
        cells = (
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        return "| " + " | ".join(cells) + " |"

    print(fmt(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in lines:
        print(fmt(row))


def print_figures(rows: list[dict]) -> None:
    """The figures table: one dict per line with figure, value, unit and optionally
    reference, ratio, target, result and decimals (for values below 100)."""
    headers = ["figure", "Trackwire", "unit", "reference", "x ref", "target", "result"]
    lines = [
        [
            row["figure"],
            format_value(row["value"], row.get("decimals", 2)),
            row["unit"],
            row.get("reference", ""),
            f"{row['ratio']:,.2f}x" if row.get("ratio") is not None else "",
            row.get("target", ""),
            row.get("result", ""),
        ]
        for row in rows
    ]
    print_table(headers, lines, right={1, 4})


def publish(results, report, to_json, json_path: str | None) -> int:
    """Prints the report, writes the JSON if asked; a FAIL is reported, not an error
    (on a shared, noisy machine one run decides nothing)."""
    report(results)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(to_json(results), f, indent=2)
        print(f"results written to {json_path}")
    return 0

"""The server process and its signals: SIGTERM stops it whichever of its threads the kernel
hands the signal to, and SIGUSR1 prints every thread's stack while it goes on serving."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from errno import ESRCH

import pytest

import trackwire
from tests.support.server_process import LISTENING, pythonpath, sqlite_server


def signal_another_thread(pid: int, signum: int) -> int:
    """Sends `signum` to one thread of process `pid` other than its main one (tgkill), as
    the kernel may do with a signal sent to the whole process; returns that thread's id.
    gRPC's threads come and go: one that has just ended is passed over."""
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "tgkill"):
        pytest.skip("this C library has no tgkill (glibc 2.30 or newer has)")
    others = sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid)
    for tid in others:
        if libc.tgkill(pid, tid, signum) == 0:
            return tid
        errno = ctypes.get_errno()
        if errno != ESRCH:
            raise OSError(errno, os.strerror(errno))
    raise AssertionError(f"no thread of {pid} but its main one took the signal: {others}")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc")
def test_sigterm_taken_by_another_thread_stops_the_server(tmp_path):
    """A process-directed signal may be delivered to any thread that does not block it;
    the main thread, asleep waiting for the stop, must still see it (it used to sleep on,
    and the server never stopped)."""
    server = sqlite_server(tmp_path / "server")
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run("0").info.run_id
        client.log_metric(run_id, "loss", 1.0, step=0)
        signal_another_thread(server.process.pid, signal.SIGTERM)
        assert server.process.wait(15) == 0, server.output()
        assert "shutting down" in server.output()
    finally:
        server.close()


def test_sigusr1_prints_every_threads_stack_and_the_server_goes_on(tmp_path):
    server = sqlite_server(tmp_path / "server")
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run("0").info.run_id
        server.dump_stacks()
        dump = server.output()[server.dumped_at :]
        assert "Current thread 0x" in dump, server.output()
        assert dump.count("(most recent call first)") >= 3, dump  # main, gRPC's, the store's
        assert " in serve\n" in dump, dump  # the main thread, waiting for the stop
        assert server.alive
        client.log_metric(run_id, "loss", 1.0, step=0)
        assert client.get_metric_history(run_id, "loss")[0].value == 1.0
        assert server.stop(15) == 0, server.output()
    finally:
        server.close()


def test_a_server_started_with_stderr_closed_serves_and_stops(tmp_path):
    """No stderr file (a service started with `2>&-`): no stack dumps (SIGUSR1 is
    ignored), but it serves, and stops on SIGTERM."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trackwire_server",
            "--port",
            "0",
            "--no-ui",
            "--db",
            f"sqlite:///{tmp_path / 'trackwire.db'}",
            "--artifacts",
            str(tmp_path / "artifacts"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": pythonpath()},
        preexec_fn=lambda: os.close(2),  # noqa: PLW1509 - the child alone, before exec
    )
    try:
        listening = LISTENING.search(process.stdout.readline())
        assert listening, process.stdout.read()
        client = trackwire.TrackwireClient(f"grpc://127.0.0.1:{listening.group(1)}")
        assert client.create_run("0").info.run_id
        process.send_signal(signal.SIGUSR1)  # nowhere to print: ignored, not fatal
        time.sleep(0.5)
        assert process.poll() is None
        assert client.create_run("0").info.run_id
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()

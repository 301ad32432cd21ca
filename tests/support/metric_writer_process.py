"""A training job in miniature, in a process of its own: it streams a known sequence of
metric points to one run with the public client until told to stop, then flushes.

    python -m tests.support.metric_writer_process URI RUN_ID KEY FLUSH_TIMEOUT

Point i has step i, value i / 4 and timestamp 1_000_000 + i; `POINTS_PER_TICK` points
are queued with `TrackwireClient.log_metric_async` every `TICK` seconds (a steady
stream of about 1,000 points a second, so that batches are in flight whenever a fault
strikes). It prints `{"ready": true}` once the client is set up. A line `where` on
stdin makes it print `{"stream_port": p}`: the port of the server its metric stream
is on (gRPC's channelz: the connection that sent the most messages), for tests of a
fleet. Any other line on stdin (or its end) stops it: it flushes (at most FLUSH_TIMEOUT seconds) and prints one JSON line,
{"points": n, "error": null | "CODE: message", "flush_seconds": s,
"duplicates_acknowledged": k}, then exits without waiting for the client's sender
thread (which, after a failed flush, would go on retrying).

`WriterProcess` runs it from a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

POINTS_PER_TICK = 20
TICK = 0.02


def value_of(step: int) -> float:
    return step / 4


def timestamp_of(step: int) -> int:
    return 1_000_000 + step


def main(argv: list[str]) -> None:
    import trackwire
    from trackwire.errors import TrackwireException

    uri, run_id, key, flush_timeout = argv[0], argv[1], argv[2], float(argv[3])
    client = trackwire.TrackwireClient(uri)
    stop = threading.Event()

    def wait_for_stop():
        for line in sys.stdin:
            if line.strip() == "where":
                print(json.dumps({"stream_port": stream_port()}), flush=True)
                continue
            break
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    print(json.dumps({"ready": True}), flush=True)
    step = 0
    while not stop.is_set():
        for _ in range(POINTS_PER_TICK):
            client.log_metric_async(run_id, key, value_of(step), step, timestamp_of(step))
            step += 1
        stop.wait(TICK)
    started = time.monotonic()
    error = None
    try:
        client.flush_metrics(timeout=flush_timeout)
    except TrackwireException as e:
        error = f"{e.code.name}: {e.message}"
    except Exception as e:  # reported, not raised: the test says what went wrong
        error = f"{type(e).__name__}: {e}"
    summary = {
        "points": step,
        "error": error,
        "flush_seconds": round(time.monotonic() - started, 2),
        "duplicates_acknowledged": client.metric_writer.duplicates_acknowledged,
    }
    print(json.dumps(summary), flush=True)
    sys.stdout.flush()
    os._exit(0)


def stream_port() -> int | None:
    """The server port of the connection in this process that sent the most messages:
    the metric stream's (its other calls, GetServerInfo, are one message each)."""
    from grpc._cython import cygrpc

    best: tuple[int, int] | None = None  # (messages sent, port)
    for channel in json.loads(cygrpc.channelz_get_top_channels(0)).get("channel", []):
        for ref in channel.get("subchannelRef", []):
            subchannel = json.loads(cygrpc.channelz_get_subchannel(int(ref["subchannelId"])))
            subchannel = subchannel["subchannel"]
            port = int(subchannel["data"]["target"].rsplit(":", 1)[1])
            for socket_ref in subchannel.get("socketRef", []):
                data = json.loads(cygrpc.channelz_get_socket(int(socket_ref["socketId"])))
                sent = int(data["socket"].get("data", {}).get("messagesSent", 0))
                if best is None or sent > best[0]:
                    best = (sent, port)
    return None if best is None else best[1]


class WriterProcess:
    """One metric_writer_process, started by `start()`, stopped by `finish()`."""

    def __init__(self, uri: str, run_id: str, key: str = "loss", flush_timeout: float = 20.0):
        self.uri, self.run_id, self.key, self.flush_timeout = uri, run_id, key, flush_timeout
        self.process: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> WriterProcess:
        from tests.support.server_process import pythonpath

        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.metric_writer_process"]
            + [self.uri, self.run_id, self.key, str(self.flush_timeout)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=root,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([root, pythonpath()])},
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if '"ready": true' in line:
                self._ready.set()

    def wait_ready(self, timeout: float = 60.0) -> None:
        if not self._ready.wait(timeout):
            self.kill()
            raise RuntimeError(
                f"metric writer not ready after {timeout:.0f}s: " + "\n".join(self.lines[-30:])
            )

    def where(self, timeout: float = 30.0) -> int | None:
        """The port of the server its metric stream is on (see the module docstring)."""
        seen = len(self.lines)
        self.process.stdin.write("where\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if line.startswith('{"stream_port"'):
                    return json.loads(line)["stream_port"]
            time.sleep(0.02)
        raise RuntimeError(
            "metric writer did not say where its stream is: " + "\n".join(self.lines[-10:])
        )

    def stop(self) -> None:
        """Tells it to stop adding points (and flush): returns at once."""
        try:
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def finish(self) -> dict:
        """Stops it (if `stop()` was not called) and waits for its flush (flush_timeout +
        30 s at most); its summary, or {"error": ...} saying why there is none."""
        self.stop()
        try:
            self.process.wait(self.flush_timeout + 30)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reader.join(10)
        for line in reversed(self.lines):
            if line.startswith("{") and '"points"' in line:
                return json.loads(line)
        return {
            "points": None,
            "error": f"no summary (exit status {self.process.returncode}): "
            + " | ".join(self.lines[-10:]),
        }

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


if __name__ == "__main__":
    main(sys.argv[1:])

"""SQLite's write-ahead log is copied into the database file by the server's own
checkpoint thread, not by the commits of the calls (see store/database.py)."""

from __future__ import annotations

import os
import threading
import time

import trackwire
from tests.conftest import RunningServer


def checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "trackwire-wal-checkpoint"]


def test_the_log_reaches_the_database_file_without_a_commit_checkpointing(tmp_path):
    db = tmp_path / "trackwire.db"
    before = len(checkpoint_threads())
    running = RunningServer(f"sqlite:///{db}", tmp_path / "artifacts")
    try:
        assert len(checkpoint_threads()) == before + 1
        client = trackwire.TrackwireClient(running.uri)
        experiment_id = client.create_experiment("checkpoints")
        size = os.path.getsize(db)
        for first in (0, 1000):
            client.create_runs(
                experiment_id,
                [
                    {"params": {"seed": str(first + i)}, "tags": {"t": "x" * 200}}
                    for i in range(1000)
                ],
            )
        # Far fewer pages than wal_autocheckpoint: only the thread can have copied them.
        deadline = time.monotonic() + 10
        while os.path.getsize(db) <= size and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.getsize(db) > size
    finally:
        running.stop()
    assert len(checkpoint_threads()) == before

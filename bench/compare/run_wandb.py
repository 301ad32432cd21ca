"""W&B's side of `make bench-compare` (offline mode, no server): W1 and W4, in its own venv.

`<bench/.venvs/wandb>/bin/python bench/compare/run_wandb.py WORKLOAD ARGS_JSON`.

W1: `run.log({"loss": v}, step=i)` in a loop, until `run.finish()` has returned (the run's
.wandb file is complete). W4: W&B offline has no read API (its `wandb-core` reads the file
to sync it), so the history is read back from the run's .wandb file with W&B's own record
schema (`wandb.proto.wandb_internal_pb2.Record`) and the file's LevelDB-log framing.
"""

from __future__ import annotations

import glob
import json
import os
import struct
import time

import workloads as w

os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")
os.environ.setdefault("WANDB_DISABLE_CODE", "true")

import wandb  # noqa: E402
from wandb.proto import wandb_internal_pb2  # noqa: E402

BLOCK = 32 * 1024
HEADER = struct.Struct("<IHB")  # crc32, length, type
FILE_HEADER_LEN = 7  # ":W&B", magic, version
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def init(args: dict, name: str):
    return wandb.init(
        project="bench-compare",
        name=name,
        dir=args["workdir"],
        mode="offline",
        settings=wandb.Settings(x_disable_stats=True, console="off", save_code=False),
    )


def warmup(args: dict) -> dict:
    run = init(args, "warmup")
    for i, v in enumerate(w.loss_values(w.WARMUP_POINTS)):
        run.log({w.W1_KEY: v}, step=i)
    run.finish()
    return {}


def w1(args: dict) -> dict:
    n = w.W1_POINTS["wandb"]
    values = w.loss_values(n)
    run = init(args, "w1")
    log = run.log
    start = time.perf_counter()
    for i, v in enumerate(values):
        log({w.W1_KEY: v}, step=i)
    run.finish()
    end = time.perf_counter()
    run_file = find_run_file(args["workdir"], run.id)
    w.check(len(read_history(run_file)) == n, "W&B: points missing from the run file")
    return {
        "points": n,
        "seconds": end - start,
        "points_per_s": n / (end - start),
        "run_file": run_file,
        "run_file_bytes": os.path.getsize(run_file),
    }


def find_run_file(workdir: str, run_id: str) -> str:
    files = glob.glob(
        os.path.join(workdir, "wandb", f"offline-run-*-{run_id}", f"run-{run_id}.wandb")
    )
    w.check(len(files) == 1, f"W&B: run file of {run_id} not found: {files}")
    return files[0]


def records(path: str):
    """The records of a .wandb file (LevelDB log framing: 32 KiB blocks, records split
    into FIRST/MIDDLE/LAST fragments)."""
    with open(path, "rb") as f:
        data = f.read()
    pos = FILE_HEADER_LEN
    pending = b""
    while pos + HEADER.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER.size:
            pos += left
            continue
        _crc, length, kind = HEADER.unpack_from(data, pos)
        pos += HEADER.size
        chunk = data[pos : pos + length]
        pos += length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""
        else:
            break  # zero padding at the end


def read_history(path: str) -> list[tuple[int, float]]:
    """(step, loss) of every history record, in file order."""
    points = []
    record = wandb_internal_pb2.Record()
    for raw in records(path):
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") != "history":
            continue
        history = record.history
        for item in history.item:
            if (item.key or "/".join(item.nested_key)) == w.W1_KEY:
                points.append((history.step.num, json.loads(item.value_json)))
    return points


def w4(args: dict) -> dict:
    n = w.W1_POINTS["wandb"]
    seconds, history = w.median_seconds(lambda: read_history(args["run_file"]), w.W4_READS)
    w.check(len(history) == n, f"W&B: read {len(history)} points of {n}")
    w.check([s for s, _ in history] == list(range(n)), "W&B: steps differ")
    return {"points": n, "seconds": seconds, "points_per_s": n / seconds}


WORKLOADS = {"warmup": warmup, "W1": w1, "W4": w4}

if __name__ == "__main__":
    w.runner_main(WORKLOADS)

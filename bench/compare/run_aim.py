"""Aim's side of `make bench-compare` (a local repository, no server): W1 and W4, in its own venv.

`<bench/.venvs/aim>/bin/python bench/compare/run_aim.py WORKLOAD ARGS_JSON`.

W1: `run.track(v, name="loss", step=i)` in a loop, until `run.close()` has returned.
W4: `Run(run_hash, repo=...).get_metric("loss", Context({})).data.items_list()`, the run
opened by its hash (opening it read-only goes through Aim's index, which sees a new run only
after background indexing, tens of seconds later), then closed.
"""

from __future__ import annotations

import os
import time

import workloads as w

os.environ.setdefault("AIM_UI_TELEMETRY_ENABLED", "0")

from aim import Run  # noqa: E402
from aim.storage.context import Context  # noqa: E402


def repo(args: dict) -> str:
    path = os.path.join(args["workdir"], "aim-repo")
    os.makedirs(path, exist_ok=True)
    return path


def warmup(args: dict) -> dict:
    run = Run(repo=repo(args), experiment="warmup")
    for i, v in enumerate(w.loss_values(w.WARMUP_POINTS)):
        run.track(v, name=w.W1_KEY, step=i)
    run.close()
    return {}


def w1(args: dict) -> dict:
    n = w.W1_POINTS["aim"]
    values = w.loss_values(n)
    run = Run(repo=repo(args), experiment="w1")
    track = run.track
    start = time.perf_counter()
    for i, v in enumerate(values):
        track(v, name=w.W1_KEY, step=i)
    run.close()
    end = time.perf_counter()
    return {
        "points": n,
        "seconds": end - start,
        "points_per_s": n / (end - start),
        "run_hash": run.hash,
    }


def read(args: dict) -> tuple[list, list]:
    run = Run(args["run_hash"], repo=repo(args))
    try:
        steps, columns = run.get_metric(w.W1_KEY, Context({})).data.items_list()
    finally:
        run.close()
    return steps, columns


def w4(args: dict) -> dict:
    n = w.W1_POINTS["aim"]
    seconds, (steps, _values) = w.median_seconds(lambda: read(args), w.W4_READS)
    w.check(list(steps) == list(range(n)), f"Aim: read {len(steps)} steps of {n}")
    return {"points": n, "seconds": seconds, "points_per_s": n / seconds}


WORKLOADS = {"warmup": warmup, "W1": w1, "W4": w4}

if __name__ == "__main__":
    w.runner_main(WORKLOADS)

"""Trackwire models benchmark: log and load a ~100 MB model through gRPC artifact streaming.

Run with `make bench` (or `python bench/models.py [--mb N] [--repeats R] [--json PATH]`).
Issue #5. One run measures, on this machine, against one server process on SQLite with
a local artifact folder:

  (a) the raw local copy of the saved model directory (shutil.copytree, same disk): the
      ceiling, in MB/s;
  (b) `trackwire.pytorch.log_model(module, "model")` of a PyTorch module of about N MB of
      float32 weights (serialise + upload through UploadArtifact), in MB/s of model
      files, and its ratio to (a) (target >= 0.5x);
  (c) `trackwire.pyfunc.load_model("runs:/<id>/model")` with an empty model cache
      (download through DownloadArtifact + deserialise), in MB/s, ratio to (a) (target
      >= 0.5x); the loaded module's predictions are checked against the original's;
  (d) for information, the transfer alone: `client.log_artifacts` of the saved directory
      and `client.download_artifacts` of it, in MB/s.

Each figure is the median of R repeats (default 3). The server runs as its own process
(`python -m trackwire_server ... --port 0`), so it has the second core. The machine is
shared and noisy: compare the ratios, measured in the same run, more than the MB/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

from common import (
    ServerProcess,
    check,
    close_clients_and_stop,
    machine_info,
    print_figures,
    publish,
    source_revision,
    verdict,
)

import trackwire

TARGET_RATIO = 0.5
MB = 1_000_000


@dataclass
class Results:
    machine: dict
    model_bytes: int
    repeats: int
    copy_s: list[float] = field(default_factory=list)
    log_s: list[float] = field(default_factory=list)
    load_s: list[float] = field(default_factory=list)
    upload_s: list[float] = field(default_factory=list)
    download_s: list[float] = field(default_factory=list)
    server_peak_rss_bytes: int | None = None
    rows: list[dict] = field(default_factory=list)

    def rate(self, times: list[float]) -> float:
        return self.model_bytes / MB / statistics.median(times)


def directory_bytes(path: str) -> int:
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _dirs, files in os.walk(path)
        for name in files
    )


def make_module(megabytes: int):
    import torch

    torch.manual_seed(0)
    width = int((megabytes * MB / 4) ** 0.5)
    return torch.nn.Sequential(torch.nn.Linear(width, width, bias=False)), width


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run_benchmark(megabytes: int, repeats: int, workdir: str) -> Results:
    import numpy as np
    import torch

    module, width = make_module(megabytes)
    probe = np.random.default_rng(0).standard_normal((4, width)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(probe)).numpy()
    saved = os.path.join(workdir, "saved")
    trackwire.pytorch.save_model(module, saved, save_state_dict=False)
    results = Results(machine_info(), directory_bytes(saved), repeats)
    results.machine["revision"] = source_revision()
    results.machine["workdir"] = workdir

    server = ServerProcess(workdir)
    try:
        trackwire.set_tracking_uri(server.uri)
        client = trackwire.TrackwireClient(server.uri)
        trackwire.set_experiment("models-bench")
        with trackwire.start_run():  # warm-up: connection and first-call costs
            trackwire.log_text("warm-up", "warmup.txt")
        for i in range(repeats):
            target = os.path.join(workdir, f"copy{i}")
            results.copy_s.append(timed(lambda t=target: shutil.copytree(saved, t))[0])
            shutil.rmtree(target)

            with trackwire.start_run() as run:
                seconds, info = timed(
                    lambda: trackwire.pytorch.log_model(module, "model", save_state_dict=False)
                )
                results.log_s.append(seconds)
                check(info.model_uri == f"runs:/{run.info.run_id}/model", "wrong model URI")
                results.upload_s.append(
                    timed(lambda r=run: client.log_artifacts(r.info.run_id, saved, "raw"))[0]
                )
            os.environ["TRACKWIRE_MODEL_CACHE"] = os.path.join(workdir, f"cache{i}")
            seconds, loaded = timed(
                lambda r=run: trackwire.pyfunc.load_model(f"runs:/{r.info.run_id}/model")
            )
            results.load_s.append(seconds)
            check(
                np.allclose(loaded.predict(probe), expected, rtol=1e-6, atol=1e-6),
                "the loaded model predicts differently",
            )
            check(
                directory_bytes(loaded.model_dir) >= results.model_bytes,
                "the downloaded model is smaller than the saved one",
            )
            dst = os.path.join(workdir, f"download{i}")
            results.download_s.append(
                timed(lambda r=run, d=dst: client.download_artifacts(r.info.run_id, "raw", d))[0]
            )
            del loaded
            shutil.rmtree(os.environ["TRACKWIRE_MODEL_CACHE"])
            shutil.rmtree(dst)
    finally:
        close_clients_and_stop(server)
        results.server_peak_rss_bytes = server.peak_rss_bytes
    return results


def table_rows(r: Results) -> list[dict]:
    ceiling = r.rate(r.copy_s)
    rows = [{"figure": "(a) raw local copy (ceiling)", "value": ceiling, "unit": "MB/s"}]
    for label, times in (
        ("(b) log_model (serialise + upload)", r.log_s),
        ("(c) load_model (download + load)", r.load_s),
    ):
        rate = r.rate(times)
        ratio = rate / ceiling
        rows.append(
            {
                "figure": label,
                "value": rate,
                "unit": "MB/s",
                "reference": "(a)",
                "ratio": ratio,
                "target": f">= {TARGET_RATIO}x",
                "result": verdict(ratio >= TARGET_RATIO),
            }
        )
    for label, times in (
        ("(d) upload only (log_artifacts)", r.upload_s),
        ("(d) download only (download_artifacts)", r.download_s),
    ):
        rate = r.rate(times)
        rows.append(
            {
                "figure": label,
                "value": rate,
                "unit": "MB/s",
                "reference": "(a)",
                "ratio": rate / ceiling,
            }
        )
    return rows


def report(r: Results) -> None:
    m = r.machine
    print(f"Trackwire {m['trackwire']} ({m['revision']}) models benchmark, {m['date']}")
    print(f"machine: {m['nproc']} x {m['cpu']}; Python {m['python']}; {m['platform']}")
    print(
        f"model: a PyTorch module of {r.model_bytes / MB:.1f} MB (model directory); server: "
        f"a separate process, SQLite + local artifact folder, gRPC on localhost; median of "
        f"{r.repeats}; files in {m['workdir']}"
    )
    print()
    print_figures(r.rows)
    print()
    for name, times in (
        ("copy", r.copy_s),
        ("log", r.log_s),
        ("load", r.load_s),
        ("upload", r.upload_s),
        ("download", r.download_s),
    ):
        print(f"{name}: {', '.join(f'{t:.2f}' for t in times)} s")
    if r.server_peak_rss_bytes:
        print(f"server peak RSS: {r.server_peak_rss_bytes / MB:.0f} MB")


def to_json(r: Results) -> dict:
    return {
        "machine": r.machine,
        "model_bytes": r.model_bytes,
        "repeats": r.repeats,
        "copy_s": r.copy_s,
        "log_s": r.log_s,
        "load_s": r.load_s,
        "upload_s": r.upload_s,
        "download_s": r.download_s,
        "server_peak_rss_bytes": r.server_peak_rss_bytes,
        "rows": r.rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--mb", type=int, default=100, help="model size in MB (default %(default)s)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeats (default %(default)s)")
    parser.add_argument(
        "--dir",
        help="where the model, the server's database and artifacts and the copies go "
        "(default: the system's temporary folder; /dev/shm keeps the disk out of it)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.mb < 1 or args.repeats < 1:
        parser.error("--mb and --repeats must be at least 1")
    with tempfile.TemporaryDirectory(prefix="trackwire-bench-", dir=args.dir) as workdir:
        results = run_benchmark(args.mb, args.repeats, workdir)
    results.rows = table_rows(results)
    return publish(results, report, to_json, args.json)


if __name__ == "__main__":
    sys.exit(main())

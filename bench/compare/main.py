"""`make bench-compare`: Trackwire against MLflow, Aim and W&B offline, same machine, same run.

Issue #7; the workloads are W1..W7 of ../shared/bench/WORKLOADS.md (beside the repository),
defined once in workloads.py. This driver:

1. creates a virtual environment per peer under bench/.venvs/ (pinned: PEERS), in parallel,
   unless one with the same pin is already there;
2. measures the raw SQLite insert ceiling (as bench/ingest.py does);
3. starts `trackwire server` (this .venv; SQLite + a local folder) and `mlflow server`
   (MLflow's venv; SQLite + a local folder, --workers 1), both on 127.0.0.1, each watched by
   a process-tree memory sampler;
4. runs every workload on each system in turn, each in a process of its own through the
   system's runner (run_<system>.py, inside the system's venv): Trackwire, then MLflow,
   then (W1, W4) Aim and W&B offline; with --repeats N the order repeats (A/B/A/B) and the
   figures are the medians;
5. stops the servers, measures their databases, prints the table and writes
   bench/results/compare.{json,md,png}, then rewrites the README's Performance section from
   them (readme.py).

`--workloads W2,W6` and `--systems trackwire,mlflow` run a part of it (a partial run: its
results go to compare-partial.*, the README is left alone).

Progress goes to stderr, the table to stdout. A workload that breaks on one system is
reported as such and the others go on; the exit status is 1 only if something broke.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)  # common.py, ingest.py

import readme  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402
import workloads as w  # noqa: E402
from common import checkpoint, database_bytes, machine_info, source_revision  # noqa: E402
from ingest import measure_raw_sqlite  # noqa: E402

PEERS = {"mlflow": "mlflow==3.17.2", "aim": "aim==3.29.1", "wandb": "wandb==0.31.0"}
SYSTEMS = ("trackwire", "mlflow", "aim", "wandb")
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7")
# What each system runs: Aim and W&B only W1 and W4.
RUNS_ON = {"trackwire": WORKLOADS, "mlflow": WORKLOADS, "aim": ("W1", "W4"), "wandb": ("W1", "W4")}
INSTALLED_MARKER = ".bench-compare-installed"
RUNNER_TIMEOUT = 1200
RAW_SQLITE_ROWS = 1_000_000

# No telemetry, no network beyond 127.0.0.1, W&B offline.
PEER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "AIM_UI_TELEMETRY_ENABLED": "0",
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "NO_PROXY": "127.0.0.1,localhost",
    "PYTHONUNBUFFERED": "1",
}


def progress(message: str) -> None:
    print(f"[bench-compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the peers' virtual environments -----------------------------------------------------


def venv_bin(venv: str) -> str:
    return os.path.join(venv, "bin")


def ensure_peer_venvs(root: str, names=tuple(PEERS)) -> dict[str, dict]:
    """One venv per peer in `names`, `<root>/<name>`, created (in parallel) unless its marker
    names the same pin; returns {name: {"python", "bin", "pin", "install_s"}}."""
    os.makedirs(root, exist_ok=True)
    venvs, installing = {}, {}
    for name, pin in PEERS.items():
        if name not in names:
            continue
        path = os.path.join(root, name)
        venvs[name] = {"bin": venv_bin(path), "python": os.path.join(venv_bin(path), "python")}
        venvs[name]["pin"] = pin
        marker = os.path.join(path, INSTALLED_MARKER)
        if installed_pin(marker) == pin:
            venvs[name]["install_s"] = 0.0
            continue
        progress(f"creating {path} with {pin}")
        subprocess.run(["rm", "-rf", path], check=True)
        log = open(os.path.join(root, f"{name}-install.log"), "wb")  # noqa: SIM115
        command = (
            f"{shlex.quote(sys.executable)} -m venv {shlex.quote(path)} && "
            f"{shlex.quote(venvs[name]['python'])} -m pip install -q "
            f"--disable-pip-version-check {shlex.quote(pin)}"
        )
        proc = subprocess.Popen(["sh", "-c", command], stdout=log, stderr=subprocess.STDOUT)
        installing[name] = (proc, log, time.monotonic(), marker)
    while installing:
        done = [name for name, (proc, *_rest) in installing.items() if proc.poll() is not None]
        if not done:
            time.sleep(0.5)
            continue
        name = done[0]
        proc, log, start, marker = installing.pop(name)
        status = proc.returncode
        log.close()
        venvs[name]["install_s"] = time.monotonic() - start
        if status != 0:
            with open(log.name, errors="replace") as f:
                raise RuntimeError(f"installing {PEERS[name]} failed:\n{f.read()[-3000:]}")
        with open(marker, "w") as f:
            f.write(PEERS[name])
        progress(f"{PEERS[name]} installed in {venvs[name]['install_s']:.0f} s")
    return venvs


def installed_pin(marker: str) -> str | None:
    try:
        with open(marker) as f:
            return f.read().strip()
    except OSError:
        return None


def installed_version(python: str, distribution: str) -> str:
    return subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


# -- running one workload on one system ---------------------------------------------------


class Runners:
    def __init__(self, venvs: dict, workdir: str):
        self.python = {"trackwire": sys.executable}
        self.python.update({name: venv["python"] for name, venv in venvs.items()})
        self.workdir = workdir
        self.env = dict(os.environ, **PEER_ENV)
        self.errors: list[str] = []

    def run(self, system: str, workload: str, args: dict) -> dict | None:
        script = os.path.join(HERE, f"run_{system}.py")
        command = [self.python[system], script, workload, json.dumps(args)]
        start = time.monotonic()
        try:
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=self.env,
                cwd=self.workdir,
                timeout=RUNNER_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return self._broke(system, workload, f"no answer in {RUNNER_TIMEOUT} s")
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(w.RESULT_PREFIX)]
        if proc.returncode != 0 or not lines:
            return self._broke(system, workload, f"exit {proc.returncode}:\n{proc.stderr[-3000:]}")
        result = json.loads(lines[-1][len(w.RESULT_PREFIX) :])
        progress(f"{workload} {system}: {summary(result)} ({time.monotonic() - start:.0f} s)")
        return result

    def _broke(self, system: str, workload: str, why: str) -> None:
        message = f"{workload} on {system} broke: {why}"
        progress(message)
        self.errors.append(message)
        return None


def summary(result: dict) -> str:
    keys = [k for k in result if k.endswith("_per_s") or k in ("frame_s", "failed_calls")]
    return ", ".join(f"{k} {result[k]:,.1f}" for k in keys) or "done"


# -- the run --------------------------------------------------------------------------------


def run_all(
    repeats: int,
    venvs: dict,
    workdir: str,
    workloads: tuple[str, ...] = WORKLOADS,
    systems: tuple[str, ...] = SYSTEMS,
) -> dict:
    """Runs `workloads` on those of `systems` that run them (RUNS_ON), in the usual order."""
    runners = Runners(venvs, workdir)
    runs: dict[str, dict[str, list]] = {s: {} for s in SYSTEMS}

    def record(system, workload, result):
        runs[system].setdefault(workload, []).append(result)
        return result

    def selected(system, workload):
        return system in systems and workload in workloads and workload in RUNS_ON[system]

    raw_sqlite_rows_s = None
    if "W1" in workloads:  # W1's row compares with it
        progress(f"raw SQLite ceiling: {w.scaled(RAW_SQLITE_ROWS):,} rows")
        raw_sqlite_rows_s = measure_raw_sqlite(
            os.path.join(workdir, "raw.db"), w.loss_values(w.scaled(RAW_SQLITE_ROWS))
        )
        os.remove(os.path.join(workdir, "raw.db"))

    artifact = os.path.join(workdir, "w7.bin")
    if "W7" in workloads:
        w.write_artifact(artifact)
    download_dir = os.path.join(workdir, "downloads")
    os.makedirs(download_dir)

    tw_dir, ml_dir, peer_dir = (os.path.join(workdir, d) for d in ("tw", "mlflow", "peers"))
    for d in (tw_dir, ml_dir, peer_dir):
        os.makedirs(d)
    tw = ml = None
    memory_w1_w6 = {}
    try:
        uri = {}
        if "trackwire" in systems:
            tw = servers.TrackwireServer(os.path.dirname(sys.executable), tw_dir)
            uri["trackwire"] = tw.uri
            progress(f"trackwire server {tw.uri} (pid {tw.proc.pid})")
        if "mlflow" in systems:
            ml = servers.MlflowServer(venvs["mlflow"]["bin"], ml_dir, runners.env)
            uri["mlflow"] = ml.uri
            progress(f"mlflow server {ml.uri} (pid {ml.proc.pid})")
        common = {"workdir": peer_dir, "download_dir": download_dir, "artifact": artifact}

        for system in systems:
            runners.run(system, "warmup", dict(common, uri=uri.get(system)))

        for workload in ("W1", "W2", "W3", "W4", "W5", "W6"):
            for rep in range(repeats):
                for system in ("trackwire", "mlflow"):
                    if not selected(system, workload):
                        continue
                    args = dict(common, uri=uri[system])
                    if workload == "W4":
                        args["run_id"] = (runs[system]["W2"][rep] or {}).get("run_id")
                        if args["run_id"] is None:
                            continue
                    record(system, workload, runners.run(system, workload, args))
                for system in ("aim", "wandb"):
                    if not selected(system, workload):
                        continue
                    if workload == "W1":
                        record(system, "W1", runners.run(system, "W1", common))
                    elif workload == "W4" and runs[system]["W1"][rep] is not None:
                        args = dict(common, **runs[system]["W1"][rep])
                        record(system, "W4", runners.run(system, "W4", args))
        if tw is not None:
            memory_w1_w6["trackwire"] = tw.memory.snapshot()
        if ml is not None:
            memory_w1_w6["mlflow"] = ml.memory.snapshot()
            memory_w1_w6["mlflow_serving_pid"] = ml.serving_pid()
        for _rep in range(repeats):
            for system in ("trackwire", "mlflow"):
                if selected(system, "W7"):
                    args = dict(common, uri=uri[system])
                    record(system, "W7", runners.run(system, "W7", args))
    finally:
        for server in (tw, ml):
            if server is not None:
                server.stop()

    database = {}
    if tw is not None:
        database["trackwire_at_stop"] = database_bytes(tw.db_path)
        checkpoint(tw.db_path)
        database["trackwire"] = database_bytes(tw.db_path)
    if ml is not None:
        database["mlflow"] = database_bytes(ml.db_path)
    return {
        "runs": runs,
        "raw_sqlite_rows_s": raw_sqlite_rows_s,
        "memory_w1_w6": memory_w1_w6,
        "database_bytes": database,
        "errors": runners.errors,
    }


def selection(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """A comma-separated subset of `allowed`, in `allowed`'s order."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    names = [n.upper() if allowed is WORKLOADS else n.lower() for n in names]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{what} must be a comma-separated list of {', '.join(allowed)}; got {text!r}"
        )
    return tuple(n for n in allowed if n in names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run each workload N times per system, A/B/A/B; figures are medians (default 1)",
    )
    parser.add_argument(
        "--workloads",
        type=lambda t: selection(t, WORKLOADS, "--workloads"),
        default=WORKLOADS,
        help="only these workloads, e.g. W2,W6 (W4 reads W2's run, and W1's on Aim and "
        "W&B: select those too); a partial run writes compare-partial.* and leaves the "
        "README alone (default: all)",
    )
    parser.add_argument(
        "--systems",
        type=lambda t: selection(t, SYSTEMS, "--systems"),
        default=SYSTEMS,
        help="only these systems, e.g. trackwire or trackwire,mlflow; only their venvs and "
        "servers are made (default: all)",
    )
    parser.add_argument(
        "--venvs", default=os.path.join(BENCH, ".venvs"), help="where the peers' venvs live"
    )
    parser.add_argument(
        "--results", default=os.path.join(BENCH, "results"), help="where results are written"
    )
    parser.add_argument(
        "--no-readme", action="store_true", help="do not rewrite the README's Performance section"
    )
    args = parser.parse_args(argv)
    if "W4" in args.workloads and not {"W1", "W2"} & set(args.workloads):
        parser.error("W4 reads the history that W2 (W1 on Aim and W&B) wrote: add W2 or W1")
    partial = args.workloads != WORKLOADS or args.systems != SYSTEMS
    started = time.monotonic()

    peers = tuple(name for name in PEERS if name in args.systems)
    venvs = ensure_peer_venvs(args.venvs, peers)
    versions = {name: "not run" for name in PEERS}
    versions.update({name: installed_version(v["python"], name) for name, v in venvs.items()})
    machine = machine_info()
    versions["trackwire"] = machine.pop("trackwire")
    with tempfile.TemporaryDirectory(prefix="trackwire-bench-compare-") as workdir:
        measured = run_all(args.repeats, venvs, workdir, args.workloads, args.systems)

    options = [f"--repeats {args.repeats}"] if args.repeats != 1 else []
    if args.workloads != WORKLOADS:
        options.append(f"--workloads {','.join(args.workloads)}")
    if args.systems != SYSTEMS:
        options.append(f"--systems {','.join(args.systems)}")
    command = "make bench-compare" + (
        f" BENCH_COMPARE_ARGS='{' '.join(options)}'" if options else ""
    )
    results = {
        "command": command,
        "scale": w.SCALE,
        "repeats": args.repeats,
        "partial": partial,
        "machine": machine,
        "revision": source_revision(),
        "versions": versions,
        "install_s": {name: v["install_s"] for name, v in venvs.items()},
        "wall_s": time.monotonic() - started,
        **measured,
    }
    results["rows"] = report.table_rows(results)
    if partial:
        results["rows"] = [r for r in results["rows"] if r["workload"] in args.workloads]
    report.print_report(results)
    paths = report.write(results, args.results)
    progress("written: " + ", ".join(paths))
    if not args.no_readme and w.SCALE == 1 and not partial:
        readme.update(os.path.join(ROOT, "README.md"), args.results)
        progress("README.md: Performance section rewritten from the results")
    return 1 if measured["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

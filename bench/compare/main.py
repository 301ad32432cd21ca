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

`--db postgresql` or `--db mysql` (issue #15) runs Trackwire and MLflow on that database
instead of SQLite files, each in a database of its own on the same server (databases.py:
dropped and created empty first), W1-W6 and the two systems by default; then W6 again over
a fleet of `--servers` Trackwire servers on the one database (default 1,3: the 8 writers
spread round-robin over them) beside `mlflow server --workers N`. Its results go to
compare-<db>.* and never into the README. Every runner call records who used the CPU
meanwhile (servers.CpuSampler): the servers, the database, the clients, the machine.

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

import databases  # noqa: E402
import readme  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402
import workloads as w  # noqa: E402
from common import checkpoint, database_bytes, machine_info, source_revision  # noqa: E402
from ingest import measure_raw_sqlite  # noqa: E402

PEERS = {"mlflow": "mlflow==3.17.2", "aim": "aim==3.29.1", "wandb": "wandb==0.31.0"}
SYSTEMS = ("trackwire", "mlflow", "aim", "wandb")
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7")
# What a --db postgresql|mysql run runs unless told otherwise (issue #15: W1-W6 beside MLflow
# on the same database, W6 with 1 and with 3 servers).
DB_WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6")
DB_SYSTEMS = ("trackwire", "mlflow")
DB_FLEETS = (1, 3)
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


def ensure_mlflow_driver(venv: dict, kind: str) -> None:
    """The database driver MLflow's SQLAlchemy needs for `kind` (databases.MLFLOW_DRIVERS,
    pinned), installed into MLflow's venv unless its marker names the same pin. MLflow's own
    marker (and `make mlflow-venv`'s) stays the bare MLflow pin: a venv made by either is
    reused, and recreating it drops the driver with its marker."""
    pin = databases.MLFLOW_DRIVERS[kind]
    marker = os.path.join(os.path.dirname(venv["bin"]), f"{INSTALLED_MARKER}-{kind}")
    if installed_pin(marker) == pin:
        return
    progress(f"installing {pin} into MLflow's venv")
    proc = subprocess.run(
        [venv["python"], "-m", "pip", "install", "-q", "--disable-pip-version-check", pin],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"installing {pin} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    with open(marker, "w") as f:
        f.write(pin)


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

    def run(
        self,
        system: str,
        workload: str,
        args: dict,
        cpu_groups: dict | None = None,
        scale: float | None = None,
    ) -> dict | None:
        """Runs `workload` in a runner process; its result, with "cpu" (who used the CPU
        meanwhile, servers.CpuSampler over `cpu_groups`) when groups are given; `scale`
        overrides BENCH_COMPARE_SCALE for this call (an untimed warm-up)."""
        script = os.path.join(HERE, f"run_{system}.py")
        command = [self.python[system], script, workload, json.dumps(args)]
        start = time.monotonic()
        sampler = servers.CpuSampler(cpu_groups or {})
        try:
            with sampler:
                proc = subprocess.run(
                    command,
                    capture_output=True,
                    text=True,
                    env=self.env
                    if scale is None
                    else dict(self.env, BENCH_COMPARE_SCALE=str(scale)),
                    cwd=self.workdir,
                    timeout=RUNNER_TIMEOUT,
                )
        except subprocess.TimeoutExpired:
            return self._broke(system, workload, f"no answer in {RUNNER_TIMEOUT} s")
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(w.RESULT_PREFIX)]
        if proc.returncode != 0 or not lines:
            return self._broke(system, workload, f"exit {proc.returncode}:\n{proc.stderr[-3000:]}")
        result = json.loads(lines[-1][len(w.RESULT_PREFIX) :])
        if cpu_groups:  # W6 gives its timed window on the machine's monotonic clock
            result["cpu"] = sampler.result(result.get("start"), result.get("end"))
        label = f"{workload} {system}" + (" (untimed warm-up)" if scale is not None else "")
        progress(f"{label}: {summary(result)} ({time.monotonic() - start:.0f} s)")
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


def fleet_key(servers: int) -> str:
    """The workload key of W6 over a fleet of `servers` (W6 itself is one server)."""
    return "W6" if servers == 1 else f"W6x{servers}"


def cpu_groups(db_url: str | None, fleet: list, mlflow: list) -> dict:
    """The process groups whose CPU each runner call records: the Trackwire servers running
    (`fleet`), the MLflow server (`mlflow[0]`), and on PostgreSQL each system's backends
    (told apart by the database name in their titles) and the server's other processes;
    on MariaDB its one process (shared by every database on it)."""

    def trees(servers):
        return lambda: [p for s in servers if s is not None for p in servers_tree(s)]

    groups = {"trackwire servers": trees(fleet), "mlflow server": trees(mlflow)}
    if db_url is None:
        return groups
    names = databases.server_processes(db_url)
    if names == ("postgres",):
        tw_name, ml_name = databases.name(db_url), databases.name(db_url) + databases.MLFLOW_SUFFIX

        def backends(database):
            return lambda: [p for p in servers.processes_named(names) if backend_of(p) == database]

        def others():
            return [
                p for p in servers.processes_named(names) if backend_of(p) not in (tw_name, ml_name)
            ]

        groups["database: Trackwire's backends"] = backends(tw_name)
        groups["database: MLflow's backends"] = backends(ml_name)
        groups["database: rest of the server (shared)"] = others
    else:
        groups["database: the whole server (shared)"] = lambda: servers.processes_named(names)
    return groups


def servers_tree(server) -> list[int]:
    return servers.descendants(server.proc.pid) if server.proc.poll() is None else []


def backend_of(pid: int) -> str | None:
    """The database a PostgreSQL backend serves, from its title
    ("postgres: 15/main: USER DATABASE HOST(PORT) STATE"); None for the server's own."""
    fields = servers.command_line(pid).split()
    return fields[3] if len(fields) >= 5 and fields[0] == "postgres:" else None


def run_all(
    repeats: int,
    venvs: dict,
    workdir: str,
    workloads: tuple[str, ...] = WORKLOADS,
    systems: tuple[str, ...] = SYSTEMS,
    db_url: str | None = None,
    fleets: tuple[int, ...] = (1,),
) -> dict:
    """Runs `workloads` on those of `systems` that run them (RUNS_ON), in the usual order;
    on `db_url` (PostgreSQL or MySQL: Trackwire's database; MLflow's beside it) instead of
    SQLite files, then W6 again over each fleet size of `fleets` above 1."""
    runners = Runners(venvs, workdir)
    runs: dict[str, dict[str, list]] = {s: {} for s in SYSTEMS}

    def record(system, workload, result):
        runs[system].setdefault(workload, []).append(result)
        return result

    def selected(system, workload):
        return system in systems and workload in workloads and workload in RUNS_ON[system]

    raw_sqlite_rows_s = None
    if "W1" in workloads and db_url is None:  # W1's row compares with it
        progress(f"raw SQLite ceiling: {w.scaled(RAW_SQLITE_ROWS):,} rows")
        raw_sqlite_rows_s = measure_raw_sqlite(
            os.path.join(workdir, "raw.db"), w.loss_values(w.scaled(RAW_SQLITE_ROWS))
        )
        os.remove(os.path.join(workdir, "raw.db"))

    ml_url = databases.mlflow_url(db_url) if db_url else None
    if db_url:
        for url in (db_url, databases.mlflow_database(db_url)):
            progress(f"emptying database {databases.name(url)}")
            databases.reset(url)

    artifact = os.path.join(workdir, "w7.bin")
    if "W7" in workloads:
        w.write_artifact(artifact)
    download_dir = os.path.join(workdir, "downloads")
    os.makedirs(download_dir)

    tw_dir, ml_dir, peer_dir = (os.path.join(workdir, d) for d in ("tw", "mlflow", "peers"))
    for d in (tw_dir, ml_dir, peer_dir):
        os.makedirs(d)
    fleet: list = []  # the Trackwire servers running; fleet[0] serves W1-W7
    ml_server: list = [None]
    tw = ml = None
    groups = cpu_groups(db_url, fleet, ml_server)
    memory_w1_w6 = {}
    try:
        uri = {}
        if "trackwire" in systems:
            tw = servers.TrackwireServer(os.path.dirname(sys.executable), tw_dir, db_url=db_url)
            fleet.append(tw)
            uri["trackwire"] = tw.uri
            progress(f"trackwire server {tw.uri} (pid {tw.proc.pid})")
        if "mlflow" in systems:
            ml = servers.MlflowServer(venvs["mlflow"]["bin"], ml_dir, runners.env, ml_url)
            ml_server[0] = ml
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
                    if workload == "W5" and system == "trackwire" and db_url:
                        args["db_url"] = db_url  # search_floor.py's statements
                    if workload == "W4":
                        args["run_id"] = (runs[system]["W2"][rep] or {}).get("run_id")
                        if args["run_id"] is None:
                            continue
                    record(system, workload, runners.run(system, workload, args, groups))
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

        # W6 over a fleet: N Trackwire servers on the one database, the writers spread
        # round-robin over them; MLflow's server restarted with --workers N.
        for size in (n for n in fleets if n > 1) if "W6" in workloads else ():
            if "trackwire" in systems:
                while len(fleet) < size:
                    server = servers.TrackwireServer(
                        os.path.dirname(sys.executable), tw_dir, db_url=db_url, index=len(fleet)
                    )
                    fleet.append(server)
                    progress(f"trackwire server {server.uri} (pid {server.proc.pid})")
            if "mlflow" in systems:
                ml_server[0].stop()
                ml_server[0] = servers.MlflowServer(
                    venvs["mlflow"]["bin"], ml_dir, runners.env, ml_url, workers=size
                )
                progress(f"mlflow server --workers {size} {ml_server[0].uri}")
            # Untimed, a W6 of one call per writer first: 8 connections reach every new
            # server and worker (MLflow's workers each open their store on a first call).
            uris = [s.uri for s in fleet[:size]]
            if "trackwire" in systems:
                runners.run("trackwire", "W6", dict(common, uri=uris[0], uris=uris), scale=0.01)
            if "mlflow" in systems:
                runners.run("mlflow", "W6", dict(common, uri=ml_server[0].uri), scale=0.01)
            for _rep in range(repeats):
                if "trackwire" in systems:
                    args = dict(common, uri=uris[0], uris=uris)
                    record(
                        "trackwire", fleet_key(size), runners.run("trackwire", "W6", args, groups)
                    )
                if "mlflow" in systems:
                    args = dict(common, uri=ml_server[0].uri)
                    record("mlflow", fleet_key(size), runners.run("mlflow", "W6", args, groups))
    finally:
        for server in [*fleet, ml_server[0]]:
            if server is not None:
                server.stop()

    database = {}
    if db_url is not None:
        if tw is not None:
            database["trackwire"] = databases.size_bytes(db_url)
        if ml is not None:
            database["mlflow"] = databases.size_bytes(databases.mlflow_database(db_url))
    else:
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


def fleet_sizes(text: str) -> tuple[int, ...]:
    """--servers: comma-separated fleet sizes, e.g. "1,3", each 1..16."""
    try:
        sizes = sorted({int(n) for n in text.split(",") if n.strip()})
    except ValueError:
        sizes = []
    if not sizes or not all(1 <= n <= 16 for n in sizes):
        raise argparse.ArgumentTypeError(f"--servers takes sizes 1..16 such as 1,3; got {text!r}")
    return tuple(sizes)


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
        default=None,
        help="only these workloads, e.g. W2,W6 (W4 reads W2's run, and W1's on Aim and "
        "W&B: select those too); a partial run writes compare-partial.* and leaves the "
        "README alone (default: all; W1-W6 with --db postgresql|mysql)",
    )
    parser.add_argument(
        "--systems",
        type=lambda t: selection(t, SYSTEMS, "--systems"),
        default=None,
        help="only these systems, e.g. trackwire or trackwire,mlflow; only their venvs and "
        "servers are made (default: all; trackwire,mlflow with --db postgresql|mysql)",
    )
    parser.add_argument(
        "--db",
        choices=databases.KINDS,
        default="sqlite",
        help="the database both Trackwire and MLflow run on: SQLite files (default), or a "
        "database of each on one PostgreSQL or MariaDB/MySQL server (--db-url); a run on "
        "postgresql or mysql writes compare-<db>.* and never touches the README",
    )
    parser.add_argument(
        "--db-url",
        help="with --db postgresql|mysql: Trackwire's database, e.g. "
        "postgresql://postgres@127.0.0.1:5432/trackwire_bench_compare; MLflow's is the same "
        f"name + '{databases.MLFLOW_SUFFIX}' on the same server. Both are DROPPED and created "
        f"empty. Default: ${databases.URL_ENV['postgresql']} / "
        f"${databases.URL_ENV['mysql']}, else {databases.DEFAULT_URLS['postgresql']} / "
        f"{databases.DEFAULT_URLS['mysql']}",
    )
    parser.add_argument(
        "--servers",
        type=fleet_sizes,
        default=None,
        help="with --db postgresql|mysql: W6 is run once per fleet size, e.g. 1,3: N "
        "`trackwire server` processes on the one database with the 8 writers spread "
        "round-robin over them, beside `mlflow server --workers N` (default 1,3; the other "
        "workloads use one server and one MLflow worker)",
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
    on_sqlite = args.db == "sqlite"
    all_workloads = WORKLOADS if on_sqlite else DB_WORKLOADS
    all_systems = SYSTEMS if on_sqlite else DB_SYSTEMS
    args.workloads = args.workloads or all_workloads
    args.systems = args.systems or all_systems
    if "W4" in args.workloads and not {"W1", "W2"} & set(args.workloads):
        parser.error("W4 reads the history that W2 (W1 on Aim and W&B) wrote: add W2 or W1")
    db_url = None
    if on_sqlite:
        if args.db_url or (args.servers and args.servers != (1,)):
            parser.error("--db-url and --servers need --db postgresql or --db mysql")
        args.servers = (1,)
    else:
        if set(args.systems) - set(DB_SYSTEMS):
            parser.error("Aim and W&B keep no database: --db runs trackwire and mlflow only")
        try:
            db_url = databases.check_url(args.db, args.db_url or databases.default_url(args.db))
        except ValueError as exc:
            parser.error(str(exc))
        args.servers = args.servers or DB_FLEETS
    partial = args.workloads != all_workloads or args.systems != all_systems
    started = time.monotonic()

    peers = tuple(name for name in PEERS if name in args.systems)
    venvs = ensure_peer_venvs(args.venvs, peers)
    if db_url and "mlflow" in venvs:
        ensure_mlflow_driver(venvs["mlflow"], args.db)
    versions = {name: "not run" for name in PEERS}
    versions.update({name: installed_version(v["python"], name) for name, v in venvs.items()})
    machine = machine_info()
    versions["trackwire"] = machine.pop("trackwire")
    with tempfile.TemporaryDirectory(prefix="trackwire-bench-compare-") as workdir:
        measured = run_all(
            args.repeats,
            venvs,
            workdir,
            args.workloads,
            args.systems,
            db_url,
            args.servers,
        )

    options = [f"--db {args.db}"] if not on_sqlite else []
    if args.db_url:
        options.append(f"--db-url {databases.without_password(args.db_url)}")
    if not on_sqlite and args.servers != DB_FLEETS:
        options.append(f"--servers {','.join(map(str, args.servers))}")
    if args.repeats != 1:
        options.append(f"--repeats {args.repeats}")
    if args.workloads != all_workloads:
        options.append(f"--workloads {','.join(args.workloads)}")
    if args.systems != all_systems:
        options.append(f"--systems {','.join(args.systems)}")
    command = "make bench-compare" + (
        f" BENCH_COMPARE_ARGS='{' '.join(options)}'" if options else ""
    )
    results = {
        "command": command,
        "scale": w.SCALE,
        "repeats": args.repeats,
        "partial": partial,
        "db": args.db,
        "db_server": databases.server_version(db_url) if db_url else None,
        "fleets": list(args.servers),
        "machine": machine,
        "revision": source_revision(),
        "versions": versions,
        "install_s": {name: v["install_s"] for name, v in venvs.items()},
        "wall_s": time.monotonic() - started,
        **measured,
    }
    results["rows"] = report.table_rows(results)
    if partial or not on_sqlite:  # (a --db run keeps its memory and database rows)
        results["rows"] = [
            r
            for r in results["rows"]
            if r["workload"] in args.workloads
            or (not on_sqlite and not partial and r["workload"] in ("mem", "disk"))
        ]
    report.print_report(results)
    paths = report.write(results, args.results)
    progress("written: " + ", ".join(paths))
    if not args.no_readme and w.SCALE == 1 and not partial and on_sqlite:
        readme.update(os.path.join(ROOT, "README.md"), args.results)
        progress("README.md: Performance section rewritten from the results")
    return 1 if measured["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

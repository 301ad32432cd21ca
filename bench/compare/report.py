"""The table of `make bench-compare`: rows, targets, the printed table, JSON, Markdown, chart.

Each row: the workload, Trackwire's figure, the peer's figure (MLflow unless the row says
otherwise), the ratio and, where issue #7 sets one, the target and PASS/FAIL. The ratio
always says how many times better Trackwire is: Trackwire / peer for rates, peer /
Trackwire for times, sizes and memory.
"""

from __future__ import annotations

import json
import os
import statistics

import workloads as w

JSON_NAME = "compare.json"
MARKDOWN_NAME = "compare.md"
CHART_NAME = "compare.png"
MB = 2**20


def median_of(results: list | None, key: str) -> float | None:
    values = [r[key] for r in results or [] if r is not None and r.get(key) is not None]
    return statistics.median(values) if values else None


def search_ms(results: list | None, pick, key: str = "search_ms") -> float | None:
    values = [pick(r[key]) for r in results or [] if r is not None and r.get(key)]
    return statistics.median(values) if values else None


def row(
    workload: str,
    what: str,
    unit: str,
    trackwire: float | None,
    peer: float | None,
    *,
    peer_name: str = "MLflow",
    lower_is_better: bool = False,
    target: float | None = None,
    also: bool = True,
    also_text: str = "",
    short: str = "",
) -> dict:
    ratio = None
    if trackwire and peer:
        ratio = peer / trackwire if lower_is_better else trackwire / peer
    result = ""
    if target is not None:
        result = "PASS" if ratio is not None and ratio >= target and also else "FAIL"
    target_text = f">= {target:,g}x" if target is not None else ""
    if also_text:
        target_text = f"{target_text} {also_text}".strip()
    return {
        "workload": workload,
        "what": what,
        "short": short or what,
        "unit": unit,
        "trackwire": trackwire,
        "peer": peer,
        "peer_name": peer_name,
        "ratio": ratio,
        "target": target_text,
        "result": result,
    }


def table_rows(r: dict) -> list[dict]:
    tw, ml = r["runs"]["trackwire"], r["runs"]["mlflow"]
    aim, wb = r["runs"]["aim"], r["runs"]["wandb"]
    w1 = median_of(tw.get("W1"), "points_per_s")
    aim_w1, wb_w1 = (
        median_of(aim.get("W1"), "points_per_s"),
        median_of(wb.get("W1"), "points_per_s"),
    )
    fastest_peer = max((v for v in (aim_w1, wb_w1) if v), default=None)
    fastest_name = "Aim" if fastest_peer is not None and fastest_peer == aim_w1 else "W&B offline"
    failed_tw = median_of(tw.get("W6"), "failed_calls")
    failed_ml = median_of(ml.get("W6"), "failed_calls")
    mem = r.get("memory_w1_w6") or {}
    tw_tree = (mem.get("trackwire") or {}).get("tree_peak_bytes")
    ml_tree = (mem.get("mlflow") or {}).get("tree_peak_bytes")
    serving = mem.get("mlflow_serving_pid")
    ml_serving = next(
        (
            p["peak_bytes"]
            for p in (mem.get("mlflow") or {}).get("processes", [])
            if p["pid"] == serving
        ),
        None,
    )
    db = r.get("database_bytes", {})
    n1 = w.W1_POINTS
    rows = [
        row(
            "W1",
            f"per-call log_metric, points/s until durable ({n1['trackwire']:,} calls; "
            f"MLflow {n1['mlflow']:,})",
            "points/s",
            w1,
            median_of(ml.get("W1"), "points_per_s"),
            target=1000,
            short="W1 log_metric per call",
        ),
        row(
            "W1",
            f"vs Aim run.track, local repo ({n1['aim']:,} calls)",
            "points/s",
            w1,
            aim_w1,
            peer_name="Aim",
        ),
        row(
            "W1",
            f"vs W&B offline wandb.log ({n1['wandb']:,} calls)",
            "points/s",
            w1,
            wb_w1,
            peer_name="W&B offline",
        ),
        row(
            "W1",
            "vs the faster of Aim and W&B offline",
            "points/s",
            w1,
            fastest_peer,
            peer_name=fastest_name,
            target=12,
            short="W1 vs faster of Aim, W&B offline",
        ),
        row(
            "W1",
            "share of raw SQLite executemany, this run",
            "points/s",
            w1,
            r.get("raw_sqlite_rows_s"),
            peer_name="raw SQLite",
        ),
        row(
            "W2",
            f"log_batch of {w.W2_BATCH:,} points ({w.W2_POINTS:,} points)",
            "points/s",
            median_of(tw.get("W2"), "points_per_s"),
            median_of(ml.get("W2"), "points_per_s"),
            target=30,
            short="W2 log_batch x 1,000",
        ),
        row(
            "W3",
            f"streaming writer vs MLflow async (synchronous=False, buffering "
            f"{w.MLFLOW_ASYNC_BUFFERING_SECONDS} s), {w.W3_POINTS:,} points until durable",
            "points/s",
            median_of(tw.get("W3"), "points_per_s"),
            median_of(ml.get("W3"), "points_per_s"),
            target=50,
            short="W3 async / streaming",
        ),
        row(
            "W4",
            f"get_metric_history of {w.W2_POINTS:,} points (median of {w.W4_READS})",
            "points/s",
            median_of(tw.get("W4"), "points_per_s"),
            median_of(ml.get("W4"), "points_per_s"),
            target=50,
            short="W4 history read",
        ),
        row(
            "W4",
            f"vs Aim, {n1['aim']:,} points (get_metric(...).data)",
            "points/s",
            median_of(tw.get("W4"), "points_per_s"),
            median_of(aim.get("W4"), "points_per_s"),
            peer_name="Aim",
        ),
        row(
            "W4",
            f"vs W&B offline, {n1['wandb']:,} points (its run file)",
            "points/s",
            median_of(tw.get("W4"), "points_per_s"),
            median_of(wb.get("W4"), "points_per_s"),
            peer_name="W&B offline",
        ),
        row(
            "W5",
            f"creating {w.W5_RUNS:,} runs, one create_run call each (MLflow: create_run + log_batch);"
            " information: a loop of calls is bounded by one round trip per run (bench/search.py"
            " measures it, about 0.5 ms here)",
            "runs/s",
            median_of(tw.get("W5"), "create_runs_per_s"),
            median_of(ml.get("W5"), "create_runs_per_s"),
            short="W5 create, 1 call per run",
        ),
        row(
            "W5",
            f"creating {w.W5_RUNS:,} runs, create_runs of {w.W5_CREATE_RUNS_BATCH:,} per call "
            "(MLflow: as above)",
            "runs/s",
            median_of(tw.get("W5"), "create_runs_batched_per_s"),
            median_of(ml.get("W5"), "create_runs_per_s"),
            target=50,
            short="W5 create, create_runs x 1,000",
        ),
        row(
            "W5",
            f"filtered top-{w.W5_TOP} search, p50 of {w.W5_SEARCH_REPEATS}",
            "ms",
            search_ms(tw.get("W5"), statistics.median),
            search_ms(ml.get("W5"), statistics.median),
            lower_is_better=True,
            target=20,
            short="W5 search top-100 p50",
        ),
        row(
            "W5",
            f"filtered top-{w.W5_TOP} search, max of {w.W5_SEARCH_REPEATS}",
            "ms",
            search_ms(tw.get("W5"), max),
            search_ms(ml.get("W5"), max),
            lower_is_better=True,
        ),
        row(
            "W5",
            f"the newest {w.W5_TOP} runs with their data, no filter (the page alone), "
            f"p50 of {w.W5_SEARCH_REPEATS}; information: the floor under the filtered search",
            "ms",
            search_ms(tw.get("W5"), statistics.median, "page_ms"),
            search_ms(ml.get("W5"), statistics.median, "page_ms"),
            lower_is_better=True,
            short="W5 newest-100 page p50",
        ),
        row(
            "W5",
            f"full search of {w.W5_RUNS:,} runs into a DataFrame",
            "s",
            median_of(tw.get("W5"), "frame_s"),
            median_of(ml.get("W5"), "frame_s"),
            lower_is_better=True,
        ),
        row(
            "W6",
            f"{w.W6_PROCESSES} processes x {w.W6_POINTS_PER_PROCESS:,} points in batches of "
            f"{w.W6_BATCH:,}, aggregate",
            "points/s",
            median_of(tw.get("W6"), "points_per_s"),
            median_of(ml.get("W6"), "points_per_s"),
            target=30,
            also=failed_tw == 0,
            also_text="and 0 failed calls",
            short="W6 8 writers, aggregate",
        ),
        {
            **row("W6", "failed calls", "calls", failed_tw, failed_ml),
            "target": "0 (Trackwire)",
            "result": "PASS" if failed_tw == 0 else "FAIL",
        },
        row(
            "W7",
            f"upload of {w.W7_BYTES / MB:,.0f} MiB (MLflow through its server, mlflow-artifacts:/)",
            "MiB/s",
            median_of(tw.get("W7"), "upload_mb_per_s"),
            median_of(ml.get("W7"), "upload_mb_per_s"),
            target=1,
            short="W7 artifact upload",
        ),
        row(
            "W7",
            f"download of {w.W7_BYTES / MB:,.0f} MiB (same)",
            "MiB/s",
            median_of(tw.get("W7"), "download_mb_per_s"),
            median_of(ml.get("W7"), "download_mb_per_s"),
            target=1,
            short="W7 artifact download",
        ),
        row(
            "W7",
            "upload, MLflow client copying into --default-artifact-root itself (no server)",
            "MiB/s",
            median_of(tw.get("W7"), "upload_mb_per_s"),
            median_of(ml.get("W7"), "direct_upload_mb_per_s"),
            peer_name="MLflow, local folder",
        ),
        row(
            "W7",
            "download, same",
            "MiB/s",
            median_of(tw.get("W7"), "download_mb_per_s"),
            median_of(ml.get("W7"), "direct_download_mb_per_s"),
            peer_name="MLflow, local folder",
        ),
        {
            **row(
                "mem",
                "server peak RSS during W1-W6, all its processes",
                "MiB",
                tw_tree / MB if tw_tree else None,
                ml_tree / MB if ml_tree else None,
                lower_is_better=True,
            ),
            "target": "Trackwire <= 150 MB (143 MiB)",
            "result": "PASS" if tw_tree and tw_tree <= 150e6 else "FAIL",
        },
        row(
            "mem",
            "vs MLflow's request-serving process alone",
            "MiB",
            tw_tree / MB if tw_tree else None,
            ml_serving / MB if ml_serving else None,
            peer_name="MLflow serving process",
            lower_is_better=True,
        ),
        row(
            "disk",
            "database after the run (Trackwire holds ~"
            f"{stored_points(r, 'trackwire') / 1e6:.1f} M points, MLflow ~"
            f"{stored_points(r, 'mlflow') / 1e6:.2f} M)",
            "MiB",
            db["trackwire"] / MB if db.get("trackwire") else None,
            db["mlflow"] / MB if db.get("mlflow") else None,
            lower_is_better=True,
        ),
    ]
    if r.get("db", "sqlite") != "sqlite":
        rows = db_rows(r, rows)
    return rows


PEERS_WITHOUT_DATABASE = ("Aim", "W&B offline", "raw SQLite")


def db_rows(r: dict, rows: list[dict]) -> list[dict]:
    """A --db run's rows: without the peers that keep no database (Aim, W&B offline, the
    raw SQLite ceiling), with W6 over each fleet (--servers) after W6's own rows."""
    tw, ml = r["runs"]["trackwire"], r["runs"]["mlflow"]
    rows = [
        rw
        for rw in rows
        if rw["peer_name"] not in PEERS_WITHOUT_DATABASE and not rw["what"].startswith("vs the")
    ]
    fleet_rows = []
    for size in r.get("fleets", []):
        if size == 1:
            continue
        key = f"W6x{size}"
        failed_tw = median_of(tw.get(key), "failed_calls")
        fleet_rows += [
            row(
                "W6",
                f"{w.W6_PROCESSES} processes as above over {size} Trackwire servers on the one "
                f"database (writer i to server i mod {size}); MLflow --workers {size}",
                "points/s",
                median_of(tw.get(key), "points_per_s"),
                median_of(ml.get(key), "points_per_s"),
                target=30,
                also=failed_tw == 0,
                also_text="and 0 failed calls",
                short=f"W6 8 writers, {size} servers",
            ),
            {
                **row(
                    "W6",
                    f"failed calls, {size} servers",
                    "calls",
                    failed_tw,
                    median_of(ml.get(key), "failed_calls"),
                ),
                "target": "0 (Trackwire)",
                "result": "PASS" if failed_tw == 0 else "FAIL",
            },
            {  # (two scalings side by side: no ratio between them)
                **row(
                    "W6",
                    f"{size} servers against 1, each system against itself (Trackwire: {size} "
                    f"servers / 1; MLflow: {size} workers / 1)",
                    "x",
                    ratio_of(
                        median_of(tw.get(key), "points_per_s"),
                        median_of(tw.get("W6"), "points_per_s"),
                    ),
                    ratio_of(
                        median_of(ml.get(key), "points_per_s"),
                        median_of(ml.get("W6"), "points_per_s"),
                    ),
                ),
                "ratio": None,
            },
        ]
    last_w6 = max((i for i, rw in enumerate(rows) if rw["workload"] == "W6"), default=len(rows) - 1)
    rows = rows[: last_w6 + 1] + fleet_rows + rows[last_w6 + 1 :]
    last_w5 = max((i for i, rw in enumerate(rows) if rw["workload"] == "W5"), default=len(rows) - 1)
    return rows[: last_w5 + 1] + floor_rows(tw, ml) + rows[last_w5 + 1 :]


def floor_rows(tw: dict, ml: dict) -> list[dict]:
    """W5's filtered search by the database alone (search_floor.py), each design's floor
    and its floor plus what delivering a page costs beyond the database (Trackwire's
    page-alone search less the same page in one statement), each against MLflow's whole
    filtered search: the ratio a server on that design could reach at best."""
    runs = tw.get("W5")
    mlflow_p50 = search_ms(ml.get("W5"), statistics.median)
    page_p50 = search_ms(runs, statistics.median, "page_ms")
    newest = median_of(runs, "newest_statement_ms")
    if newest is None or page_p50 is None:
        return []
    delivery = page_p50 - newest
    source = (
        f"p50 of {w.W5_SEARCH_REPEATS}, bench/compare/search_floor.py; driver round trip "
        f"{median_of(runs, 'round_trip_ms'):.2f} ms"
    )
    rows = [
        row(
            "W5",
            "information: delivering the newest-100 page beyond the database (Trackwire's "
            f"page-alone p50 less the same page in one statement, {newest:.2f} ms): "
            "the server, gRPC and the client",
            "ms",
            delivery,
            None,
            short="W5 page delivery",
        )
    ]
    designs = (
        ("statement_ms", "Trackwire's tables, the best single statement", "Trackwire's tables"),
        ("packed_ms", "one row per run, its values as JSON documents", "one JSON row per run"),
    )
    for key, what, short in designs:
        floor = median_of(runs, key)
        rows += [
            row(
                "W5",
                f"information: the filtered page with its values from the database alone, "
                f"{what} ({source}); MLflow: its whole filtered search",
                "ms",
                floor,
                mlflow_p50,
                lower_is_better=True,
                short=f"W5 floor, {short}",
            ),
            row(
                "W5",
                f"information: the same plus the page's delivery: the best a server on "
                f"{short} could do",
                "ms",
                floor + delivery,
                mlflow_p50,
                lower_is_better=True,
                short=f"W5 bound, {short}",
            ),
        ]
    return rows


def ratio_of(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def stored_points(r: dict, system: str) -> int:
    runs = r["runs"][system]
    total = 0
    for workload in ("W1", "W2", "W3"):
        total += sum(x["points"] for x in runs.get(workload, []) if x)
    total += sum(x["points"] for x in runs.get("W6", []) if x)
    total += sum(
        5 * x["runs"] * (2 if system == "trackwire" else 1) for x in runs.get("W5", []) if x
    )
    return total


# -- formats ---------------------------------------------------------------------------------


def number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if float(value).is_integer() and abs(value) < 100:
        return f"{value:.0f}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio_text(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def cells(rw: dict) -> list[str]:
    peer = number(rw["peer"])
    if rw["peer_name"] != "MLflow" and rw["peer"] is not None:
        peer = f"{peer} ({rw['peer_name']})"
    return [
        f"{rw['workload']} {rw['what']}",
        f"{number(rw['trackwire'])} {rw['unit']}",
        peer,
        ratio_text(rw["ratio"]),
        rw["target"],
        rw["result"],
    ]


HEADERS = ["workload", "Trackwire", "MLflow (or peer)", "ratio", "target", "result"]


def heading(r: dict) -> list[str]:
    m, v = r["machine"], r["versions"]
    if r.get("db", "sqlite") != "sqlite":
        first = (
            f"Trackwire {v['trackwire']} ({r['revision']}) against MLflow {v['mlflow']}, both on "
            f"{r['db_server']} (a database each, one server), {m['date']}"
        )
    else:
        first = (
            f"Trackwire {v['trackwire']} ({r['revision']}) against MLflow {v['mlflow']}, "
            f"Aim {v['aim']}, W&B {v['wandb']} (offline), {m['date']}"
        )
    lines = [
        first,
        f"machine: {m['nproc']} cores, {m['cpu']}; Python {m['python']}; {m['platform']}",
        f"command: {r['command']}; wall time {r['wall_s']:.0f} s (peer venvs: "
        + ", ".join(f"{k} {s:.0f} s" for k, s in r["install_s"].items())
        + ")",
    ]
    if r["scale"] != 1:
        lines.append(f"SCALED RUN (BENCH_COMPARE_SCALE={r['scale']}): not the figures")
    if r.get("partial"):
        lines.append("PARTIAL RUN (some workloads or systems only): not the published figures")
    return lines


def cpu_rows(r: dict) -> list[list[str]]:
    """Who used the CPU in each W6 run's timed window (servers.CpuSampler, between the
    samples around it; the writers' own CPU time as they measured it): CPU seconds per group
    and as a share of the machine's capacity (cores x wall time); "machine busy" includes
    whatever else ran on the machine meanwhile."""
    out = []
    for key in ["W6", *(f"W6x{n}" for n in r.get("fleets", []) if n > 1)]:
        for system, label in (("trackwire", "Trackwire"), ("mlflow", "MLflow")):
            for result in r["runs"].get(system, {}).get(key) or []:
                cpu = (result or {}).get("cpu")
                if not cpu:
                    continue
                capacity = cpu["cores"] * cpu["wall_s"]
                size = 1 if key == "W6" else int(key[3:])
                writers = result.get("writers_cpu_s", cpu.get("client_s", 0.0))
                parts = [("clients (8 writers)", writers)]
                own = "trackwire servers" if system == "trackwire" else "mlflow server"
                parts.append((own, cpu["groups"].get(own, 0.0)))
                parts += [(g, s) for g, s in cpu["groups"].items() if g.startswith("database")]
                text = ", ".join(f"{g} {s:.1f} s ({s / capacity:.0%})" for g, s in parts)
                out.append(
                    [
                        f"W6 {label}, {size} {'server' if system == 'trackwire' else 'worker'}"
                        + ("s" if size > 1 else ""),
                        f"{cpu['wall_s']:.1f} s",
                        f"{cpu['machine_busy_s']:.1f} s ({cpu['machine_busy_s'] / capacity:.0%})",
                        text,
                    ]
                )
    return out


CPU_HEADERS = ["run", "wall", "machine busy (of cores x wall)", "CPU by process group"]


def cpu_lines(r: dict) -> list[str]:
    rows = cpu_rows(r) if r.get("db", "sqlite") != "sqlite" else []
    if not rows:
        return []
    return [
        "",
        "CPU during W6 (seconds of CPU, share of cores x wall time; the database's groups "
        "include other users of the shared server):",
        "",
        "| " + " | ".join(CPU_HEADERS) + " |",
        "|---|---:|---:|---|",
        *("| " + " | ".join(rw) + " |" for rw in rows),
    ]


def print_report(r: dict) -> None:
    lines = [cells(rw) for rw in r["rows"]]
    widths = [max(len(x[i]) for x in [HEADERS, *lines]) for i in range(len(HEADERS))]
    right = {1, 2, 3}

    def fmt(values):
        return (
            "| "
            + " | ".join(
                v.rjust(wd) if i in right else v.ljust(wd)
                for i, (v, wd) in enumerate(zip(values, widths, strict=True))
            )
            + " |"
        )

    print("\n".join(heading(r)))
    print()
    print(fmt(HEADERS))
    print("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")
    for line in lines:
        print(fmt(line))
    print()
    print("ratio: how many times better Trackwire is (rates: Trackwire / peer; times, sizes,")
    print("memory: peer / Trackwire)")
    for line in cpu_lines(r):
        print(line)
    for error in r["errors"]:
        print(f"BROKE: {error.splitlines()[0]}")


def markdown(r: dict) -> str:
    out = [line + "  " for line in heading(r)]
    out += ["", "| " + " | ".join(HEADERS) + " |", "|---|---:|---:|---:|---|---|"]
    for rw in r["rows"]:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells(rw)) + " |")
    out += [
        "",
        "ratio: how many times better Trackwire is (rates: Trackwire / peer; times, sizes, "
        "memory: peer / Trackwire).",
    ]
    out += cpu_lines(r)
    out += [f"BROKE: {e.splitlines()[0]}" for e in r["errors"]]
    return "\n".join(out) + "\n"


def chart(r: dict, path: str) -> bool:
    """Draws the ratios that have a target; False (no file) if there are none (a partial
    run of Trackwire alone)."""
    rows = [rw for rw in r["rows"] if rw["ratio"] and rw["target"].startswith(">=")]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [rw["short"] for rw in rows]
    ratios = [rw["ratio"] for rw in rows]
    targets = [float(rw["target"].split()[1].rstrip("x").replace(",", "")) for rw in rows]
    colors = ["#2e7d32" if rw["result"] == "PASS" else "#c62828" for rw in rows]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
    y = range(len(rows))
    ax.barh(y, ratios, color=colors)
    ax.scatter(targets, y, marker="|", s=400, color="black", label="target", zorder=3)
    for i, (value, target) in enumerate(zip(ratios, targets, strict=True)):
        ax.text(max(value, target) * 1.15, i, ratio_text(value), va="center", fontsize=8)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(0.5, max(ratios + targets) * 4)
    ax.axvline(1, color="grey", linewidth=0.8)
    ax.set_xlabel("times better than the peer (log scale); green PASS, red FAIL")
    m, v = r["machine"], r["versions"]
    peers = (
        f"on {r['db_server']}"
        if r.get("db", "sqlite") != "sqlite"
        else f"(W1 also Aim {v['aim']}, W&B {v['wandb']} offline)"
    )
    ax.set_title(
        f"Trackwire {v['trackwire']} vs MLflow {v['mlflow']} {peers}\n"
        f"{m['nproc']} cores, {m['cpu']}, {m['date'][:10]}",
        fontsize=9,
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(r: dict, directory: str) -> list[str]:
    """compare.json, compare.md and compare.png in `directory` (a run on PostgreSQL or
    MySQL: compare-postgresql.*, compare-mysql.*; a scaled run: with a `-scaled` suffix,
    a run of some workloads or systems with `-partial`, so the published files are never
    replaced by a trial run)."""
    os.makedirs(directory, exist_ok=True)
    db = r.get("db", "sqlite")
    suffix = "" if db == "sqlite" else f"-{db}"
    suffix += "-scaled" if r["scale"] != 1 else "-partial" if r.get("partial") else ""
    paths = [
        os.path.join(directory, name.replace(".", f"{suffix}.", 1))
        for name in (JSON_NAME, MARKDOWN_NAME, CHART_NAME)
    ]
    with open(paths[0], "w") as f:
        json.dump(r, f, indent=1)
    with open(paths[1], "w") as f:
        f.write(markdown(r))
    if not chart(r, paths[2]):
        paths.pop()
    return paths

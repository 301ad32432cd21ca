"""What authentication costs: W1, W2 and the W5 filtered search with `--auth` on and off.

Run with `make bench` (or `python bench/auth.py [--rounds N] [--json PATH]`). Two
`trackwire server` processes on SQLite files of their own, one plain and one with
`--auth` (default permission READ). On the auth server the benchmark signs in as an
ordinary user, not the admin (an admin skips the grant lookups), who creates the
workloads' experiments and so holds MANAGE on them through a grant, as a team member
would. The workloads are bench-compare's (bench/compare/workloads.py, run by
bench/compare/run_trackwire.py in a process each, the token in TRACKWIRE_TOKEN):

  W1  fluent `log_metric` in a loop (the streaming writer), points/s until durable;
  W2  `log_batch` of 1,000 points per call, points/s;
  W5  the filtered top-100 search over 5,000 runs, p50 of 20 searches, ms.

Rounds alternate off/on (A/B/A/B) so that the machine's drift hits both alike; the
figure of each side is its median over the rounds, and the ratio is on/off (for W5's
latency off/on, so that below 1 always means auth costs). The target (issue #14): at
most 5% slower, a ratio of at least 0.95.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "compare"))

from servers import TrackwireServer  # noqa: E402

from trackwire.v1 import auth_service_pb2, auth_service_pb2_grpc  # noqa: E402

RUNNER = os.path.join(HERE, "compare", "run_trackwire.py")
VENV_BIN = os.path.dirname(sys.executable)
TOKEN = re.compile(r"^\s+(tw_\S+)\s*$", re.M)
TARGET = 0.95


def run_workload(name: str, uri: str, token: str | None) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("TRACKWIRE_TOKEN", None)
    if token:
        env["TRACKWIRE_TOKEN"] = token
    out = subprocess.run(
        [sys.executable, RUNNER, name, json.dumps({"uri": uri})],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.join(HERE, "compare"),
        timeout=1800,
    )
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("BENCH-COMPARE-RESULT "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"{name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def user_token(uri: str, admin_token: str) -> str:
    """An ordinary user's API token, made through AuthService with the admin's."""
    channel = grpc.insecure_channel(uri.removeprefix("grpc://"))
    auth = auth_service_pb2_grpc.AuthServiceStub(channel)
    metadata = (("authorization", f"Bearer {admin_token}"),)
    auth.CreateUser(
        auth_service_pb2.CreateUserRequest(name="bench", password="bench-password"),
        metadata=metadata,
    )
    response = auth.CreateApiToken(
        auth_service_pb2.CreateApiTokenRequest(user_name="bench", description="bench/auth.py"),
        metadata=metadata,
    )
    channel.close()
    return response.secret


def figures(name: str, result: dict) -> float:
    if name == "W5":
        return statistics.median(result["search_ms"])
    return result["points_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="off/on rounds (default 3)")
    parser.add_argument("--workloads", default="W1,W2,W5")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "auth.json"))
    args = parser.parse_args()
    names = args.workloads.split(",")
    with tempfile.TemporaryDirectory(prefix="trackwire-bench-auth-") as work:
        os.makedirs(os.path.join(work, "off"))
        os.makedirs(os.path.join(work, "on"))
        off = TrackwireServer(VENV_BIN, os.path.join(work, "off"))
        on = TrackwireServer(VENV_BIN, os.path.join(work, "on"), extra_args=["--auth"])
        try:
            admin = TOKEN.search(on.log_tail())
            if admin is None:
                raise RuntimeError(f"no admin token printed:\n{on.log_tail()}")
            token = user_token(on.uri, admin.group(1))
            for name in ("warmup",):
                run_workload(name, off.uri, None)
                run_workload(name, on.uri, token)
            measured = {n: {"off": [], "on": []} for n in names}
            for round_ in range(args.rounds):
                for name in names:
                    for side, server, tok in (("off", off, None), ("on", on, token)):
                        value = figures(name, run_workload(name, server.uri, tok))
                        measured[name][side].append(value)
                        print(f"round {round_ + 1} {name} auth {side}: {value:,.1f}", flush=True)
        finally:
            off.stop()
            on.stop()
    report = {"rounds": args.rounds, "target_ratio": TARGET, "workloads": {}}
    print("\nworkload  unit         auth off      auth on    ratio (>= 0.95 meets)")
    for name, sides in measured.items():
        off_v, on_v = statistics.median(sides["off"]), statistics.median(sides["on"])
        ratio = off_v / on_v if name == "W5" else on_v / off_v
        unit = "p50 ms" if name == "W5" else "points/s"
        report["workloads"][name] = {
            "unit": unit,
            "off": sides["off"],
            "on": sides["on"],
            "median_off": off_v,
            "median_on": on_v,
            "ratio": ratio,
            "meets": ratio >= TARGET,
        }
        print(f"{name:<8}  {unit:<9} {off_v:>12,.1f} {on_v:>12,.1f}    {ratio:.3f}")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()

"""The Node.js examples (examples/node) against a real server: a polyglot proof.

The examples load the .proto files directly with @grpc/proto-loader. One streams
10,000 points over WriteMetrics, reads them back and finishes the run; the others
drive every RPC of every service (health, tracking, artifacts, registry, auth), with a
few bad inputs and their expected statuses. These tests run them, then check through the
Python client what the Node side stored. all_services.js runs against a server without
authentication (AuthService answers FAILED_PRECONDITION but for WhoAmI) and against one
with it, with an admin's token in $TRACKWIRE_TOKEN (every AuthService RPC answers).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import socket
import subprocess

import grpc
import pytest

import trackwire
from tests.conftest import ReplacedServer, RunningServer

NODE_EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "node"
TOTAL_POINTS = 10_000

node = shutil.which("node")
npm = shutil.which("npm")

pytestmark = pytest.mark.skipif(
    node is None or npm is None,
    reason="the Node.js example needs `node` and `npm` on PATH",
)


@pytest.fixture(scope="module")
def node_modules() -> pathlib.Path:
    """examples/node/node_modules, installed from package-lock.json when missing."""
    modules = NODE_EXAMPLE / "node_modules"
    if not modules.is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_EXAMPLE,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, (
            f"npm ci failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return modules


@pytest.mark.timeout(600)
def test_node_example_streams_metrics(node_modules, server):
    result = subprocess.run(
        [node, "stream_metrics.js", f"127.0.0.1:{server.port}"],
        cwd=NODE_EXAMPLE,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    lines = result.stdout.splitlines()
    assert f"OK {TOTAL_POINTS} points" in lines, output
    run_ids = [line.split()[1] for line in lines if line.startswith("RUN ")]
    assert len(run_ids) == 1, output
    run_id = run_ids[0]

    # What Node wrote, Python reads: the same points, bit for bit.
    client = trackwire.TrackwireClient(server.uri)
    history = client.read_metric_history(run_id, "loss")
    assert history.steps == list(range(TOTAL_POINTS))
    assert history.values == [1 / (step + 1) for step in range(TOTAL_POINTS)]
    assert history.timestamps == sorted(history.timestamps)

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["loss"] == 1 / TOTAL_POINTS


def run_node(script: str, server, token: str | None = None) -> tuple[list[str], str]:
    """Runs an example against `server` (with `token` as $TRACKWIRE_TOKEN): its output
    lines (it must exit 0)."""
    env = {k: v for k, v in os.environ.items() if k != "TRACKWIRE_TOKEN"}
    if token is not None:
        env["TRACKWIRE_TOKEN"] = token
    result = subprocess.run(
        [node, script, f"127.0.0.1:{server.port}"],
        cwd=NODE_EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    return result.stdout.splitlines(), output


def service_methods(server) -> dict[str, list[str]]:
    """Every RPC of every service the server offers (listed by its reflection service),
    by full service name, from the same protos the Node examples load."""
    from google.protobuf import descriptor_pool

    from trackwire.v1 import (  # noqa: F401 (loads their services into the pool)
        artifact_service_pb2,
        auth_service_pb2,
        model_registry_service_pb2,
        tracking_service_pb2,
    )
    from trackwire_server.generated import reflection_pb2

    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        info = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        (listed,) = info(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in listed.list_services_response.service}
    services = {"grpc.health.v1.Health": ["Check"]}  # Watch is for load balancers
    for name in sorted(names):
        if name.startswith("trackwire."):
            service = descriptor_pool.Default().FindServiceByName(name)
            services[name] = sorted(m.name for m in service.methods)
    assert "trackwire.v1.AuthService" in services
    return services


def check_stored(result: dict, client: trackwire.TrackwireClient, tmp_path) -> None:
    """What all_services.js stored, read back through the Python client."""
    experiment = client.get_experiment(result["experiment_id"])
    assert experiment.name.endswith("-renamed")
    assert experiment.tags == {"team": "node", "stage": "demo"}
    run = client.get_run(result["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "node-tracking"
    assert run.data.params == {"lr": "0.01", "optimizer": "adam"}
    assert run.data.tags["framework"] == "node" and "temporary" not in run.data.tags
    assert run.data.latest_metrics["acc"].value == 1.0 and run.data.latest_metrics["acc"].step == 5
    loss = client.read_metric_history(result["run_id"], "loss")
    assert loss.steps == [1, 2, 3, 4, 5] and loss.values == [1 / s for s in range(1, 6)]
    # The streamed batches once each: the resent batch 1 was not stored again.
    streamed = client.read_metric_history(result["run_id"], "stream")
    assert streamed.steps == list(range(200))
    assert streamed.values == [s / 2 for s in range(200)]
    runs = client.search_runs([result["experiment_id"]], "params.seed IN ('0', '1', '2')")
    assert sorted(r.data.metrics["acc"] for r in runs) == [0.0, 0.1, 0.2]

    artifact = result["artifact"]
    local = client.download_artifacts(result["run_id"], artifact["path"], str(tmp_path))
    data = pathlib.Path(local).read_bytes()
    assert len(data) == artifact["size"]
    assert hashlib.sha256(data).hexdigest() == artifact["sha256"]

    model = client.get_registered_model(result["model"])
    assert model.tags == {"from": "node"}
    (version,) = client.search_model_versions(f"name = '{result['model']}'")
    assert version.run_id == result["run_id"]


def all_services_result(lines: list[str]) -> dict:
    (result,) = [json.loads(line[len("RESULT ") :]) for line in lines if line.startswith("RESULT ")]
    return result


@pytest.mark.timeout(600)
def test_node_examples_drive_every_rpc_of_every_service(node_modules, server, tmp_path):
    lines, output = run_node("all_services.js", server)
    result = all_services_result(lines)
    assert result["rpcs"] == service_methods(server), output
    assert result["auth_enabled"] is False and "OK auth 20 RPCs (auth off)" in lines, output
    check_stored(result, trackwire.TrackwireClient(server.uri), tmp_path)


@pytest.mark.timeout(600)
def test_node_examples_drive_every_rpc_with_auth_on(node_modules, backend, tmp_path):
    """With --auth and an admin's token in $TRACKWIRE_TOKEN: every call carries it (lib.js
    adds the metadata), and every AuthService RPC answers."""
    running = RunningServer(backend, tmp_path / "artifacts", auth=True)
    try:
        token = running.server.initial_admin_token
        lines, output = run_node("all_services.js", running, token)
        result = all_services_result(lines)
        assert result["rpcs"] == service_methods(running), output
        assert result["auth_enabled"] is True and "OK auth 20 RPCs (auth on)" in lines, output
        with trackwire.TrackwireClient(running.uri, token=token) as client:
            check_stored(result, client, tmp_path)
            # the runs were stamped with the token's user
            assert client.get_run(result["run_id"]).info.user_id == "admin"
        # without the token, the server refuses the example's first call
        refused = subprocess.run(
            [node, "all_services.js", f"127.0.0.1:{running.port}"],
            cwd=NODE_EXAMPLE,
            capture_output=True,
            text=True,
            timeout=120,
            env={k: v for k, v in os.environ.items() if k != "TRACKWIRE_TOKEN"},
        )
        assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
    finally:
        running.stop()


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("script", "last_line"),
    [
        ("tracking.js", "OK tracking 25 RPCs"),
        ("artifacts.js", "OK artifacts 7 RPCs"),
        ("registry.js", "OK registry 21 RPCs"),
        ("auth.js", "OK auth 20 RPCs (auth off)"),
    ],
)
def test_each_node_example_runs_on_its_own(node_modules, server, script, last_line):
    lines, output = run_node(script, server)
    assert lines[-1] == last_line, output


@pytest.mark.timeout(600)
def test_node_example_takes_a_fleet_list_and_skips_a_dead_server(node_modules, server):
    # The fleet as the Python client takes it, one of its servers down: round_robin
    # (service_config.json) sends every call to the live one.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    result = subprocess.run(
        [node, "stream_metrics.js", f"grpc://127.0.0.1:{dead},127.0.0.1:{server.port}"],
        cwd=NODE_EXAMPLE,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    assert f"OK {TOTAL_POINTS} points" in result.stdout.splitlines(), output
    # A list of names is refused with the reason (Node has no resolver for such lists).
    refused = subprocess.run(
        [node, "-e", "require('./lib.js').channelTarget('grpc://localhost:1,localhost:2')"],
        cwd=NODE_EXAMPLE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "dns:///NAME:PORT" in refused.stderr, refused.stderr


# Two clients in one Node process: the older one sees its server die; a new server then
# starts on that port and a newer client checks its health. Prints `newer <code> <ms>`.
REPLACED_SERVER_SCRIPT = r"""
const lib = require('./lib.js');
const readline = require('readline');
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const check = (client, ms) =>
  new Promise((resolve) =>
    client.health.Check({ service: '' }, { deadline: Date.now() + ms }, (err) =>
      resolve(err ? err.code : 0),
    ),
  );
(async () => {
  const target = process.argv[1];
  const older = lib.connect(target);
  console.log(`older ${await check(older, 5000)}`);
  await lines.next(); // the server is gone
  console.log(`older-after ${await check(older, 1000)}`);
  await lines.next(); // a new server listens on the port
  const newer = lib.connect(target);
  const started = Date.now();
  const code = await check(newer, 5000);
  console.log(`newer ${code} ${Date.now() - started}`);
  process.exit(0);
})();
"""


@pytest.mark.timeout(300)
def test_node_client_reaches_a_server_that_replaced_a_dead_one_on_its_port(node_modules, tmp_path):
    """As tests/test_balancing.py's test of the same name, for the Node example's
    connect(): without its own subchannel pool a new client shared the older one's
    connection to the dead server and waited for its reconnection backoff."""

    servers = ReplacedServer(tmp_path)
    process = subprocess.Popen(
        [node, "-e", REPLACED_SERVER_SCRIPT, f"127.0.0.1:{servers.port}"],
        cwd=NODE_EXAMPLE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().split() == ["older", "0"]
        servers.old.stop(0)
        process.stdin.write("gone\n")
        process.stdin.flush()
        assert process.stdout.readline().split() == [
            "older-after",
            str(grpc.StatusCode.UNAVAILABLE.value[0]),
        ]
        servers.replace()
        process.stdin.write("started\n")
        process.stdin.flush()
        word, code, elapsed_ms = process.stdout.readline().split()
        assert (word, code) == ("newer", "0"), process.stderr.read()
        assert int(elapsed_ms) < 500, f"it waited {elapsed_ms} ms for the older client's backoff"
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        servers.stop()

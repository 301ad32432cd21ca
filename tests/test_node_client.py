"""The Node.js example (examples/node) against a real server: a polyglot proof.

The example loads the .proto files directly with @grpc/proto-loader, streams
10,000 points over WriteMetrics, reads them back and finishes the run. This test
runs it, then checks through the Python client that the points are stored.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

import trackwire

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

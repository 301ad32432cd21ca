"""Three servers on one PostgreSQL (then one MariaDB) and one SeaweedFS bucket behave as
one server for the registry and for reads: 16 threads registering versions of one model
through all three get exactly 1..N, racing promotions through all three leave one
Production version, and what one server wrote every other server reads at once.

Each thread holds its own client on one server (thread i on server i % 3), so the spread
does not depend on client-side balancing (tests/test_cluster_failover.py covers that).
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import trackwire
from tests.support.cluster import Cluster, cluster_database  # noqa: F401 - fixture
from tests.support.seaweedfs import seaweedfs_s3_server  # noqa: F401 - fixture
from trackwire import errors

MODEL = "FleetModel"
THREADS = 16
EACH = 6


@pytest.fixture
def cluster(cluster_database, seaweedfs_s3_server, tmp_path):  # noqa: F811
    prefix = f"fleet-{tmp_path.name}"  # each test its own folder in the module's bucket
    with Cluster(cluster_database, tmp_path, size=3, s3=seaweedfs_s3_server, s3_prefix=prefix) as c:
        yield c


def clients(cluster: Cluster) -> list[trackwire.TrackwireClient]:
    return [trackwire.TrackwireClient(f"grpc://{target}") for target in cluster.targets]


def model_run(client: trackwire.TrackwireClient) -> str:
    run = client.create_run(client.create_experiment("fleet"))
    client.log_bytes(run.info.run_id, b"weights", "model/model.pkl")
    return run.info.run_id


def register(client: trackwire.TrackwireClient, run_id: str, start: threading.Barrier):
    """What trackwire.register_model does, `EACH` times: the first call of every thread
    races to create the registered model. Returns the version numbers it got."""
    start.wait()
    numbers = []
    for _ in range(EACH):
        with contextlib.suppress(errors.AlreadyExistsError):
            client.create_registered_model(MODEL)
        version = client.create_model_version(MODEL, f"runs:/{run_id}/model", run_id)
        numbers.append(int(version.version))
    return numbers


def test_16_threads_across_three_servers_get_versions_1_to_n(cluster):
    servers = clients(cluster)
    run_id = model_run(servers[0])
    start = threading.Barrier(THREADS)
    per_thread = [
        trackwire.TrackwireClient(f"grpc://{cluster.targets[i % 3]}") for i in range(THREADS)
    ]
    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(lambda c: register(c, run_id, start), per_thread))
    numbers = sorted(n for part in got for n in part)
    assert numbers == list(range(1, THREADS * EACH + 1)), cluster.outputs()
    assert all(part == sorted(part) for part in got)
    for client in servers:  # every server sees the same dense list
        versions = client.search_model_versions(f"name = '{MODEL}'")
        assert sorted(int(v.version) for v in versions) == numbers
        model = client.get_registered_model(MODEL)
        assert [v.version for v in model.latest_versions] == [str(THREADS * EACH)]


def test_racing_promotions_across_three_servers_leave_one_production(cluster):
    servers = clients(cluster)
    run_id = model_run(servers[1])
    servers[2].create_registered_model(MODEL)
    racers = 9
    for i in range(racers):
        servers[i % 3].create_model_version(MODEL, f"runs:/{run_id}/model", run_id)
    start = threading.Barrier(racers)

    def promote(version: int) -> str:
        start.wait()
        return (
            servers[version % 3]
            .transition_model_version_stage(
                MODEL, version, "Production", archive_existing_versions=True
            )
            .current_stage
        )

    for _ in range(3):
        with ThreadPoolExecutor(racers) as pool:
            stages = list(pool.map(promote, range(1, racers + 1)))
        assert stages == ["Production"] * racers
        for client in servers:
            versions = client.search_model_versions(f"name = '{MODEL}'")
            production = [v.version for v in versions if v.current_stage == "Production"]
            assert len(production) == 1, production
            assert {v.current_stage for v in versions} == {"Production", "Archived"}
            latest = client.get_latest_versions(MODEL, ["Production"])
            assert [v.version for v in latest] == production


def test_what_one_server_writes_the_others_read_at_once(cluster):
    a, b, c = clients(cluster)
    experiment_id = a.create_experiment("written-through-a")
    run = a.create_run(experiment_id, run_name="on-a")
    run_id = run.info.run_id
    a.log_batch(
        run_id,
        metrics=[trackwire.entities.Metric("loss", 1.0 / (s + 1), 0, s) for s in range(50)],
        params=[trackwire.entities.Param("lr", "0.1")],
    )
    b.set_tag(run_id, "seen-by", "b")
    c.log_bytes(run_id, b"hello", "notes/hello.txt")
    for client in (a, b, c):
        found = client.search_runs([experiment_id], "params.lr = '0.1' and metrics.loss < 0.5")
        assert [r.info.run_id for r in found] == [run_id]
        got = client.get_run(run_id)
        assert got.data.tags["seen-by"] == "b"
        assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(50))
        assert [f.path for f in client.list_artifacts(run_id, "notes")] == ["notes/hello.txt"]
    # The object store is shared: bytes written through one server are read through another.
    path = a.download_artifacts(run_id, "notes/hello.txt", str(cluster.folder / "down"))
    with open(path, "rb") as f:
        assert f.read() == b"hello"

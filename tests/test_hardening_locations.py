"""Issue #12, findings 1 and 2: artifact locations a client supplies, and symbolic links.

An outside tester's view: raw gRPC against a real server. A client may name at most a
folder under the server's artifact root, or a location under a prefix the operator
allowed; nothing is ever fetched from or written to a URL a client supplied; stored
locations outside the root are refused; links in artifact folders are never followed.
"""

from __future__ import annotations

import http.server
import os
import pathlib
import threading
import uuid

import grpc
import pytest

import trackwire
from tests.conftest import RunningServer
from trackwire.v1 import artifact_service_pb2 as apb
from trackwire.v1 import artifact_service_pb2_grpc as astubs
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs
from trackwire_server.store import open_database, schema

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


class RecordingHttpServer:
    """An HTTP server on 127.0.0.1 that answers every GET and remembers that it was asked."""

    def __init__(self):
        self.requests: list[str] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                recorder.requests.append(self.path)
                body = b"SECRET-CREDENTIALS"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    recorder = RecordingHttpServer()
    yield recorder
    recorder.close()


@pytest.fixture
def channel(server):
    with grpc.insecure_channel(server.uri[len("grpc://") :]) as channel:
        yield channel


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def upload(channel, run_id: str, path: str, data: bytes = b"payload"):
    header = apb.UploadArtifactHeader(run_id=run_id, path=path)
    return astubs.ArtifactServiceStub(channel).UploadArtifact(
        iter([apb.UploadArtifactRequest(header=header, data=data)])
    )


def download(channel, run_id: str, path: str) -> bytes:
    stub = astubs.ArtifactServiceStub(channel)
    request = apb.DownloadArtifactRequest(run_id=run_id, path=path)
    return b"".join(r.data for r in stub.DownloadArtifact(request))


def list_paths(channel, run_id: str, path: str = "") -> list[str]:
    stub = astubs.ArtifactServiceStub(channel)
    return [
        f.path for f in stub.ListArtifacts(apb.ListArtifactsRequest(run_id=run_id, path=path)).files
    ]


def experiment_names(channel) -> list[str]:
    response = stubs.TrackingServiceStub(channel).SearchExperiments(pb.SearchExperimentsRequest())
    return sorted(e.name for e in response.experiments)


# -- finding 1: CreateExperiment.artifact_location --------------------------------------


def test_http_location_is_refused_and_never_fetched(server, channel, http_server):
    """The tester's SSRF: an instance-metadata-like URL whose '?x=' swallows the suffix."""
    tracking = stubs.TrackingServiceStub(channel)
    location = f"http://127.0.0.1:{http_server.port}/latest/meta-data/iam?x="
    error = rpc_error(
        lambda: tracking.CreateExperiment(
            pb.CreateExperimentRequest(name="ssrf", artifact_location=location)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "artifact_location" in error.details()
    assert experiment_names(channel) == ["Default"]
    assert http_server.requests == []


def bad_locations(tmp: pathlib.Path, root: pathlib.Path) -> list[str]:
    return [
        "http://169.254.169.254/latest/meta-data/",
        "https://user:secret@example.com/x",
        "file:///etc",
        f"file://{tmp}/outside",
        f"{tmp}/outside",
        f"{root}/../outside",
        f"{root}/%2e%2e/outside",
        "../outside",
        "team/../../outside",
        "team/%2e%2e/%2e%2e/outside",
        "s3://someone-elses-bucket/prefix",
        "gs://someone-elses-bucket/prefix",
        "memory://trackwire-test",
        "c:\\windows",
        "team\x00x",
        "team/\x1b[31mred",
        "team/\u202egnp.exe",
        "x" * (512 * 1024),  # too long a location in a message the server takes
    ]


def test_locations_a_client_may_not_choose(server, channel, tmp_path):
    tracking = stubs.TrackingServiceStub(channel)
    for i, location in enumerate(bad_locations(tmp_path, server.artifacts)):
        error = rpc_error(
            lambda location=location, i=i: tracking.CreateExperiment(
                pb.CreateExperimentRequest(name=f"bad-{i}", artifact_location=location)
            )
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, location[:80]
        assert "artifact_location" in error.details(), location[:80]
    # A 10 MB value (stored before; INTERNAL on MariaDB) is refused before it is parsed.
    error = rpc_error(
        lambda: tracking.CreateExperiment(
            pb.CreateExperimentRequest(name="huge", artifact_location="x" * (10 * 1024 * 1024))
        )
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert experiment_names(channel) == ["Default"]
    assert not (tmp_path / "outside").exists()


def test_a_plain_path_outside_the_root_never_receives_an_upload(server, channel, tmp_path):
    """The tester's write: `<dir>/<run>/artifacts/...` outside the artifact root."""
    outside = tmp_path / "outside"
    tracking = stubs.TrackingServiceStub(channel)
    for location in (str(outside), f"file://{outside}"):
        try:
            experiment = tracking.CreateExperiment(
                pb.CreateExperimentRequest(name=location, artifact_location=location)
            ).experiment
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
            continue
        run = tracking.CreateRun(pb.CreateRunRequest(experiment_id=experiment.experiment_id)).run
        with pytest.raises(grpc.RpcError):
            upload(channel, run.info.run_id, "planted.txt")
    assert not outside.exists()


def test_a_relative_folder_is_kept_under_the_root(server, channel):
    tracking = stubs.TrackingServiceStub(channel)
    experiment = tracking.CreateExperiment(
        pb.CreateExperimentRequest(name="team", artifact_location="team-a/./churn/")
    ).experiment
    assert experiment.artifact_location == f"{server.artifacts}/team-a/churn"
    run = tracking.CreateRun(pb.CreateRunRequest(experiment_id=experiment.experiment_id)).run
    upload(channel, run.info.run_id, "model/weights.bin", b"w")
    stored = server.artifacts / "team-a" / "churn" / run.info.run_id / "artifacts" / "model"
    assert (stored / "weights.bin").read_bytes() == b"w"
    # The root itself, written out, is accepted too.
    same = tracking.CreateExperiment(
        pb.CreateExperimentRequest(name="abs", artifact_location=f"{server.artifacts}/abs")
    ).experiment
    assert same.artifact_location == f"{server.artifacts}/abs"


# -- the operator's allowlist ------------------------------------------------------------


@pytest.fixture
def allowing_server(backend, tmp_path):
    memory_prefix = f"memory://trackwire-allow-{uuid.uuid4().hex}"
    running = RunningServer(
        backend,
        tmp_path / "artifacts",
        artifacts_allow=(str(tmp_path / "shared" / "team"), f"{memory_prefix}/team"),
    )
    running.shared = tmp_path / "shared"
    running.memory_prefix = memory_prefix
    yield running
    running.stop()


def test_allowlisted_prefixes_on_segment_boundaries(allowing_server, tmp_path):
    server = allowing_server
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        tracking = stubs.TrackingServiceStub(channel)

        def create(name, location):
            request = pb.CreateExperimentRequest(name=name, artifact_location=location)
            return tracking.CreateExperiment(request).experiment

        team = server.shared / "team"
        local = create("local", f"{team}/churn")
        assert local.artifact_location == f"{team}/churn"
        as_url = create("as-url", f"file://{team}/fraud")
        assert as_url.artifact_location == f"{team}/fraud"
        in_memory = create("memory", f"{server.memory_prefix}/team/x")
        assert in_memory.artifact_location == f"{server.memory_prefix}/team/x"
        for i, location in enumerate(
            [
                f"{server.shared}/team-evil/x",
                f"{server.shared}/teamx",
                f"{team}/../team-evil",
                f"{team}/%2e%2e/team-evil",
                f"{server.shared}",
                f"{server.memory_prefix}/team-evil",
                f"{server.memory_prefix}/team?x=",
                f"{server.memory_prefix}/team#x",
                f"memory://user:pw@{server.memory_prefix[len('memory://') :]}/team/x",
            ]
        ):
            error = rpc_error(lambda location=location, i=i: create(f"refused-{i}", location))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, location
            assert "artifact_location" in error.details()

        # Runs of the allowed experiments store their files there.
        for experiment, expected in ((local, team / "churn"), (as_url, team / "fraud")):
            run = tracking.CreateRun(
                pb.CreateRunRequest(experiment_id=experiment.experiment_id)
            ).run
            upload(channel, run.info.run_id, "f.txt", b"allowed")
            assert (expected / run.info.run_id / "artifacts" / "f.txt").read_bytes() == b"allowed"
            assert download(channel, run.info.run_id, "f.txt") == b"allowed"
        run = tracking.CreateRun(pb.CreateRunRequest(experiment_id=in_memory.experiment_id)).run
        upload(channel, run.info.run_id, "m.txt", b"in memory")
        assert download(channel, run.info.run_id, "m.txt") == b"in memory"
    assert not (server.shared / "team-evil").exists()
    assert not (server.shared / "teamx").exists()


# -- defence in depth: locations stored before the fix -------------------------------------


def plant_location(server, run_id: str, location: str) -> None:
    """What a database written before the fix may hold: a run whose location is anywhere."""
    db = open_database(server.db_url)
    with db.connection_context():
        runs = schema.bind_tables(db).Run
        runs.update(artifact_uri=location).where(runs.run_id == run_id).execute()
    db.close()


def test_stored_locations_outside_the_root_are_refused(server, channel, tmp_path, http_server):
    tracking = stubs.TrackingServiceStub(channel)
    run_id = tracking.CreateRun(pb.CreateRunRequest(experiment_id="0")).run.info.run_id
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    for location in (
        f"http://127.0.0.1:{http_server.port}/latest/meta-data/iam?x=",
        f"http://127.0.0.1:{http_server.port}/x",
        str(outside),
        f"file://{outside}",
        f"{server.artifacts}/../outside",
        "memory://someone-else",
    ):
        plant_location(server, run_id, location)
        for call in (
            lambda: download(channel, run_id, "secret.txt"),
            lambda: list_paths(channel, run_id),
            lambda: upload(channel, run_id, "planted.txt"),
        ):
            error = rpc_error(call)
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, location
            assert "artifact location" in error.details()
    assert http_server.requests == []
    assert sorted(os.listdir(outside)) == ["secret.txt"]


# -- finding 2: symbolic links -------------------------------------------------------------


@pytest.fixture
def linked_run(server, channel, tmp_path):
    """A run with a file of its own and links planted in its artifact folder: to a folder
    and to a file outside the root, and a dangling one."""
    tracking = stubs.TrackingServiceStub(channel)
    run = tracking.CreateRun(pb.CreateRunRequest(experiment_id="0")).run
    upload(channel, run.info.run_id, "own/file.txt", b"mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    folder = pathlib.Path(run.info.artifact_uri)
    (folder / "linked-dir").symlink_to(outside, target_is_directory=True)
    (folder / "linked-file.txt").symlink_to(outside / "secret.txt")
    (folder / "own" / "deep-link").symlink_to(outside, target_is_directory=True)
    (folder / "dangling").symlink_to(outside / "not-there.txt")
    return run.info.run_id, outside


@SQLITE_ONLY
def test_links_are_not_followed_on_download(channel, linked_run):
    run_id, _ = linked_run
    for path in (
        "linked-file.txt",
        "linked-dir/secret.txt",
        "own/deep-link/secret.txt",
        "dangling",
    ):
        error = rpc_error(lambda path=path: download(channel, run_id, path))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, path
        assert "symbolic link" in error.details() and path.split("/")[0] in error.details()
    assert download(channel, run_id, "own/file.txt") == b"mine"


@SQLITE_ONLY
def test_links_are_not_listed_nor_listed_through(channel, linked_run):
    run_id, _ = linked_run
    assert list_paths(channel, run_id) == ["own"]
    assert list_paths(channel, run_id, "own") == ["own/file.txt"]
    for path in ("linked-dir", "own/deep-link"):
        error = rpc_error(lambda path=path: list_paths(channel, run_id, path))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, path
        assert "symbolic link" in error.details()


@SQLITE_ONLY
def test_uploads_never_write_through_a_link(channel, linked_run):
    run_id, outside = linked_run
    for path in ("linked-dir/new.txt", "own/deep-link/new.txt", "linked-file.txt", "dangling"):
        error = rpc_error(lambda path=path: upload(channel, run_id, path, b"overwritten"))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, path
        assert "symbolic link" in error.details()
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"


@SQLITE_ONLY
def test_a_linked_run_folder_is_refused(server, channel, tmp_path):
    """The link may be on the way to the run's folder, not in it."""
    tracking = stubs.TrackingServiceStub(channel)
    run = tracking.CreateRun(pb.CreateRunRequest(experiment_id="0")).run
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    folder = pathlib.Path(run.info.artifact_uri)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(outside, target_is_directory=True)
    for call in (
        lambda: download(channel, run.info.run_id, "secret.txt"),
        lambda: list_paths(channel, run.info.run_id),
        lambda: upload(channel, run.info.run_id, "planted.txt"),
    ):
        error = rpc_error(call)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "symbolic link" in error.details()
    assert sorted(os.listdir(outside)) == ["secret.txt"]


@SQLITE_ONLY
def test_client_download_of_a_folder_with_links_gets_the_rest(server, linked_run, tmp_path):
    run_id, _ = linked_run
    out = trackwire.TrackwireClient(server.uri).download_artifacts(run_id, "", str(tmp_path / "dl"))
    files = sorted(p.relative_to(out).as_posix() for p in pathlib.Path(out).rglob("*"))
    assert files == ["own", "own/file.txt"]

"""Fleet tracking URIs and the service config (issue #15, item 3), without a fleet:
which RPCs gRPC may retry (checked against the proto descriptors), how tracking URIs
become gRPC targets (bad ones: a ValueError naming the URI), and real servers on
loopback for the rest: a list with a dead address, and a list over TLS whose
certificates name the first host only. The fleet itself: tests/test_cluster_failover.py.
"""

from __future__ import annotations

import collections
import json
import pathlib
import threading
import time
from concurrent import futures

import grpc
import pytest

import trackwire
from tests.conftest import ReplacedServer, RunningServer
from tests.support.certificates import CertificateAuthority
from tests.support.channelz import calls_by_port, served_between
from trackwire.connection import channel_target, connect
from trackwire.errors import NotFoundError, UnavailableError
from trackwire.v1 import run_pb2, tracking_service_pb2_grpc
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_protocol import calls, service_config
from trackwire_protocol.channel import CHANNEL_OPTIONS
from trackwire_server.app import create_server
from trackwire_server.config import ServerConfig

# -- which calls gRPC retries --------------------------------------------------------


def test_every_rpc_is_classified():
    unclassified = [
        name
        for name, method in service_config.methods()
        if service_config.classify(name, method) == "unclassified"
    ]
    assert not unclassified, (
        f"new RPCs {unclassified}: add each to service_config.READS (changes nothing), give "
        "its request a request_id the server deduplicates, or add it to NOT_RETRIED with why"
    )


def test_the_lists_name_real_rpcs_without_request_ids():
    methods = dict(service_config.methods())
    listed = set(service_config.READS) | set(service_config.NOT_RETRIED)
    assert not listed - set(methods), f"no such RPCs: {sorted(listed - set(methods))}"
    assert not set(service_config.READS) & set(service_config.NOT_RETRIED)
    for name in listed:
        # A read has nothing to deduplicate; a call with a request id is safe to repeat.
        assert "request_id" not in methods[name].input_type.fields_by_name, name


def test_service_config_retries_reads_and_deduplicated_writes_only():
    config = json.loads(dict(CHANNEL_OPTIONS)["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    [method_config] = config["methodConfig"]
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    retried = {f"{n['service']}/{n['method']}" for n in method_config["name"]}
    for name in (
        "TrackingService/GetRun",
        "TrackingService/SearchRuns",
        "TrackingService/ReadMetricHistory",
        "TrackingService/SetRunTag",
        "TrackingService/CreateRun",
        "TrackingService/LogBatch",
        "ModelRegistryService/CreateModelVersion",
        "AuthService/WhoAmI",
    ):
        assert f"trackwire.v1.{name}" in retried, name
    for name in (
        "TrackingService/WriteMetrics",
        "ArtifactService/UploadArtifact",
        "TrackingService/PurgeRun",
        "AuthService/SignIn",
        "AuthService/CreateUser",
        "AuthService/CreateApiToken",
    ):
        assert f"trackwire.v1.{name}" not in retried, name


# -- tracking URIs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "target", "authority"),
    [
        ("grpc://127.0.0.1:50051", "127.0.0.1:50051", None),
        ("localhost:50051", "localhost:50051", None),
        ("grpcs://tracking.example.com:443/", "tracking.example.com:443", None),
        ("grpc://127.0.0.1:1,127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2", "127.0.0.1:1"),
        ("grpc://10.0.0.1:1, 10.0.0.2:1", "ipv4:10.0.0.1:1,10.0.0.2:1", "10.0.0.1:1"),
        ("grpc://[::1]:1,[::1]:2", "ipv6:[::1]:1,[::1]:2", "[::1]:1"),
        # Names are resolved when the client connects; localhost's IPv4 address is used.
        ("grpcs://localhost:1,localhost:2", "ipv4:127.0.0.1:1,127.0.0.1:2", "localhost:1"),
        ("dns:///localhost:50051", "dns:///localhost:50051", None),
    ],
)
def test_tracking_uris_become_grpc_targets(uri, target, authority):
    found = channel_target(uri)
    assert found.target == target
    assert dict(found.options).get("grpc.default_authority") == authority


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("grpc://127.0.0.1:1,,127.0.0.1:2", "empty server"),
        ("grpc://127.0.0.1:1,", "empty server"),
        ("grpc://127.0.0.1:1,127.0.0.1", "is not host:port"),
        ("grpc://127.0.0.1:1,127.0.0.1:http", "not a number from 1 to 65535"),
        ("grpc://127.0.0.1:1,127.0.0.1:70000", "not a number from 1 to 65535"),
        ("grpc://::1:5,::1:6", "in brackets"),
        ("grpc://[127.0.0.1]:5,[::1]:6", "not an IPv6 address"),
        ("grpc://127.0.0.1:1,[::1]:2", "mixes IPv4 and IPv6"),
        ("grpc://127.0.0.1:1,127.0.0.1:1", "twice"),
        ("grpc://127.0.0.1:1/experiments,127.0.0.1:2", "no path"),
        ("grpc://nowhere.invalid:1,nothere.invalid:2", "no server's name resolves"),
        ("dns:///", "dns:///name:port"),
        ("http://127.0.0.1:1,127.0.0.1:2", "neither grpc://"),
    ],
)
def test_bad_tracking_uris_are_refused_naming_the_uri(uri, says):
    with pytest.raises(ValueError, match=says) as raised:
        channel_target(uri)
    assert f"'{uri}'" in str(raised.value)
    with pytest.raises(ValueError, match=says):
        trackwire.TrackwireClient(uri)


# -- real servers --------------------------------------------------------------------


@pytest.fixture
def two_servers(tmp_path):
    servers = [
        RunningServer(f"sqlite:///{tmp_path / f's{i}.db'}", tmp_path / f"artifacts{i}")
        for i in range(2)
    ]
    yield servers
    for server in servers:
        server.stop()


def dead_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_by(connection, ports: set[int], at_least: int = 20, within: float = 30.0) -> set:
    """The ports that answered GetServerInfo calls made on `connection` (at least
    `at_least` calls, then on until all `ports` answered or `within` seconds passed: a
    subchannel may connect a little later than the first on a loaded machine)."""
    before = calls_by_port()
    deadline = time.monotonic() + within
    calls = 0
    while True:
        connection.tracking.GetServerInfo(pb.GetServerInfoRequest(), timeout=20)
        calls += 1
        served = served_between(before, calls_by_port())
        if calls >= at_least and (served >= ports or time.monotonic() > deadline):
            return served


def test_a_list_with_a_dead_server_spreads_calls_over_the_live_ones(two_servers):
    ports = [server.port for server in two_servers]
    uri = f"grpc://127.0.0.1:{ports[0]},127.0.0.1:{dead_port()},127.0.0.1:{ports[1]}"
    connection, _ = connect(uri)
    try:
        # Raw stubs: no retry loop of the client's, only the channel's policy.
        assert served_by(connection, set(ports)) == set(ports)
    finally:
        connection.close()


def test_a_tls_fleet_is_checked_against_its_first_host_name(tmp_path, monkeypatch):
    ca = CertificateAuthority("Fleet CA")
    keys = ca.issue("trackwire", hosts=["localhost"], server=True).write(tmp_path / "srv")
    monkeypatch.setenv("TRACKWIRE_TLS_CA", str(ca.write(tmp_path / "ca.crt")))
    for name in ("TRACKWIRE_TLS_CLIENT_CERT", "TRACKWIRE_TLS_CLIENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    servers = [
        RunningServer(
            f"sqlite:///{tmp_path / f's{i}.db'}",
            tmp_path / f"artifacts{i}",
            tls_cert=str(keys.cert_path),
            tls_key=str(keys.key_path),
        )
        for i in range(2)
    ]
    try:
        ports = [server.port for server in servers]
        # The names resolve to 127.0.0.1, which the certificate does not name: the
        # handshake checks "localhost", the first host.
        connection, _ = connect(f"grpcs://localhost:{ports[0]},localhost:{ports[1]}")
        assert served_by(connection, set(ports)) == set(ports)
        connection.close()
        # Addresses as the first host: the certificate does not name it, refused.
        connection, _ = connect(f"grpcs://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}")
        with pytest.raises(grpc.RpcError) as refused:
            connection.tracking.GetServerInfo(pb.GetServerInfoRequest(), timeout=20)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        connection.close()
    finally:
        for server in servers:
            server.stop()


# -- what is sent again, and what never is -------------------------------------------


class Unavailable(tracking_service_pb2_grpc.TrackingServiceServicer):
    """A server that answers two calls UNAVAILABLE and counts the attempts: one that is
    safe to repeat (SetRunTag, with its request id) and one that is not (PurgeRun)."""

    def __init__(self):
        self.attempts: collections.Counter = collections.Counter()

    def SetRunTag(self, request, context):
        self.attempts["SetRunTag"] += 1
        context.abort(grpc.StatusCode.UNAVAILABLE, "down for a moment")

    def PurgeRun(self, request, context):
        self.attempts["PurgeRun"] += 1
        context.abort(grpc.StatusCode.UNAVAILABLE, "down for a moment")


@pytest.fixture
def unavailable_server():
    servicer = Unavailable()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    tracking_service_pb2_grpc.add_TrackingServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"grpc://127.0.0.1:{port}"
    server.stop(0)


def test_grpc_retries_calls_safe_to_repeat_and_never_the_others(unavailable_server):
    servicer, uri = unavailable_server
    connection, _ = connect(uri)
    try:
        tag = pb.SetRunTagRequest(
            run_id="a" * 32, tag=run_pb2.RunTag(key="k", value="v"), request_id="r1"
        )
        with pytest.raises(grpc.RpcError):
            connection.tracking.SetRunTag(tag, timeout=20)
        assert servicer.attempts["SetRunTag"] == service_config.RETRY_POLICY["maxAttempts"]
        with pytest.raises(grpc.RpcError):
            connection.tracking.PurgeRun(pb.PurgeRunRequest(run_id="a" * 32), timeout=20)
        assert servicer.attempts["PurgeRun"] == 1

        # The client's own retry loop: the same split.
        servicer.attempts.clear()
        with pytest.raises(UnavailableError):
            calls.call(connection.tracking.SetRunTag, tag, retry_for=2)
        assert servicer.attempts["SetRunTag"] > service_config.RETRY_POLICY["maxAttempts"]
        with pytest.raises(UnavailableError):
            calls.call(
                connection.tracking.PurgeRun, pb.PurgeRunRequest(run_id="a" * 32), retry_for=5
            )
        assert servicer.attempts["PurgeRun"] == 1
    finally:
        connection.close()


def test_a_call_not_repeated_waits_for_a_server_to_come_up(tmp_path):
    """Sent once, but not refused at once while no server answers: it waits for one."""
    port = dead_port()
    connection, _ = connect(f"grpc://127.0.0.1:{port}")
    outcome = {}

    def purge():
        try:
            calls.call(connection.tracking.PurgeRun, pb.PurgeRunRequest(run_id="b" * 32))
        except Exception as e:  # noqa: BLE001 - looked at below
            outcome["error"] = e

    thread = threading.Thread(target=purge)
    thread.start()
    time.sleep(1.0)
    config = ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'late.db'}",
        artifacts=str(tmp_path / "artifacts"),
        host="127.0.0.1",
        port=port,
    )
    server, _ = create_server(config)
    server.start()
    try:
        thread.join(30)
        # It reached the server: the run is unknown there.
        assert isinstance(outcome.get("error"), NotFoundError), outcome
    finally:
        server.stop(0.5)
        connection.close()


def test_a_new_client_reaches_a_server_that_replaced_a_dead_one_on_its_port(tmp_path):
    """A server dies and another starts on its port while an older client in the same
    process is backing off from the dead one: a new client's first call reaches the new
    server at once. (gRPC shared one connection per address between a process's
    channels: the new client waited for the older one's backoff, or failed at once with
    UNAVAILABLE, 'Connection refused'.)"""

    servers = ReplacedServer(tmp_path)
    port = servers.port
    older = trackwire.TrackwireClient(f"grpc://127.0.0.1:{port}")
    unknown = ["e" * 32]
    with pytest.raises(NotFoundError):
        list(older.watch_metrics(unknown))
    servers.old.stop(0)
    with pytest.raises(UnavailableError):  # WatchMetrics fails fast: now backing off
        list(older.watch_metrics(unknown))
    # gRPC tries the address again in 1 s (+-20 %): a client sharing its connection waits
    # for that (or fails at once); one of its own connects now.
    servers.replace()
    newer = trackwire.TrackwireClient(f"grpc://127.0.0.1:{port}")
    try:
        started = time.monotonic()
        with pytest.raises(NotFoundError):
            list(newer.watch_metrics(unknown))
        assert time.monotonic() - started < 0.5, "it waited for the older client's backoff"
    finally:
        newer.close()
        older.close()
        servers.stop()


def test_each_request_type_belongs_to_one_rpc():
    owners = collections.defaultdict(list)
    for name, method in service_config.methods():
        owners[method.input_type.full_name].append(name)
    assert {t: n for t, n in owners.items() if len(n) > 1} == {}


def test_the_node_examples_copy_of_the_service_config_is_current():
    copy = pathlib.Path(__file__).resolve().parent.parent / "examples/node/service_config.json"
    assert json.loads(copy.read_text()) == service_config.service_config(), (
        "regenerate it: python -m trackwire_protocol.service_config > "
        "examples/node/service_config.json"
    )

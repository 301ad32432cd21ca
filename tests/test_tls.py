"""TLS end to end, with certificates made for the test (tests/support/certificates.py):
a CA that signs the server's certificate (for 127.0.0.1 and localhost) and a client's,
and an unrelated CA with a client of its own.

Refused: a plaintext client of a TLS server, a client trusting another CA, a client
without a certificate (or with one the client CA did not sign) under mutual TLS, plain
HTTP to the HTTPS web UI. Working: the Python client (TrackwireClient, the fluent API and
its metric stream) over `grpcs://`, the web UI over HTTPS, and the same through
`trackwire server --tls-cert ... --tls-key ...`. Files that cannot work stop the server at
start with one line and status 2. The Node example: tests/test_tls_node.py.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import grpc
import pytest

import trackwire
from tests.conftest import RunningServer
from tests.support.certificates import CertificateAuthority
from tests.test_cli_and_embedded import start_cli, stop_cli
from trackwire import fluent
from trackwire.errors import UnavailableError
from trackwire.v1 import tracking_service_pb2, tracking_service_pb2_grpc
from trackwire_server.config import ConfigError
from trackwire_server.tls import ServerTls
from trackwire_server.ui import UiServer

TLS_ENV = ("TRACKWIRE_TLS_CA", "TRACKWIRE_TLS_CLIENT_CERT", "TRACKWIRE_TLS_CLIENT_KEY")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The certificates, as PEM files in a folder of the test's."""
    folder = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority("Trackwire test CA")
    other_ca = CertificateAuthority("Unrelated CA")
    return SimpleNamespace(
        ca=ca.write(folder / "ca.crt"),
        other_ca=other_ca.write(folder / "other-ca.crt"),
        server=ca.issue("trackwire", hosts=["127.0.0.1", "localhost"], server=True).write(
            folder / "server"
        ),
        client=ca.issue("alice", client=True).write(folder / "alice"),
        stranger=other_ca.issue("mallory", client=True).write(folder / "mallory"),
        folder=folder,
    )


@pytest.fixture(autouse=True)
def no_tls_env(monkeypatch):
    """Each test sets the client's TLS variables it wants, and only those."""
    for name in TLS_ENV:
        monkeypatch.delenv(name, raising=False)


def tls_server(db_url: str, folder, pki, *, mutual: bool = False) -> RunningServer:
    return RunningServer(
        db_url,
        folder / "artifacts",
        tls_cert=str(pki.server.cert_path),
        tls_key=str(pki.server.key_path),
        tls_client_ca=str(pki.ca) if mutual else None,
    )


@pytest.fixture
def server_tls(tmp_path, pki):
    """A TLS server over SQLite (no client certificates asked for)."""
    running = tls_server(f"sqlite:///{tmp_path / 'trackwire.db'}", tmp_path, pki)
    yield running
    running.stop()


@pytest.fixture
def server_mtls(tmp_path, pki):
    """A server over SQLite requiring client certificates signed by the test CA."""
    running = tls_server(f"sqlite:///{tmp_path / 'trackwire.db'}", tmp_path, pki, mutual=True)
    yield running
    running.stop()


def server_info(channel: grpc.Channel) -> tracking_service_pb2.GetServerInfoResponse:
    stub = tracking_service_pb2_grpc.TrackingServiceStub(channel)
    return stub.GetServerInfo(tracking_service_pb2.GetServerInfoRequest(), timeout=5)


def refused_quickly(channel: grpc.Channel) -> grpc.RpcError:
    """The error of a call on `channel`: UNAVAILABLE (the handshake failed), not a timeout."""
    started = time.monotonic()
    with channel, pytest.raises(grpc.RpcError) as e:
        server_info(channel)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
    assert time.monotonic() - started < 4
    return e.value


def client_credentials(pki, ca=None, identity=None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=(ca or pki.ca).read_bytes(),
        private_key=identity.key_pem if identity else None,
        certificate_chain=identity.cert_pem if identity else None,
    )


# -- refusals ---------------------------------------------------------------------------


def test_plaintext_client_of_a_tls_server_is_refused(server_tls, monkeypatch):
    refused_quickly(grpc.insecure_channel(f"127.0.0.1:{server_tls.port}"))
    # The Python client, pointed at it with grpc:// (plaintext), gives up with UNAVAILABLE.
    monkeypatch.setenv("TRACKWIRE_RETRY_SECONDS", "0")
    uri = f"grpc://127.0.0.1:{server_tls.port}"
    with trackwire.TrackwireClient(uri) as client, pytest.raises(UnavailableError):
        client.get_server_info()


def test_client_trusting_another_ca_is_refused(server_tls, pki, monkeypatch):
    target = f"127.0.0.1:{server_tls.port}"
    refused_quickly(grpc.secure_channel(target, client_credentials(pki, ca=pki.other_ca)))
    # The system's CAs (no TRACKWIRE_TLS_CA) do not know the test CA either.
    monkeypatch.setenv("TRACKWIRE_RETRY_SECONDS", "0")
    with trackwire.TrackwireClient(f"grpcs://{target}") as client, pytest.raises(UnavailableError):
        client.get_server_info()
    monkeypatch.setenv("TRACKWIRE_TLS_CA", str(pki.other_ca))
    with trackwire.TrackwireClient(f"grpcs://{target}") as client, pytest.raises(UnavailableError):
        client.get_server_info()


def test_server_name_must_match_the_certificate(server_tls, pki):
    # The certificate is for 127.0.0.1 and localhost, not for trackwire.example.
    options = [("grpc.ssl_target_name_override", "trackwire.example")]
    channel = grpc.secure_channel(
        f"127.0.0.1:{server_tls.port}", client_credentials(pki), options=options
    )
    refused_quickly(channel)


def test_mutual_tls_refuses_clients_without_a_certificate_of_the_client_ca(server_mtls, pki):
    target = f"127.0.0.1:{server_mtls.port}"
    refused_quickly(grpc.secure_channel(target, client_credentials(pki)))
    refused_quickly(grpc.secure_channel(target, client_credentials(pki, identity=pki.stranger)))
    with grpc.secure_channel(target, client_credentials(pki, identity=pki.client)) as channel:
        assert server_info(channel).version == trackwire.__version__


# -- the Python client ---------------------------------------------------------------------


def log_and_read_back(uri: str) -> None:
    """A run with params and 500 streamed points through TrackwireClient, then the same
    through the fluent API; both read back."""
    with trackwire.TrackwireClient(uri) as client:
        experiment_id = client.create_experiment("over-tls")
        run_id = client.create_run(experiment_id).info.run_id
        client.log_param(run_id, "transport", "tls")
        for step in range(500):
            client.log_metric_async(run_id, "loss", 1 / (step + 1), step=step)
        client.flush_metrics()
        client.set_terminated(run_id)
        history = client.read_metric_history(run_id, "loss")
        assert history.steps == list(range(500))
        assert history.values == [1 / (step + 1) for step in range(500)]
        assert client.get_run(run_id).data.params == {"transport": "tls"}

    fluent.set_tracking_uri(uri)
    try:
        fluent.set_experiment("over-tls-fluent")
        with fluent.start_run() as run:
            fluent.log_param("transport", "tls")
            for step in range(100):
                fluent.log_metric("accuracy", step / 100, step=step)
        stored = fluent.get_run(run.info.run_id)
        assert stored.info.status == "FINISHED"
        assert stored.data.metrics["accuracy"] == 0.99
        assert stored.data.params == {"transport": "tls"}
    finally:
        fluent._settings.experiment_id = None
        fluent.set_tracking_uri(None)
        for key in [k for k in fluent._settings.clients if k[0] == uri]:
            fluent._settings.clients.pop(key).close()


def test_python_client_over_tls(backend, tmp_path, pki, monkeypatch):
    running = tls_server(backend, tmp_path, pki)
    try:
        monkeypatch.setenv("TRACKWIRE_TLS_CA", str(pki.ca))
        log_and_read_back(f"grpcs://127.0.0.1:{running.port}")
        # By DNS name too (the certificate names localhost).
        with trackwire.TrackwireClient(f"grpcs://localhost:{running.port}") as client:
            assert client.get_experiment_by_name("over-tls") is not None
    finally:
        running.stop()


def test_python_client_over_mutual_tls(server_mtls, pki, monkeypatch):
    monkeypatch.setenv("TRACKWIRE_TLS_CA", str(pki.ca))
    monkeypatch.setenv("TRACKWIRE_RETRY_SECONDS", "0")
    uri = f"grpcs://127.0.0.1:{server_mtls.port}"
    with trackwire.TrackwireClient(uri) as client, pytest.raises(UnavailableError):
        client.get_server_info()  # no client certificate
    monkeypatch.setenv("TRACKWIRE_TLS_CLIENT_CERT", str(pki.client.cert_path))
    monkeypatch.setenv("TRACKWIRE_TLS_CLIENT_KEY", str(pki.client.key_path))
    log_and_read_back(uri)


def test_client_names_the_tls_file_it_cannot_use(server_tls, pki, monkeypatch, tmp_path):
    uri = f"grpcs://127.0.0.1:{server_tls.port}"
    monkeypatch.setenv("TRACKWIRE_TLS_CA", str(tmp_path / "missing.crt"))
    with pytest.raises(ValueError, match=r"\$TRACKWIRE_TLS_CA=.*missing\.crt: cannot read"):
        trackwire.TrackwireClient(uri)
    (tmp_path / "junk.crt").write_text("not a certificate")
    monkeypatch.setenv("TRACKWIRE_TLS_CA", str(tmp_path / "junk.crt"))
    with pytest.raises(ValueError, match=r"junk\.crt: not a PEM file"):
        trackwire.TrackwireClient(uri)
    monkeypatch.setenv("TRACKWIRE_TLS_CA", str(pki.ca))
    monkeypatch.setenv("TRACKWIRE_TLS_CLIENT_CERT", str(pki.client.cert_path))
    with pytest.raises(ValueError, match="TRACKWIRE_TLS_CLIENT_KEY"):
        trackwire.TrackwireClient(uri)


def test_plain_uris_stay_plaintext(server):
    # grpc:// and host:port are plaintext channels, as before.
    for uri in (server.uri, server.uri[len("grpc://") :]):
        with trackwire.TrackwireClient(uri) as client:
            assert client.get_server_info().version == trackwire.__version__


# -- the web UI ---------------------------------------------------------------------------


def https_get(url: str, pki, identity=None) -> bytes:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if identity is not None:
        context.load_cert_chain(identity.cert_path, identity.key_path)
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return response.read()


def test_ui_serves_https_only(server_tls, pki):
    ui = UiServer("127.0.0.1", server_tls.port, port=0, tls=server_tls.server.tls).start()
    try:
        assert ui.url.startswith("https://127.0.0.1:")
        assert b"uPlot.iife.min.js" in https_get(ui.url, pki)
        # The API answers: the UI's own gRPC channel to the server is TLS too.
        experiments = json.loads(https_get(ui.url + "api/experiments", pki))["experiments"]
        assert [e["name"] for e in experiments] == ["Default"]
        with pytest.raises((http.client.HTTPException, OSError)):
            urllib.request.urlopen(ui.url.replace("https://", "http://"), timeout=10).read()
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(
                ui.url, context=ssl.create_default_context(cafile=str(pki.other_ca)), timeout=10
            )
    finally:
        server_tls.server.metric_feed.close()
        ui.stop()


def test_ui_under_mutual_tls_requires_a_client_certificate(server_mtls, pki):
    ui = UiServer("127.0.0.1", server_mtls.port, port=0, tls=server_mtls.server.tls).start()
    try:
        experiments = json.loads(https_get(ui.url + "api/experiments", pki, pki.client))
        assert [e["name"] for e in experiments["experiments"]] == ["Default"]
        for identity in (None, pki.stranger):
            with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
                https_get(ui.url + "api/experiments", pki, identity)
    finally:
        server_mtls.server.metric_feed.close()
        ui.stop()


def test_chain_with_an_intermediate_ca_for_a_host_name_only(tmp_path, pki, monkeypatch):
    # What deployments often have: the certificate names the host, not an address, and is
    # signed by an intermediate CA whose certificate follows it in the file.
    root = CertificateAuthority("Root CA")
    intermediate = CertificateAuthority("Issuing CA", issuer=root)
    keys = intermediate.issue("trackwire", hosts=["localhost"], server=True).write(tmp_path / "srv")
    root_path = root.write(tmp_path / "root.crt")
    running = RunningServer(
        f"sqlite:///{tmp_path / 'trackwire.db'}",
        tmp_path / "artifacts",
        tls_cert=str(keys.cert_path),
        tls_key=str(keys.key_path),
    )
    # The UI dials 127.0.0.1, which the certificate does not name: it checks "localhost".
    ui = UiServer("127.0.0.1", running.port, port=0, tls=running.server.tls).start()
    try:
        monkeypatch.setenv("TRACKWIRE_TLS_CA", str(root_path))
        with trackwire.TrackwireClient(f"grpcs://localhost:{running.port}") as client:
            client.create_experiment("named")
        url = ui.url.replace("127.0.0.1", "localhost") + "api/experiments"
        context = ssl.create_default_context(cafile=str(root_path))
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            names = {e["name"] for e in json.loads(response.read())["experiments"]}
        assert names == {"Default", "named"}
    finally:
        running.server.metric_feed.close()
        ui.stop()
        running.stop()


@pytest.mark.parametrize(
    "hosts", [["10.1.2.3"], [], ["*.example.com"]], ids=["an-address", "no-names", "wildcard"]
)
def test_ui_reaches_its_server_whatever_names_the_certificate_lists(tmp_path, pki, hosts):
    # Not 127.0.0.1, where the UI dials: it checks a name the certificate has (the common
    # name when there are no others).
    ca = CertificateAuthority("CA")
    keys = ca.issue("trackwire.internal", hosts=hosts, server=True).write(tmp_path / "srv")
    running = RunningServer(
        f"sqlite:///{tmp_path / 'trackwire.db'}",
        tmp_path / "artifacts",
        tls_cert=str(keys.cert_path),
        tls_key=str(keys.key_path),
    )
    ui = UiServer("127.0.0.1", running.port, port=0, tls=running.server.tls).start()
    try:
        context = ssl.create_default_context(cafile=str(ca.write(tmp_path / "ca.crt")))
        context.check_hostname = False  # the browser's side is not what is tested here
        url = ui.url + "api/experiments"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            assert json.loads(response.read())["experiments"][0]["name"] == "Default"
    finally:
        running.server.metric_feed.close()
        ui.stop()
        running.stop()


# -- trackwire server ------------------------------------------------------------------


def test_cli_serves_grpc_and_the_ui_over_tls(tmp_path, pki, monkeypatch):
    process, port = start_cli(
        tmp_path,
        "--tls-cert",
        str(pki.server.cert_path),
        "--tls-key",
        str(pki.server.key_path),
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"web UI on (https://127\.0\.0\.1:\d+/)", line)
        assert match, line
        experiments = json.loads(https_get(match.group(1) + "api/experiments", pki))
        assert experiments["experiments"][0]["name"] == "Default"
        refused_quickly(grpc.insecure_channel(f"127.0.0.1:{port}"))
        monkeypatch.setenv("TRACKWIRE_TLS_CA", str(pki.ca))
        with trackwire.TrackwireClient(f"grpcs://127.0.0.1:{port}") as client:
            run_id = client.create_run(client.create_experiment("cli")).info.run_id
            client.log_metric_async(run_id, "loss", 0.5, step=1)
            client.flush_metrics()
            assert client.get_run(run_id).data.metrics == {"loss": 0.5}
    finally:
        assert stop_cli(process) == 0
    output = process.stdout.read()
    key_body = pki.server.key_pem.decode().splitlines()[1]
    assert key_body not in output  # the key never reaches the output


def test_cli_says_tls_with_client_certificates_in_its_first_line(tmp_path, pki):
    process, port = start_cli(
        tmp_path,
        "--no-ui",
        "--tls-cert",
        str(pki.server.cert_path),
        "--tls-key",
        str(pki.server.key_path),
        "--tls-client-ca",
        str(pki.ca),
    )
    try:
        with grpc.secure_channel(
            f"127.0.0.1:{port}", client_credentials(pki, identity=pki.client)
        ) as channel:
            assert server_info(channel).version == trackwire.__version__
        refused_quickly(grpc.secure_channel(f"127.0.0.1:{port}", client_credentials(pki)))
    finally:
        assert stop_cli(process) == 0


def cli_error(tmp_path, *args: str) -> str:
    """The one line `trackwire server` prints when it refuses `args`; its status is 2."""
    result = subprocess.run(
        [sys.executable, "-m", "trackwire_server", "--port", "0", "--no-ui", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trackwire server: error: "), result.stderr
    assert not (tmp_path / "trackwire.db").exists()  # refused before the database opened
    return lines[0]


def test_cli_refuses_tls_files_that_cannot_work(tmp_path, pki):
    cert, key = str(pki.server.cert_path), str(pki.server.key_path)
    other_key = str(pki.client.key_path)
    assert "--tls-key" in cli_error(tmp_path, "--tls-cert", cert)
    assert "not the key of the certificate" in cli_error(
        tmp_path, "--tls-cert", cert, "--tls-key", other_key
    )
    missing = cli_error(tmp_path, "--tls-cert", str(tmp_path / "nope.crt"), "--tls-key", key)
    assert "nope.crt: cannot read it" in missing
    assert "no PEM certificate" in cli_error(tmp_path, "--tls-cert", key, "--tls-key", key)
    assert "no PEM private key" in cli_error(tmp_path, "--tls-cert", cert, "--tls-key", cert)
    assert "--tls-client-ca" in cli_error(
        tmp_path, "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", key
    )


def test_encrypted_or_expired_files_are_refused(tmp_path, pki):
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pki.server.key_pem, password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ConfigError, match="encrypted"):
        ServerTls.load(str(pki.server.cert_path), str(encrypted))
    expired = CertificateAuthority("old CA").issue("old", hosts=["127.0.0.1"], expired=True)
    expired.write(tmp_path / "expired")
    with pytest.raises(ConfigError, match="expired on"):
        ServerTls.load(str(expired.cert_path), str(expired.key_path))

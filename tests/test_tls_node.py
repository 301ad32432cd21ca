"""The Node.js example (examples/node) over TLS and mutual TLS, with the certificates and
servers of tests/test_tls.py: `grpcs://` with $TRACKWIRE_TLS_CA (and a client certificate
under mutual TLS) works; plaintext, an untrusted server and a missing client certificate
are refused."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

import trackwire
from tests import test_node_client, test_tls
from tests.test_node_client import NODE_EXAMPLE
from tests.test_tls import TLS_ENV

# Fixtures of those modules, for this one's tests too.
node_modules = test_node_client.node_modules
pki = test_tls.pki
no_tls_env = test_tls.no_tls_env
server_tls = test_tls.server_tls
server_mtls = test_tls.server_mtls

node = shutil.which("node")
npm = shutil.which("npm")

pytestmark = [
    pytest.mark.skipif(
        node is None or npm is None, reason="the Node.js example needs `node` and `npm` on PATH"
    ),
    pytest.mark.usefixtures("node_modules"),
]


def run_node(script: str, target: str, **env: str) -> subprocess.CompletedProcess:
    """Runs a Node example with only the TLS variables in `env`."""
    environment = {k: v for k, v in os.environ.items() if k not in TLS_ENV}
    return subprocess.run(
        [node, script, target],
        cwd=NODE_EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        env={**environment, **env},
    )


def assert_node_refused(script: str, target: str, **env: str) -> None:
    result = run_node(script, target, **env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"\b(UNAVAILABLE|14)\b", result.stderr), result.stderr


@pytest.mark.timeout(600)
def test_node_example_over_tls(server_tls, pki, monkeypatch):
    target = f"grpcs://127.0.0.1:{server_tls.port}"
    result = run_node("all_services.js", target, TRACKWIRE_TLS_CA=str(pki.ca))
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    run_id = json.loads(line[len("RESULT ") :])["run_id"]
    monkeypatch.setenv("TRACKWIRE_TLS_CA", str(pki.ca))
    with trackwire.TrackwireClient(target) as client:
        assert client.get_run(run_id).info.status == "FINISHED"
    # Plaintext, or trusting Node's CAs or another CA: refused.
    assert_node_refused("stream_metrics.js", f"127.0.0.1:{server_tls.port}")
    assert_node_refused("stream_metrics.js", target)
    assert_node_refused("stream_metrics.js", target, TRACKWIRE_TLS_CA=str(pki.other_ca))


@pytest.mark.timeout(600)
def test_node_example_over_mutual_tls(server_mtls, pki):
    target = f"grpcs://127.0.0.1:{server_mtls.port}"
    assert_node_refused("stream_metrics.js", target, TRACKWIRE_TLS_CA=str(pki.ca))
    result = run_node(
        "stream_metrics.js",
        target,
        TRACKWIRE_TLS_CA=str(pki.ca),
        TRACKWIRE_TLS_CLIENT_CERT=str(pki.client.cert_path),
        TRACKWIRE_TLS_CLIENT_KEY=str(pki.client.key_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK 10000 points" in result.stdout.splitlines()

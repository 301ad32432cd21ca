"""TLS for `grpcs://host:port` tracking URIs: the credentials of the client's channel.

The server's certificate is checked against the system's CAs, or against the CA
certificates in the PEM file `$TRACKWIRE_TLS_CA`. For a server that requires client
certificates (mutual TLS), `$TRACKWIRE_TLS_CLIENT_CERT` and `$TRACKWIRE_TLS_CLIENT_KEY`
name the PEM files of the client's certificate chain and key. The files are read when a
client connects.
"""

from __future__ import annotations

import os

import grpc

CA_ENV = "TRACKWIRE_TLS_CA"
CLIENT_CERT_ENV = "TRACKWIRE_TLS_CLIENT_CERT"
CLIENT_KEY_ENV = "TRACKWIRE_TLS_CLIENT_KEY"


def _read(env: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"${env}={path}: cannot read it: {e.strerror or e}") from None
    if b"-----BEGIN " not in data:
        raise ValueError(f"${env}={path}: not a PEM file")
    return data


def channel_credentials() -> grpc.ChannelCredentials:
    """Credentials for a TLS channel, from the environment (module docstring); ValueError
    names the variable whose file cannot be used."""
    ca = os.environ.get(CA_ENV, "")
    cert = os.environ.get(CLIENT_CERT_ENV, "")
    key = os.environ.get(CLIENT_KEY_ENV, "")
    if bool(cert) != bool(key):
        raise ValueError(f"${CLIENT_CERT_ENV} and ${CLIENT_KEY_ENV} go together: set both")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(CA_ENV, ca) if ca else None,  # None: the system's CAs
        private_key=_read(CLIENT_KEY_ENV, key) if key else None,
        certificate_chain=_read(CLIENT_CERT_ENV, cert) if cert else None,
    )

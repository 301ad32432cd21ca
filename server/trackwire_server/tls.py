"""TLS for the server: the certificate and key it presents (on the gRPC port and the web UI),
and the CA whose client certificates it requires (mutual TLS).

`ServerTls.load` reads and checks the files once, at start: a file that cannot be read, is
not PEM, a key that is encrypted or does not match the certificate, an expired certificate
are a `ConfigError` naming the option and the file. What it keeps are gRPC credentials
(the key bytes go into gRPC's core and are dropped here) and the paths, which the web UI's
HTTPS server (uvicorn, through Python's ssl module, which reads only files) opens as it
starts. Nothing here logs key material.

The web UI, in the server's process, is a gRPC client of that server over loopback. It
trusts exactly the server's own certificate (gRPC accepts a leaf as a trust anchor).
Under mutual TLS it presents a client certificate made at start for this process alone
(self-signed, for client authentication only, its key never written anywhere), which the
server accepts besides those the client CA signed.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import stat
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trackwire_server.config import ConfigError

log = logging.getLogger("trackwire.server")


def _read(what: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot read it: {e.strerror or e}") from None


def _certificates(what: str, path: str, data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(f"{what} {path}: no PEM certificate in it") from None


def _public(key) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS names and IP addresses the certificate is for (its common name without any)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    if not names:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(names)


def _in_process_client_identity() -> tuple[bytes, bytes]:
    """(certificate, key) PEM of a fresh self-signed certificate for client authentication,
    for the web UI's channel under mutual TLS."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trackwire web UI (in process)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass(frozen=True)
class ServerTls:
    """The server's TLS setup, checked; see the module docstring."""

    cert_path: str
    key_path: str
    client_ca_path: str | None
    # What the certificate is for: DNS names and IP addresses.
    names: tuple[str, ...]
    server_credentials: grpc.ServerCredentials
    # For the web UI's channel to this server over loopback.
    loopback_credentials: grpc.ChannelCredentials

    @property
    def mutual(self) -> bool:
        """Whether clients must present a certificate the client CA signed."""
        return self.client_ca_path is not None

    @classmethod
    def load(
        cls, cert_path: str | None, key_path: str | None, client_ca_path: str | None = None
    ) -> ServerTls | None:
        """The checked setup, or None when neither certificate nor key is given."""
        if not cert_path and not key_path:
            if client_ca_path:
                raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key")
            return None
        if not cert_path or not key_path:
            raise ConfigError("--tls-cert and --tls-key go together: give both")
        chain_pem = _read("--tls-cert", cert_path)
        chain = _certificates("--tls-cert", cert_path, chain_pem)
        leaf = chain[0]
        now = datetime.datetime.now(datetime.timezone.utc)
        if leaf.not_valid_after_utc < now:
            raise ConfigError(
                f"--tls-cert {cert_path}: the certificate expired on "
                f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
            )
        key_pem = _read("--tls-key", key_path)
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except TypeError:
            raise ConfigError(
                f"--tls-key {key_path}: the key is encrypted; give it unencrypted, readable "
                "only by the server's user"
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigError(f"--tls-key {key_path}: no PEM private key in it") from None
        if _public(key.public_key()) != _public(leaf.public_key()):
            raise ConfigError(
                f"--tls-key {key_path} is not the key of the certificate in --tls-cert {cert_path}"
            )
        _warn_if_others_read(key_path)
        client_roots = ui_cert_pem = ui_key_pem = None
        if client_ca_path:
            client_ca_pem = _read("--tls-client-ca", client_ca_path)
            _certificates("--tls-client-ca", client_ca_path, client_ca_pem)
            # The web UI's own client certificate (module docstring).
            ui_cert_pem, ui_key_pem = _in_process_client_identity()
            client_roots = client_ca_pem.rstrip(b"\n") + b"\n" + ui_cert_pem
        server_credentials = grpc.ssl_server_credentials(
            [(key_pem, chain_pem)],
            root_certificates=client_roots,
            require_client_auth=client_roots is not None,
        )
        loopback_credentials = grpc.ssl_channel_credentials(
            root_certificates=leaf.public_bytes(serialization.Encoding.PEM),
            private_key=ui_key_pem,
            certificate_chain=ui_cert_pem,
        )
        return cls(
            cert_path=cert_path,
            key_path=key_path,
            client_ca_path=client_ca_path or None,
            names=_names(leaf),
            server_credentials=server_credentials,
            loopback_credentials=loopback_credentials,
        )

    def loopback_options(self, host: str) -> list[tuple[str, str]]:
        """Channel options for dialling this server at `host` (a loopback address): the
        name to check the certificate against when it is not for `host`."""
        if host in self.names:
            return []
        dns = [n.replace("*", "trackwire", 1) for n in self.names if not _is_ip(n)]
        name = (dns or list(self.names) or [host])[0]
        return [("grpc.ssl_target_name_override", name)]


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _warn_if_others_read(key_path: str) -> None:
    try:
        mode = os.stat(key_path).st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("TLS key %s is readable by other users than its owner (chmod 600)", key_path)

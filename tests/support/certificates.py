"""Certificates made for a test with the `cryptography` package: a certificate authority
that signs server and client certificates, written as PEM files.

    ca = CertificateAuthority("test CA")
    server = ca.issue("server", hosts=["127.0.0.1", "localhost"], server=True)
    server.write(tmp_path / "server")   # then .cert_path, .key_path
    client = ca.issue("alice", client=True)
    intermediate = CertificateAuthority("issuing CA", issuer=ca)  # its certificates'
    # PEM is the chain: the certificate, then the intermediate's
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _validity(builder: x509.CertificateBuilder, expired: bool = False) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        return builder.not_valid_before(now - datetime.timedelta(days=2)).not_valid_after(
            now - datetime.timedelta(days=1)
        )
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=1)
    )


@dataclass
class KeyPair:
    """A certificate and its private key, as PEM; `write` puts them in files."""

    cert_pem: bytes
    key_pem: bytes
    cert_path: pathlib.Path | None = None
    key_path: pathlib.Path | None = None

    def write(self, stem: pathlib.Path) -> KeyPair:
        """Writes `stem`.crt and `stem`.key (readable by the owner only); returns self."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        self.cert_path = stem.with_suffix(".crt")
        self.key_path = stem.with_suffix(".key")
        self.cert_path.write_bytes(self.cert_pem)
        self.key_path.touch(mode=0o600)
        self.key_path.write_bytes(self.key_pem)
        return self


class CertificateAuthority:
    """A CA certificate that issues certificates: self-signed, or signed by `issuer`."""

    def __init__(self, common_name: str, issuer: CertificateAuthority | None = None):
        self.key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(issuer.cert.subject if issuer else _name(common_name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                critical=False,
            )
        self.cert = _validity(builder).sign((issuer or self).key, hashes.SHA256())
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)
        # What a certificate it issues is sent with: the intermediates up to the root.
        self.chain_pem = b"" if issuer is None else self.cert_pem + issuer.chain_pem
        self.cert_path: pathlib.Path | None = None

    def write(self, path: pathlib.Path) -> pathlib.Path:
        """Writes the CA certificate (PEM) to `path`; returns it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.cert_pem)
        self.cert_path = path
        return path

    def issue(
        self,
        common_name: str,
        *,
        hosts: tuple[str, ...] | list[str] = (),
        server: bool = False,
        client: bool = False,
        expired: bool = False,
    ) -> KeyPair:
        """A certificate for `common_name` signed by this CA: for a server (names `hosts`
        as DNS names or IP addresses) and/or a client; `expired`: it expired yesterday."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if hosts:
            names = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [
            ExtendedKeyUsageOID.CLIENT_AUTH
        ] * client
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        cert = _validity(builder, expired).sign(self.key, hashes.SHA256())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM) + self.chain_pem
        return KeyPair(cert_pem, _key_pem(key))

"""Certificates for the webhook server when none are supplied: a private CA and a serving certificate.

Production installs mount cert-manager's (or the chart's) files instead; the server re-reads them when
they change, so rotation needs no restart.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True, slots=True)
class ServingFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path

    @property
    def ca_key_file(self) -> Path:
        return self.ca_file.with_name("ca.key")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ModelRoute"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _validity(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=days)
    )


def _issue(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, hosts: list[str], days: int
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    return _validity(builder, days).sign(ca_key, hashes.SHA256()), key


def _write_serving(files: ServingFiles, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    # the key first: a watcher that sees the new certificate must find its key already there
    _write_private(files.key_file, _key_bytes(key))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def generate_serving_files(directory: Path, hosts: Iterable[str], *, days: int = 365) -> ServingFiles:
    """A CA and a certificate for `hosts` signed by it, written to `directory` (keys mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_builder = (
        x509.CertificateBuilder()
        .subject_name(_name("modelroute-webhook-ca"))
        .issuer_name(_name("modelroute-webhook-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
    )
    ca_cert = _validity(ca_builder, days).sign(ca_key, hashes.SHA256())
    files = ServingFiles(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(files.ca_key_file, _key_bytes(ca_key))
    _write_serving(files, *_issue(ca_cert, ca_key, list(hosts), days))
    return files


def renew_serving_cert(files: ServingFiles, hosts: Iterable[str], *, days: int = 365) -> x509.Certificate:
    """A new serving certificate from the same CA: what a rotation looks like to the server."""
    ca_cert = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key_file.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key_file} is not an EC private key")
    cert, key = _issue(ca_cert, ca_key, list(hosts), days)
    _write_serving(files, cert, key)
    return cert


def certificate_not_after(cert_file: Path) -> float | None:
    """The Unix time the first certificate in a PEM file expires; None when the file holds none."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return None
    return certificate.not_valid_after_utc.timestamp()

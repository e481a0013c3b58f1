"""Certificates for the parts the tests start: one CA, and leaves for servers, clients or both.

The control plane's PKI (kube-apiserver's serving certificate, the admin's client certificate in
system:masters, the node's kubelet and component certificates), the registry's serving certificate
and a webhook server's all come from `issue`: P-256 keys, SHA-256 signatures, backdated an hour so a
clock that differs slightly between processes does not reject a fresh certificate.

The operator's own certificate code (modelroute.cluster.certs) builds only what its webhook server
needs; it is not reused here, because the harness also needs client certificates, organisations
(groups) and several leaves from one CA, and the operator must not grow test-only features.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def load(cls, cert_file: Path, key_file: Path) -> Issued:
        """A CA (or leaf) written earlier with write_private and cert_pem."""
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file} is not an EC private key")
        return cls(x509.load_pem_x509_certificate(cert_file.read_bytes()), key)


def name(common_name: str, organization: str | None = None) -> x509.Name:
    """A subject: its CN and, for a Kubernetes client, its group as O."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    subject: x509.Name,
    *,
    ca: Issued | None = None,
    server_names: tuple[str, ...] = (),
    client: bool = False,
) -> Issued:
    """Issue a P-256 certificate: a self-signed CA when ca is None, else a leaf signed by ca, valid for
    server_names (IP addresses or DNS names) and/or as a client."""
    key = ec.generate_private_key(ec.SECP256R1())
    # Backdated so a clock that differs slightly between processes does not reject a fresh cert.
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject if ca else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(ca=True), critical=True)
        return Issued(builder.sign(key, hashes.SHA256()), key)

    usages: list[x509.ObjectIdentifier] = []
    if server_names:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        sans: list[x509.GeneralName] = []
        for n in server_names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def write_private(path: Path, data: bytes) -> None:
    """Write a key (or a file holding one) readable by its owner only."""
    path.write_bytes(data)
    path.chmod(0o600)


@dataclass(frozen=True)
class ServingCertificate:
    ca_file: Path
    cert_file: Path
    key_file: Path


def write_serving_certificate(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), *, ca_name: str = "modelroute-webhook-ca"
) -> ServingCertificate:
    """Write a fresh CA (ca.crt) and a serving certificate for hosts (tls.crt, tls.key), e.g. for a webhook
    server on loopback: the apiserver verifies webhook servers against the caBundle of their
    configuration, so a webhook under test needs its own CA rather than the cluster's.

    The CA is written last, so a ca.crt on disk means the whole set is there."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = issue(name(ca_name))
    serving = issue(name(hosts[0]), ca=ca, server_names=hosts)
    out = ServingCertificate(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    out.cert_file.write_bytes(serving.cert_pem())
    write_private(out.key_file, serving.key_pem())
    out.ca_file.write_bytes(ca.cert_pem())
    return out


def served_serial(port: int, ca_file: str | Path) -> int:
    """The serial number of the certificate a TLS server on 127.0.0.1:`port` serves, verified against
    `ca_file`: how a test sees which certificate is served now."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number

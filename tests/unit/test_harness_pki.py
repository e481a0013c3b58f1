"""tests.harness.pki: a CA and what it issues, as the control plane, the node and the registry use them."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.harness.pki import Issued, issue, name, write_private, write_serving_certificate


def usages(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_a_serving_certificate_is_issued_by_its_own_ca_for_every_host(tmp_path: Path) -> None:
    files = write_serving_certificate(tmp_path / "tls", ("10.0.0.7", "webhook.example"))
    ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
    serving = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
    serving.verify_directly_issued_by(ca)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]
    assert names.get_values_for_type(x509.DNSName) == ["webhook.example"]
    assert usages(serving) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert stat.S_IMODE(files.key_file.stat().st_mode) == 0o600


def test_each_serving_certificate_has_a_ca_of_its_own(tmp_path: Path) -> None:
    one = write_serving_certificate(tmp_path / "one", ca_name="one-ca")
    other = write_serving_certificate(tmp_path / "other")
    assert one.ca_file.read_bytes() != other.ca_file.read_bytes()
    ca = x509.load_pem_x509_certificate(one.ca_file.read_bytes())
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "one-ca"


def test_a_client_certificate_names_its_group_as_organisation() -> None:
    ca = issue(name("local-ca"))
    admin = issue(name("admin", "system:masters"), ca=ca, client=True)
    admin.cert.verify_directly_issued_by(ca.cert)
    assert admin.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert usages(admin.cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    both = issue(name("kube-apiserver"), ca=ca, server_names=("127.0.0.1",), client=True)
    assert usages(both.cert) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_a_written_ca_is_loaded_back_to_issue_more(tmp_path: Path) -> None:
    ca = issue(name("local-ca"))
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem())
    write_private(tmp_path / "ca.key", ca.key_pem())
    loaded = Issued.load(tmp_path / "ca.crt", tmp_path / "ca.key")
    assert loaded.cert == ca.cert
    issue(name("kubelet"), ca=loaded, client=True).cert.verify_directly_issued_by(ca.cert)
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600

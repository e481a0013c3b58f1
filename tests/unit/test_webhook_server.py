"""The webhook server's sockets and limits: objects as big as the API server accepts, a listening port no
other process can share, optional client-certificate checks, and a rotated certificate served at once."""

from __future__ import annotations

import copy
import errno
import socket
import ssl
from pathlib import Path

import orjson
import pytest
from tests.bench import world
from tests.harness import pki
from tests.unit.webhook_server import serving

from modelroute.admission import configurations as cfg
from modelroute.cluster.certs import generate_serving_files, renew_serving_cert

MIB = 1024 * 1024


def big_pod(size: int) -> dict[str, object]:
    pod = world.covered_pod()
    pod["metadata"]["annotations"] = {"example.com/blob": "x" * size}
    return pod


def test_a_pod_of_one_and_a_half_mebibytes_is_judged(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        status, body = served.client().post(cfg.MUTATE_PODS, orjson.dumps(world.review(big_pod(3 * MIB // 2))))
    assert status == 200
    assert orjson.loads(body)["response"]["allowed"] is True


def test_an_update_of_a_big_controller_carrying_the_object_twice_is_judged(tmp_path: Path) -> None:
    pod = big_pod(1400 * 1024)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "big", "namespace": "team-00"},
        "spec": {"replicas": 1, "template": {"metadata": pod["metadata"], "spec": pod["spec"]}},
    }
    scaled = copy.deepcopy(deployment)
    scaled["spec"]["replicas"] = 3
    review = world.review(scaled, operation="UPDATE", resource=("apps", "v1", "deployments"), old=deployment)
    with serving(tmp_path) as served:
        status, body = served.client().post(cfg.VALIDATE_CONTROLLERS, orjson.dumps(review))
    assert status == 200
    assert orjson.loads(body)["response"]["allowed"] is True


def test_the_listening_port_cannot_be_shared_by_another_socket(tmp_path: Path) -> None:
    with serving(tmp_path) as served, socket.socket() as intruder:
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with pytest.raises(OSError, match="in use") as raised:
            intruder.bind(("127.0.0.1", served.server.port))
    assert raised.value.errno == errno.EADDRINUSE


def client_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """(CA, certificate, key) of a caller, like the API server's client certificate for webhooks."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    callers = generate_serving_files(directory, ["callers-ca"])
    ca = x509.load_pem_x509_certificate(callers.ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(callers.ca_key_file.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_file, key_file = directory / "client.crt", directory / "client.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return callers.ca_file, cert_file, key_file


def test_with_a_client_ca_a_caller_without_its_certificate_is_refused(tmp_path: Path) -> None:
    ca_file, cert_file, key_file = client_certificate(tmp_path / "callers")
    review = orjson.dumps(world.review(world.plain_pod()))
    with serving(tmp_path, client_ca=ca_file) as served:
        status, _ = served.client(client_cert=(cert_file, key_file)).post(cfg.VALIDATE_PODS, review)
        assert status == 200
        with pytest.raises((ssl.SSLError, ConnectionError)):
            served.client().post(cfg.VALIDATE_PODS, review)


def test_a_rotated_certificate_is_served_to_the_next_connection(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        before = pki.served_serial(served.server.port, served.files.ca_file)
        renewed = renew_serving_cert(served.files, ["127.0.0.1"])
        assert served.server.reload_if_changed()
        assert pki.served_serial(served.server.port, served.files.ca_file) == renewed.serial_number != before

"""The webhook server's TLS: the API server verifies it, and rotated files are picked up without a restart."""

from __future__ import annotations

import socket
import ssl
import time

from cryptography import x509
from kube import pod
from tests.harness.client import ClusterClient, apply
from tests.harness.operator import OperatorProcess

from modelroute.cluster.certs import ServingFiles, renew_serving_cert


def served_serial(port: int, ca_file: str) -> int:
    context = ssl.create_default_context(cafile=ca_file)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_a_rotated_serving_certificate_is_served_without_a_restart(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    certs = operator.workdir / "certs"
    files = ServingFiles(certs / "ca.crt", certs / "tls.crt", certs / "tls.key")
    before = served_serial(operator.webhook_port, str(files.ca_file))  # verified against the CA: real TLS
    renewed = renew_serving_cert(files, ["127.0.0.1", "localhost"])
    assert renewed.serial_number != before
    deadline = time.monotonic() + 45
    while served_serial(operator.webhook_port, str(files.ca_file)) != renewed.serial_number:
        assert time.monotonic() < deadline, "the webhook server kept serving the old certificate"
        time.sleep(1)
    assert operator.alive
    apply(cluster, pod("after-rotation", namespace, app="nobody"))  # the API server still trusts us

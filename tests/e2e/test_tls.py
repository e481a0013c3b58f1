"""The webhook server's TLS: the API server verifies it, and rotated files are picked up without a restart."""

from __future__ import annotations

import time

from kube import pod
from tests.harness import pki
from tests.harness.client import ClusterClient, apply
from tests.harness.operator import OperatorProcess

from modelroute.cluster.certs import ServingFiles, renew_serving_cert


def test_a_rotated_serving_certificate_is_served_without_a_restart(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    certs = operator.workdir / "certs"
    files = ServingFiles(certs / "ca.crt", certs / "tls.crt", certs / "tls.key")
    before = pki.served_serial(operator.webhook_port, str(files.ca_file))  # verified against the CA: real TLS
    renewed = renew_serving_cert(files, ["127.0.0.1", "localhost"])
    assert renewed.serial_number != before
    deadline = time.monotonic() + 45
    while pki.served_serial(operator.webhook_port, str(files.ca_file)) != renewed.serial_number:
        assert time.monotonic() < deadline, "the webhook server kept serving the old certificate"
        time.sleep(1)
    assert operator.alive
    apply(cluster, pod("after-rotation", namespace, app="nobody"))  # the API server still trusts us

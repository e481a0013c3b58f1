"""What is not an AdmissionReview gets a clear 4xx from the webhook server, which keeps serving."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest
from kube import pod
from tests.harness.client import ClusterClient, apply
from tests.harness.operator import OperatorProcess


def post(operator: OperatorProcess, path: str, body: bytes) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(operator.workdir / "certs" / "ca.crt"))
    request = urllib.request.Request(
        f"https://127.0.0.1:{operator.webhook_port}/{path}",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, f"{error.reason} {error.read().decode()}"


@pytest.mark.parametrize(
    "body",
    [
        b"this is not json",
        b"[1, 2, 3]",
        b"{}",
        json.dumps({"kind": "AdmissionReview", "request": {}}).encode(),
        json.dumps(
            {
                "kind": "AdmissionReview",
                "request": {"uid": "u", "resource": {"group": "", "version": "v1", "resource": "secrets"}},
            }
        ).encode(),
    ],
    ids=["not-json", "a-list", "empty", "empty-request", "unknown-resource"],
)
def test_a_malformed_review_gets_a_client_error(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str, body: bytes
) -> None:
    status, text = post(operator, "validate-pods", body)
    assert 400 <= status < 500, (status, text)
    assert operator.alive
    apply(cluster, pod("still-served", namespace, app="nobody"))
    cluster.kubectl("delete", "pod", "still-served", "-n", namespace, "--wait=false")

"""The test control plane itself: version, namespaces, controllers, RBAC and admission webhooks."""

from __future__ import annotations

import base64
import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from tests.harness.client import ClusterClient
from tests.harness.pki import write_serving_certificate
from tests.harness.processes import wait_until

# The version hack/build-control-plane.sh builds, which honours the same variable.
KUBERNETES_VERSION = os.environ.get("KUBERNETES_VERSION", "v1.34.4")

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    """Poll probe until it returns something (each probe here returns None or a truthy value), for state
    reached asynchronously."""
    return wait_until(
        probe,
        deadline=time.monotonic() + timeout,
        timed_out=lambda: f"timed out after {timeout}s waiting for {what}",
        error=pytest.fail.Exception,
        interval=0.25,
    )


def get_json(cluster: ClusterClient, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    return out


def owned_by(obj: dict[str, Any], kind: str, name: str) -> bool:
    return any(
        ref.get("kind") == kind and ref.get("name") == name and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences", [])
    )


def test_server_version(cluster: ClusterClient) -> None:
    versions = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    server = versions["serverVersion"]
    if cluster.local is None:
        assert server["major"] == "1"
    else:
        assert server["gitVersion"] == KUBERNETES_VERSION
        assert versions["clientVersion"]["gitVersion"] == KUBERNETES_VERSION


def test_namespace_create_and_delete(cluster: ClusterClient) -> None:
    name = "e2e-lifecycle"
    cluster.kubectl("create", "namespace", name)
    assert get_json(cluster, "namespace", name)["status"]["phase"] == "Active"
    # Content makes deletion depend on the namespace controller emptying it before finalizing.
    cluster.kubectl("create", "configmap", "content", "-n", name, "--from-literal=k=v")

    cluster.kubectl("delete", "namespace", name, "--wait=true", "--timeout=60s")

    gone = cluster.kubectl("get", "namespace", name, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.k8s.io/pause:3.10
"""


def test_deployment_gets_replicaset_and_pods(cluster: ClusterClient, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)

    def replicaset() -> dict[str, Any] | None:
        items = get_json(cluster, "replicasets", "-n", namespace, "-l", "app=web")["items"]
        owned = [rs for rs in items if owned_by(rs, "Deployment", "web")]
        return owned[0] if owned else None

    rs = eventually(replicaset, "a ReplicaSet owned by the Deployment")
    rs_name = rs["metadata"]["name"]

    def pods() -> list[dict[str, Any]] | None:
        items = get_json(cluster, "pods", "-n", namespace, "-l", "app=web")["items"]
        owned = [p for p in items if owned_by(p, "ReplicaSet", rs_name)]
        return owned if len(owned) == 2 else None

    created = eventually(pods, f"2 pods owned by ReplicaSet {rs_name}")
    if cluster.local is not None:
        # No scheduler and no kubelet: the pods exist as API objects only.
        for pod in created:
            assert pod["status"]["phase"] == "Pending"
            assert "nodeName" not in pod["spec"]


def test_rbac_denies_unbound_user(cluster: ClusterClient, namespace: str) -> None:
    denied = cluster.kubectl("get", "pods", "-n", namespace, "--as=nobody", check=False)
    assert denied.returncode != 0
    assert 'pods is forbidden: User "nobody" cannot list resource "pods"' in denied.stderr
    can_i = cluster.kubectl("auth", "can-i", "list", "pods", "-n", namespace, "--as=nobody", check=False)
    assert can_i.stdout.strip() == "no"

    # The other half of RBAC: a RoleBinding grants exactly what its Role allows.
    cluster.kubectl("create", "role", "pod-reader", "--verb=list", "--resource=pods", "-n", namespace)
    cluster.kubectl("create", "rolebinding", "nobody-reads-pods", "--role=pod-reader", "--user=nobody", "-n", namespace)
    eventually(
        lambda: cluster.kubectl("get", "pods", "-n", namespace, "--as=nobody", check=False).returncode == 0 or None,
        "the RoleBinding to take effect",
        timeout=30,
    )
    still_denied = cluster.kubectl("get", "secrets", "-n", namespace, "--as=nobody", check=False)
    assert "forbidden" in still_denied.stderr


# --------------------------------------------------------------------------------------------------
# Admission webhooks served from this process on loopback, the way the operator's are tested.


class _WebhookHandler(BaseHTTPRequestHandler):
    seen: list[str]

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        # The apiserver appends ?timeout=<timeoutSeconds>s to the configured URL.
        path = urlsplit(self.path).path
        self.seen.append(f"{path} {request['operation']} {request['name']}")
        response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        if path == "/validate":
            response["allowed"] = False
            response["status"] = {"code": 403, "message": f"e2e webhook denies {request['name']}"}
        elif path == "/mutate":
            patch = [{"op": "add", "path": "/metadata/labels/e2e-mutated", "value": "true"}]
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        body = json.dumps(review)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _webhook_configuration(kind: str, path: str, namespace: str, port: int, ca_bundle: str) -> str:
    return json.dumps(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": f"{namespace}-{path}"},
            "webhooks": [
                {
                    "name": f"{path}.e2e.modelroute.test",
                    "clientConfig": {"url": f"https://127.0.0.1:{port}/{path}", "caBundle": ca_bundle},
                    "rules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["configmaps"],
                        }
                    ],
                    # Scoped to one namespace and a label: the cluster is shared by the whole session.
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "objectSelector": {"matchLabels": {"e2e-webhook": path}},
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": 5,
                }
            ],
        }
    )


@pytest.fixture
def webhooks(cluster: ClusterClient, namespace: str, tmp_path: Path) -> Iterator[list[str]]:
    """Validating and mutating webhooks for configmaps in `namespace`; yields the requests seen."""
    if cluster.local is None:
        pytest.skip("an external cluster's apiserver cannot reach a webhook on this machine's loopback")
    certs = write_serving_certificate(tmp_path / "webhook-tls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.cert_file, certs.key_file)
    seen: list[str] = []
    handler = type("Handler", (_WebhookHandler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    ca_bundle = base64.b64encode(certs.ca_file.read_bytes()).decode()
    kinds = {"validate": "ValidatingWebhookConfiguration", "mutate": "MutatingWebhookConfiguration"}
    try:
        for path, kind in kinds.items():
            cluster.kubectl("apply", "-f", "-", input=_webhook_configuration(kind, path, namespace, port, ca_bundle))
        yield seen
    finally:
        for path, kind in kinds.items():
            cluster.kubectl("delete", kind, f"{namespace}-{path}", "--ignore-not-found", check=False)
        server.shutdown()
        server.server_close()


def _create_configmap(cluster: ClusterClient, namespace: str, name: str, label: str) -> Any:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"e2e-webhook": label}},
    }
    return cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(manifest), check=False)


def test_validating_webhook_on_loopback_denies(cluster: ClusterClient, namespace: str, webhooks: list[str]) -> None:
    attempt = iter(range(1000))

    # The apiserver picks up new webhook configurations asynchronously.
    def denied() -> str | None:
        proc = _create_configmap(cluster, namespace, f"denied-{next(attempt)}", "validate")
        return proc.stderr if proc.returncode != 0 else None

    stderr = eventually(denied, "the validating webhook to be called", timeout=30)
    assert 'admission webhook "validate.e2e.modelroute.test" denied the request' in stderr
    assert "e2e webhook denies denied-" in stderr
    assert any(s.startswith("/validate CREATE denied-") for s in webhooks)
    cluster.kubectl("create", "configmap", "unlabelled", "-n", namespace)


def test_mutating_webhook_on_loopback_patches(cluster: ClusterClient, namespace: str, webhooks: list[str]) -> None:
    attempt = iter(range(1000))

    def mutated() -> dict[str, Any] | None:
        proc = _create_configmap(cluster, namespace, f"mutated-{next(attempt)}", "mutate")
        assert proc.returncode == 0, proc.stderr
        created: dict[str, Any] = json.loads(proc.stdout)
        return created if "e2e-mutated" in created["metadata"]["labels"] else None

    created = eventually(mutated, "the mutating webhook to be called", timeout=30)
    assert created["metadata"]["labels"]["e2e-mutated"] == "true"
    assert any(s.startswith("/mutate CREATE mutated-") for s in webhooks)

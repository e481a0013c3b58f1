"""What the node checks build with: what the release published, governed namespaces, pods that run the
local images (never pulled), an in-cluster HTTPS endpoint at a fixed ClusterIP, and waiting for pods
to run or finish."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.harness.client import ClusterClient, apply, eventually, get
from tests.harness.node import Image, LocalNode
from tests.harness.pki import write_serving_certificate

from modelroute.controllers.leader import LeaseTerms

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modelroute"
RELEASE = "modelroute"
RELEASE_NAMESPACE = "modelroute-system"
INSTANCE_SELECTOR = f"app.kubernetes.io/instance={RELEASE}"
# The operator's leader-election Lease, in the release namespace.
LEASE = LeaseTerms(namespace=RELEASE_NAMESPACE).name
TEST_LABEL = "modelroute.io/node-check"
WORKLOADS = Path(__file__).resolve().parent / "workloads"
SCRIPTS_CONFIGMAP = "node-check-scripts"


@dataclass(frozen=True)
class Published:
    """What hack/release.sh pushed to the registry on loopback (its dist/release.json)."""

    image: str
    """REGISTRY/modelroute/modelroute:VERSION"""
    digest: str
    chart: str
    """oci://REGISTRY/charts/modelroute"""
    chart_version: str
    ca_file: Path

    @property
    def image_repository(self) -> str:
        return self.image.rpartition(":")[0]


@dataclass(frozen=True)
class Node:
    """The running node, kubectl and helm bound to it, and its images: the operator's in the registry
    on loopback (pulled by the node), the others imported into it."""

    local: LocalNode
    kube: ClusterClient
    images: dict[str, Image]

    def image(self, name: str) -> str:
        return self.images[name].ref


def chart_image_values(ref: str) -> list[str]:
    """helm arguments that run the operator image `ref` (REPOSITORY:TAG), pulled by the node if absent."""
    repository, _, tag = ref.rpartition(":")
    return ["--set", f"image.repository={repository}", "--set", f"image.tag={tag}"]


def governed_namespace(
    node: Node,
    name: str,
    *,
    enforcement: str = "Enforce",
    unmanaged: str = "Deny",
    restrict: dict[str, str] | None = None,
) -> str:
    """A namespace and a RoutePolicy of its own that governs it; the scripts ConfigMap is in it too."""
    apply(
        node.kube,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {TEST_LABEL: name}}},
        {
            "apiVersion": "modelroute.io/v1alpha1",
            "kind": "RoutePolicy",
            "metadata": {"name": name},
            "spec": {
                "enforcement": enforcement,
                "namespaceSelector": {"matchLabels": {TEST_LABEL: name}},
                "unmanaged": unmanaged,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": SCRIPTS_CONFIGMAP, "namespace": name},
            "data": {p.name: p.read_text() for p in sorted(WORKLOADS.iterdir()) if p.suffix in (".py", ".cjs")},
        },
    )
    eventually(lambda: get(node.kube, "serviceaccount", "-n", name, "default"), "the default service account", 60)
    return name


def pod_body(
    node: Node,
    name: str,
    namespace: str,
    *,
    image: str = "busybox",
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    restart: str = "Always",
) -> dict[str, Any]:
    """A one-container Pod running a local image with imagePullPolicy Never; scripts at /scripts."""
    container: dict[str, Any] = {
        "name": "app",
        "image": node.image(image),
        "imagePullPolicy": "Never",
        "command": command or ["sleep", "3600"],
        "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}],
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
            "volumes": [{"name": "scripts", "configMap": {"name": SCRIPTS_CONFIGMAP, "optional": True}}],
        },
    }


def plain_pod(node: Node, name: str, namespace: str, env: dict[str, str] | None = None) -> str:
    return yaml.safe_dump(pod_body(node, name, namespace, env=env))


def pod_phase(node: Node, namespace: str, name: str) -> str:
    return str(get(node.kube, "pod", "-n", namespace, name)["status"].get("phase", ""))


def wait_running(node: Node, namespace: str, name: str, timeout: float = 120) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        pod = get(node.kube, "pod", "-n", namespace, name)
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
        return pod if pod["status"].get("phase") == "Running" and ready else None

    result: dict[str, Any] = eventually(running, f"pod {namespace}/{name} Running and Ready", timeout, 1)
    return result


def wait_finished(node: Node, namespace: str, name: str, timeout: float = 180) -> str:
    """The logs of a pod once it has Succeeded; an AssertionError with its logs if it Failed."""
    phase = eventually(
        lambda: pod_phase(node, namespace, name) in ("Succeeded", "Failed") and pod_phase(node, namespace, name),
        f"pod {namespace}/{name} to finish",
        timeout,
        1,
    )
    logs = node.kube.kubectl("logs", "-n", namespace, name).stdout
    assert phase == "Succeeded", f"pod {namespace}/{name} {phase}:\n{logs}"
    return logs


@dataclass(frozen=True)
class Endpoint:
    """An HTTPS endpoint in a pod behind a Service with a fixed ClusterIP."""

    namespace: str
    name: str
    cluster_ip: str
    pod_ip: str
    ca_pem: str

    @property
    def url(self) -> str:
        return f"https://{self.cluster_ip}"

    def received(self, node: Node) -> list[str]:
        logs = node.kube.kubectl("logs", "-n", self.namespace, self.name).stdout
        return [line.removeprefix("RECEIVED ") for line in logs.splitlines() if line.startswith("RECEIVED ")]


def https_endpoint(node: Node, namespace: str, name: str, cluster_ip: str, workdir: Path) -> Endpoint:
    """The mock endpoint (workloads/mock_endpoint.py) with a certificate for its ClusterIP."""
    certs = write_serving_certificate(workdir / name, hosts=(cluster_ip,))
    node.kube.kubectl(
        "create",
        "secret",
        "tls",
        f"{name}-tls",
        "-n",
        namespace,
        f"--cert={certs.cert_file}",
        f"--key={certs.key_file}",
    )
    pod = pod_body(
        node, name, namespace, image="sdk", command=["python3", "/scripts/mock_endpoint.py"], labels={"app": name}
    )
    pod["spec"]["containers"][0]["volumeMounts"].append({"name": "tls", "mountPath": "/tls"})
    pod["spec"]["volumes"].append({"name": "tls", "secret": {"secretName": f"{name}-tls"}})
    # Port 443 in the pod as in the Service, without any capability: a namespaced, safe sysctl.
    pod["spec"]["securityContext"] = {"sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]}
    pod["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": 443}, "periodSeconds": 2}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": cluster_ip, "selector": {"app": name}, "ports": [{"port": 443, "targetPort": 443}]},
    }
    apply(node.kube, service, pod)
    running = wait_running(node, namespace, name)
    return Endpoint(namespace, name, cluster_ip, running["status"]["podIP"], certs.ca_file.read_text())


def ca_configmap(node: Node, namespace: str, endpoint: Endpoint) -> str:
    """A ConfigMap with the endpoint's CA for the SDK's trust store (SSL_CERT_FILE); its name."""
    name = f"{endpoint.name}-ca"
    apply(
        node.kube,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"ca.crt": endpoint.ca_pem},
        },
    )
    return name


def secret_with_key(node: Node, namespace: str, name: str, value: str) -> None:
    apply(
        node.kube,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {"api-key": value},
        },
    )

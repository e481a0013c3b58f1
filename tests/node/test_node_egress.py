"""Egress enforced on a real dataplane: kube-router enforces NetworkPolicies on the node. A covered workload
with `egress.restrict` reaches its approved endpoint through the SDK, while a program in it that
hard-codes another in-cluster HTTPS address is refused by the network, which an uncovered pod in the
same namespace does reach. This layer holds even when admission-time detection misses something."""

from __future__ import annotations

import subprocess

import pytest
from node_kit import (
    Endpoint,
    Node,
    ca_configmap,
    governed_namespace,
    https_endpoint,
    pod_body,
    secret_with_key,
    wait_running,
)
from tests.harness.client import apply, eventually, get

NAMESPACE = "node-egress"
# Fixed ClusterIPs from the range's static band (see test_node_sdk.py).
APPROVED_IP = "10.0.0.13"
OTHER_IP = "10.0.0.14"
WORKLOAD = "restricted-app"


@pytest.fixture(scope="module")
def endpoints(node: Node, release: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Endpoint, Endpoint]:
    governed_namespace(node, NAMESPACE)
    work = tmp_path_factory.mktemp("egress")
    approved = https_endpoint(node, NAMESPACE, "approved", APPROVED_IP, work)
    other = https_endpoint(node, NAMESPACE, "other", OTHER_IP, work)
    apply(
        node.kube,
        {
            "apiVersion": "modelroute.io/v1alpha1",
            "kind": "AzureEndpoint",
            "metadata": {"name": "node-egress-gateway"},
            "spec": {
                "url": approved.url,
                "type": "Gateway",
                "defaultApiVersion": "2024-10-21",
                # Where the route resolves inside the network: its Service address and, after the
                # Service's translation, the pod behind it.
                "egress": {"cidrs": [f"{approved.cluster_ip}/32", f"{approved.pod_ip}/32"]},
            },
        },
        {
            "apiVersion": "modelroute.io/v1alpha1",
            "kind": "ModelWorkload",
            "metadata": {"name": WORKLOAD, "namespace": NAMESPACE},
            "spec": {
                "selector": {"matchLabels": {"app": WORKLOAD}},
                "endpointRef": {"name": "node-egress-gateway"},
                "deployment": "gpt-4o",
                "procurement": {"channel": "Microsoft", "costCenter": "CC-0002"},
                "inject": {"profiles": ["OpenAI"], "credentialsSecretRef": {"name": "llm-key", "key": "api-key"}},
                "egress": {"restrict": True},
            },
        },
    )
    secret_with_key(node, NAMESPACE, "llm-key", "sk-node-egress-check")
    return approved, other


def _start(node: Node, name: str, labels: dict[str, str], ca: str) -> str:
    """A long-running pod of the sdk image with the endpoint's CA; its pod IP once it runs."""
    pod = pod_body(node, name, NAMESPACE, image="sdk", labels=labels)
    container = pod["spec"]["containers"][0]
    container["env"] = [{"name": "SSL_CERT_FILE", "value": "/ca/ca.crt"}]
    container["volumeMounts"].append({"name": "ca", "mountPath": "/ca"})
    pod["spec"]["volumes"].append({"name": "ca", "configMap": {"name": ca}})
    apply(node.kube, pod)
    return str(wait_running(node, NAMESPACE, name)["status"]["podIP"])


def _program(node: Node, name: str, target: str) -> str:
    """The SDK client (with the injected settings) plus a hard-coded HTTPS address, run in the pod."""
    result = node.kube.kubectl("exec", "-n", NAMESPACE, name, "--", "python3", "/scripts/sdk_client.py", target)
    return str(result.stdout)


def _firewall_covers(pod_ip: str) -> bool:
    """kube-router has written the pod's firewall chain: its egress is now filtered."""
    rules = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout
    return any(pod_ip in line and "KUBE-POD-FW" in line for line in rules.splitlines())


def test_the_operator_generates_a_network_policy_for_the_restricted_workload(
    node: Node, endpoints: tuple[Endpoint, Endpoint]
) -> None:
    approved, _ = endpoints
    policy = eventually(
        lambda: get(node.kube, "networkpolicy", "-n", NAMESPACE, f"modelroute-egress-{WORKLOAD}"),
        "the egress NetworkPolicy",
        60,
    )
    print("\nNetworkPolicy spec:", policy["spec"])
    cidrs = {peer["ipBlock"]["cidr"] for rule in policy["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer}
    assert cidrs == {f"{approved.cluster_ip}/32", f"{approved.pod_ip}/32"}
    assert policy["spec"]["policyTypes"] == ["Egress"]


def test_the_restricted_workload_reaches_its_endpoint_and_the_network_refuses_a_hard_coded_other_address(
    node: Node, endpoints: tuple[Endpoint, Endpoint]
) -> None:
    approved, other = endpoints
    eventually(
        lambda: get(node.kube, "networkpolicy", "-n", NAMESPACE, f"modelroute-egress-{WORKLOAD}"), "the policy", 60
    )
    ca = ca_configmap(node, NAMESPACE, approved)

    # Uncovered and unrestricted, in the same namespace: the other address is reachable.
    _start(node, "unrestricted", {"app": "unrestricted"}, ca)
    control = _program(node, "unrestricted", other.url)
    print("\nuncovered pod:", *control.splitlines(), sep="\n  ")
    assert f"hard-coded {other.url}: reached" in control

    # Covered and restricted: the SDK reaches the approved route, the hard-coded address does not answer.
    pod_ip = _start(node, WORKLOAD, {"app": WORKLOAD}, ca)
    eventually(lambda: _firewall_covers(pod_ip), "kube-router's firewall chain for the restricted pod", 60, 1)
    restricted = _program(node, WORKLOAD, other.url)
    print("restricted pod:", *restricted.splitlines(), sep="\n  ")
    print("the approved endpoint received:", *approved.received(node), sep="\n  ")
    print("the other endpoint received:", *other.received(node), sep="\n  ")
    assert "OpenAI() answer: saw POST" in restricted
    assert f"hard-coded {other.url}: refused" in restricted
    assert any(r.startswith("POST ") for r in approved.received(node))
    # Only the uncovered pod's probe ever arrived at the other endpoint.
    assert len(other.received(node)) == 1

"""The real `openai` SDKs (Python, and Node's package) in a covered pod, with no endpoint settings of
its own: ModelRoute's webhook injects the approved route, and the requests arrive at that in-cluster
HTTPS endpoint (an AzureEndpoint of type Gateway at a fixed ClusterIP), as seen by the endpoint
itself. The key reaches the endpoint as a header, and its value appears in no log."""

from __future__ import annotations

import pytest
from node_kit import (
    INSTANCE_SELECTOR,
    RELEASE_NAMESPACE,
    Endpoint,
    Node,
    ca_configmap,
    governed_namespace,
    https_endpoint,
    pod_body,
    secret_with_key,
    wait_finished,
)
from tests.harness.client import apply

NAMESPACE = "node-sdk"
# Fixed ClusterIPs come from the range's static band (the first 16 addresses of a /24), which the API
# server never hands out on its own, so they cannot collide with a Service that got an address by chance.
ENDPOINT_IP = "10.0.0.12"
# A fake key, never printed: the check is that no log contains it.
KEY = "sk-node-check-0f3a9c"
API_VERSION = "2024-10-21"


@pytest.fixture(scope="module")
def endpoint(node: Node, release: str, tmp_path_factory: pytest.TempPathFactory) -> Endpoint:
    governed_namespace(node, NAMESPACE)
    approved = https_endpoint(node, NAMESPACE, "approved", ENDPOINT_IP, tmp_path_factory.mktemp("sdk"))
    apply(
        node.kube,
        {
            "apiVersion": "modelroute.io/v1alpha1",
            "kind": "AzureEndpoint",
            "metadata": {"name": "node-sdk-gateway"},
            "spec": {"url": approved.url, "type": "Gateway", "defaultApiVersion": API_VERSION},
        },
        {
            "apiVersion": "modelroute.io/v1alpha1",
            "kind": "ModelWorkload",
            "metadata": {"name": "sdk-app", "namespace": NAMESPACE},
            "spec": {
                "selector": {"matchLabels": {"app": "sdk-app"}},
                "endpointRef": {"name": "node-sdk-gateway"},
                "apiMode": "Stateless",
                "deployment": "gpt-4o",
                "procurement": {"channel": "Microsoft", "costCenter": "CC-0001"},
                "inject": {
                    "profiles": ["OpenAI", "AzureOpenAI"],
                    "credentialsSecretRef": {"name": "llm-key", "key": "api-key"},
                },
            },
        },
    )
    secret_with_key(node, NAMESPACE, "llm-key", KEY)
    return approved


def test_the_sdk_of_a_covered_pod_sends_its_requests_to_the_approved_in_cluster_endpoint(
    node: Node, endpoint: Endpoint
) -> None:
    ca = ca_configmap(node, NAMESPACE, endpoint)
    pod = pod_body(
        node, "sdk-app", NAMESPACE, image="sdk", command=["python3", "/scripts/sdk_client.py"], restart="Never"
    )
    container = pod["spec"]["containers"][0]
    # The endpoint's private CA is the only setting the pod brings; everything else is injected.
    container["env"] = [{"name": "SSL_CERT_FILE", "value": "/ca/ca.crt"}]
    container["volumeMounts"].append({"name": "ca", "mountPath": "/ca"})
    pod["spec"]["volumes"].append({"name": "ca", "configMap": {"name": ca}})
    apply(node.kube, pod)

    client_log = wait_finished(node, NAMESPACE, "sdk-app")
    received = endpoint.received(node)
    print("\nSDK pod:", *client_log.splitlines(), sep="\n  ")
    print("the approved endpoint received:", *received, sep="\n  ")
    assert f"POST /openai/deployments/gpt-4o/chat/completions?api-version={API_VERSION} auth=api-key model=gpt-4o" in (
        received
    )
    assert any(r.startswith("POST ") and "/chat/completions" in r and "auth=none" not in r for r in received)
    assert len(received) >= 2


def test_nodes_openai_package_in_a_covered_pod_sends_its_requests_to_the_approved_endpoint(
    node: Node, endpoint: Endpoint
) -> None:
    ca = ca_configmap(node, NAMESPACE, endpoint)
    pod = pod_body(node, "node-sdk-app", NAMESPACE, image="sdk", command=["node", "/scripts/sdk_client.cjs"])
    pod["metadata"]["labels"] = {"app": "sdk-app"}  # covered by the same ModelWorkload
    pod["spec"]["restartPolicy"] = "Never"
    container = pod["spec"]["containers"][0]
    container["env"] = [{"name": "NODE_EXTRA_CA_CERTS", "value": "/ca/ca.crt"}]
    container["volumeMounts"].append({"name": "ca", "mountPath": "/ca"})
    pod["spec"]["volumes"].append({"name": "ca", "configMap": {"name": ca}})
    before = len(endpoint.received(node))
    apply(node.kube, pod)

    client_log = wait_finished(node, NAMESPACE, "node-sdk-app")
    received = endpoint.received(node)[before:]
    print("\nNode SDK pod:", *client_log.splitlines(), sep="\n  ")
    print("the approved endpoint received:", *received, sep="\n  ")
    assert "NODE-SDK-DONE" in client_log
    assert "POST /chat/completions auth=bearer model=gpt-4o" in received
    # Node's AzureOpenAI() takes OPENAI_BASE_URL over AZURE_OPENAI_ENDPOINT when both are set (the
    # default profiles inject both), so its path lacks the /openai prefix the Python client adds;
    # the request still goes to the approved endpoint with the deployment, api-version and key.
    assert any(
        r.startswith("POST ")
        and f"/deployments/gpt-4o/chat/completions?api-version={API_VERSION} auth=api-key model=gpt-4o" in r
        for r in received
    )


def test_the_key_value_appears_in_no_log(node: Node, endpoint: Endpoint) -> None:
    logs = [
        node.kube.kubectl("logs", "-n", NAMESPACE, "sdk-app").stdout,
        node.kube.kubectl("logs", "-n", NAMESPACE, "node-sdk-app").stdout,
        node.kube.kubectl("logs", "-n", NAMESPACE, endpoint.name).stdout,
        node.kube.kubectl("logs", "-n", RELEASE_NAMESPACE, "-l", INSTANCE_SELECTOR, "--tail=-1").stdout,
    ]
    logs += [p.read_text(errors="replace") for p in node.local.workdir.glob("*.log")]
    assert all(KEY not in text for text in logs)
    assert logs[0]

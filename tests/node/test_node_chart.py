"""`helm install oci://...` of the released chart on a real node: the chart comes from the registry on
loopback and the node pulls the operator image from it; both replicas run and are Ready, the
PodDisruptionBudget and the leader Lease exist, and the webhooks are served through the chart's
Service with the chart's generated certificates."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import tempfile
from pathlib import Path
from typing import Any

from node_kit import INSTANCE_SELECTOR, LEASE, RELEASE, Node, Published, governed_namespace, plain_pod
from tests.harness.client import eventually, get


def test_the_release_is_installed_from_the_registry_and_the_node_pulled_the_operator_image(
    node: Node, published: Published, operator_image_before_install: bool, release: str
) -> None:
    image = node.image("modelroute")
    assert image == published.image
    assert operator_image_before_install is False, f"{image} was on the node before the install"
    listed = get(node.kube, "pods", "-n", release, "-l", INSTANCE_SELECTOR)["items"]
    assert {c["image"] for p in listed for c in p["spec"]["containers"]} == {image}
    # the first pod to run the image pulls it: the chart's pre-install hook Job (the CRD upgrade), not an
    # operator pod, which then finds it present
    pulled = [
        e["message"]
        for e in get(node.kube, "events", "-n", release, "--field-selector", "reason=Pulled")["items"]
        if e["involvedObject"]["kind"] == "Pod"
    ]
    print(f"\nchart {published.chart} {published.chart_version}; image {image}@{published.digest}", *pulled, sep="\n  ")
    assert any(m.startswith(f'Successfully pulled image "{image}"') for m in pulled)
    assert node.local.has_image(image)
    # What the node holds is what the release pushed, by digest.
    status = json.loads(node.local.crictl("inspecti", "-o", "json", image).stdout)["status"]
    assert f"{published.image_repository}@{published.digest}" in status["repoDigests"]
    chart = get(node.kube, "secrets", "-n", release, "-l", f"owner=helm,name={RELEASE}")["items"]
    assert chart, "helm recorded no release"


def test_both_operator_replicas_run_the_built_image_and_are_ready(node: Node, release: str) -> None:
    pods = get(node.kube, "pods", "-n", release, "-l", INSTANCE_SELECTOR)["items"]
    summary = [
        (p["metadata"]["name"], p["status"]["phase"], _ready(p), p["spec"]["containers"][0]["image"]) for p in pods
    ]
    print("\noperator pods:", *summary, sep="\n  ")
    assert len(pods) == 2
    assert all(phase == "Running" and ready for _, phase, ready, _ in summary)
    assert {image for *_, image in summary} == {node.image("modelroute")}


def test_the_disruption_budget_and_the_leader_lease_are_in_place(node: Node, release: str) -> None:
    pdbs = get(node.kube, "poddisruptionbudgets", "-n", release, "-l", INSTANCE_SELECTOR)["items"]
    assert len(pdbs) == 1
    pdb = pdbs[0]
    eventually(lambda: get(node.kube, "pdb", "-n", release, pdb["metadata"]["name"])["status"]["currentHealthy"] == 2)
    pod_names = {p["metadata"]["name"] for p in get(node.kube, "pods", "-n", release, "-l", INSTANCE_SELECTOR)["items"]}
    holder = eventually(
        lambda: get(node.kube, "lease", "-n", release, LEASE)["spec"].get("holderIdentity"), "a lease holder", 60
    )
    print(f"\nPDB {pdb['metadata']['name']} minAvailable={pdb['spec']['minAvailable']}; Lease {LEASE} held by {holder}")
    assert pdb["spec"]["minAvailable"] == 1
    assert any(name in holder for name in pod_names)


def test_the_service_serves_the_webhooks_with_the_chart_generated_certificate(node: Node, release: str) -> None:
    service = _webhook_service(node, release)
    secret = get(
        node.kube, "secrets", "-n", release, "-l", INSTANCE_SELECTOR, "--field-selector", "type=kubernetes.io/tls"
    )
    assert len(secret["items"]) == 1
    ca_pem = base64.b64decode(secret["items"][0]["data"]["ca.crt"])
    configs = get(node.kube, "mutatingwebhookconfigurations,validatingwebhookconfigurations", "-l", INSTANCE_SELECTOR)
    client_configs = [w["clientConfig"] for c in configs["items"] for w in c["webhooks"]]
    assert client_configs
    assert all(cc["service"]["name"] == service["metadata"]["name"] for cc in client_configs)
    assert all(base64.b64decode(cc["caBundle"]) == ca_pem for cc in client_configs)

    # From this host, through kube-proxy's rules for the Service's ClusterIP, as the API server calls it.
    name = f"{service['metadata']['name']}.{release}.svc"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ca.crt").write_bytes(ca_pem)
        ctx = ssl.create_default_context(cafile=str(Path(tmp) / "ca.crt"))
    with (
        socket.create_connection(
            (service["spec"]["clusterIP"], service["spec"]["ports"][0]["port"]), timeout=10
        ) as raw,
        ctx.wrap_socket(raw, server_hostname=name) as tls,
    ):
        peer = tls.getpeercert()
    assert peer is not None
    print(f"\nTLS to {service['spec']['clusterIP']} verified as {name} by the chart's CA; subject {peer['subject']}")

    # And the API server's own call: a pod in a governed namespace is answered by the operator pods.
    namespace = governed_namespace(node, "node-chart", enforcement="Enforce")
    denied = node.kube.kubectl(
        "apply",
        "-f",
        "-",
        input=plain_pod(node, "direct", namespace, env={"OPENAI_BASE_URL": "https://api.openai.com/v1"}),
        check=False,
    )
    print(f"a pod sending OpenAI traffic to api.openai.com: {denied.stderr.strip()}")
    assert denied.returncode != 0
    assert "denied the request" in denied.stderr
    assert "modelroute" in denied.stderr


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def _webhook_service(node: Node, release: str) -> dict[str, Any]:
    services = get(node.kube, "services", "-n", release, "-l", INSTANCE_SELECTOR)["items"]
    webhook = [s for s in services if any(p["name"] == "https-webhook" for p in s["spec"]["ports"])]
    assert len(webhook) == 1
    return dict(webhook[0])

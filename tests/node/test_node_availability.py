"""Availability of the installed chart on the real node: an operator pod deleted under a steady stream of
pod creates fails none of them; `helm upgrade` to Enforce and back changes the verdict both ways; the
system namespaces admit pods while the operator is scaled to zero; `helm uninstall` leaves nothing
behind. Run in this order, last of the node checks that use the release."""

from __future__ import annotations

import threading
import time

import yaml
from node_kit import (
    CHART,
    INSTANCE_SELECTOR,
    LEASE,
    RELEASE,
    TEST_LABEL,
    Node,
    chart_image_values,
    governed_namespace,
    pod_body,
)
from tests.harness.client import eventually, get

STREAM_NAMESPACE = "node-stream"
UPGRADE_NAMESPACE = "node-upgrade"
DIRECT_OPENAI = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}
# Admitted pods of the stream wait at a scheduling gate: admission is the subject, not the node.
GATE = [{"name": "modelroute.io/node-check"}]


def _gated_pod(node: Node, name: str, namespace: str) -> str:
    body = pod_body(node, name, namespace)
    body["spec"]["schedulingGates"] = GATE
    return yaml.safe_dump(body)


def _ready_operator_pods(node: Node, release: str) -> list[str]:
    pods = get(node.kube, "pods", "-n", release, "-l", INSTANCE_SELECTOR)["items"]
    return [
        p["metadata"]["name"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]


def test_deleting_an_operator_pod_under_a_stream_of_pod_creates_fails_none(node: Node, release: str) -> None:
    governed_namespace(node, STREAM_NAMESPACE, enforcement="Enforce")
    eventually(lambda: len(_ready_operator_pods(node, release)) == 2, "two Ready operator pods", 120)
    failures: list[str] = []
    created = 0
    stop = threading.Event()

    def stream() -> None:
        nonlocal created
        n = 0
        while not stop.is_set():
            n += 1
            result = node.kube.kubectl(
                "create", "-f", "-", input=_gated_pod(node, f"stream-{n}", STREAM_NAMESPACE), check=False
            )
            if result.returncode == 0:
                created += 1
            else:
                failures.append(f"stream-{n}: {result.stderr.strip()}")
            time.sleep(0.2)

    worker = threading.Thread(target=stream)
    worker.start()
    try:
        time.sleep(3)
        victim = _ready_operator_pods(node, release)[0]
        node.kube.kubectl("delete", "pod", "-n", release, victim, "--wait=false")
        # Until the Deployment has replaced it and both replicas serve again.
        eventually(
            lambda: len(_ready_operator_pods(node, release)) == 2 and victim not in _ready_operator_pods(node, release),
            "the Deployment to replace the deleted pod",
            180,
            1,
        )
        time.sleep(3)
    finally:
        stop.set()
        worker.join()
    print(f"\ndeleted operator pod {victim}: {created} pod creates admitted, {len(failures)} failed")
    assert failures == []
    assert created >= 10
    node.kube.kubectl("delete", "namespace", STREAM_NAMESPACE, "--wait=false")


def test_helm_upgrade_to_enforce_and_back_changes_the_verdict_both_ways(node: Node, release: str) -> None:
    node.kube.kubectl("create", "namespace", UPGRADE_NAMESPACE)
    node.kube.kubectl("label", "namespace", UPGRADE_NAMESPACE, f"{TEST_LABEL}={UPGRADE_NAMESPACE}")
    eventually(lambda: get(node.kube, "serviceaccount", "-n", UPGRADE_NAMESPACE, "default"), "service account", 60)
    label_key = TEST_LABEL.replace(".", "\\.")  # helm --set reads dots as nesting
    values = [
        *chart_image_values(node.image("modelroute")),
        "--set",
        "routePolicy.create=true",
        "--set",
        f"routePolicy.namespaceSelector.matchLabels.{label_key}={UPGRADE_NAMESPACE}",
        "--set",
        "routePolicy.unmanaged=Deny",
    ]

    def upgrade(enforcement: str) -> None:
        node.kube.helm(
            "upgrade",
            RELEASE,
            str(CHART),
            "-n",
            release,
            *values,
            "--set",
            f"routePolicy.enforcement={enforcement}",
            "--wait",
            "--timeout",
            "300s",
            timeout=330,
        )

    def create(name: str) -> tuple[bool, str]:
        body = yaml.safe_dump(pod_body(node, name, UPGRADE_NAMESPACE, env=DIRECT_OPENAI))
        result = node.kube.kubectl("create", "--dry-run=server", "-f", "-", input=body, check=False)
        return result.returncode == 0, result.stderr.strip()

    upgrade("Enforce")
    enforced = eventually(lambda: (lambda r: r if not r[0] else None)(create("direct")), "Enforce to deny", 60)
    upgrade("Warn")
    warned = eventually(lambda: (lambda r: r if r[0] else None)(create("direct")), "Warn to admit", 60)
    print(f"\nEnforce: admitted={enforced[0]} ({enforced[1][:200]})\nWarn: admitted={warned[0]} ({warned[1][:200]})")
    assert not enforced[0]
    assert "denied the request" in enforced[1]
    assert warned[0]
    assert "Warning" in warned[1]


def test_system_namespaces_admit_pods_while_the_operator_is_scaled_to_zero(node: Node, release: str) -> None:
    deployment = get(node.kube, "deployments", "-n", release, "-l", INSTANCE_SELECTOR)["items"][0]["metadata"]["name"]
    node.kube.kubectl("scale", "deployment", "-n", release, deployment, "--replicas=0")
    try:
        eventually(
            lambda: not get(node.kube, "pods", "-n", release, "-l", INSTANCE_SELECTOR)["items"], "no operator pods", 120
        )
        system = node.kube.kubectl(
            "create", "-f", "-", input=yaml.safe_dump(pod_body(node, "while-down", "kube-system")), check=False
        )
        governed = node.kube.kubectl(
            "create", "-f", "-", input=_gated_pod(node, "while-down", UPGRADE_NAMESPACE), check=False
        )
        print(
            f"\noperator at 0 replicas: kube-system pod created={system.returncode == 0}; "
            f"governed namespace: {governed.stderr.strip()[:200]}"
        )
        assert system.returncode == 0, system.stderr
        # The webhook is still registered and fails closed where it governs.
        assert governed.returncode != 0
    finally:
        node.kube.kubectl("delete", "pod", "-n", "kube-system", "while-down", "--ignore-not-found", "--wait=false")
        node.kube.kubectl("scale", "deployment", "-n", release, deployment, "--replicas=2")


def test_helm_uninstall_leaves_no_webhook_policy_or_object_of_the_chart(node: Node, release: str) -> None:
    node.kube.helm("uninstall", RELEASE, "-n", release, "--wait", "--timeout", "180s", timeout=200)
    webhooks = node.kube.kubectl(
        "get", "mutatingwebhookconfigurations,validatingwebhookconfigurations", "-o", "name"
    ).stdout.split()
    policies = node.kube.kubectl(
        "get", "validatingadmissionpolicies,validatingadmissionpolicybindings", "-o", "name"
    ).stdout.split()
    # The operator pods go by garbage collection after the Deployment, which `--wait` does not cover.
    eventually(lambda: not _labelled(node), "the chart's labelled objects to go", 120, 1)
    eventually(lambda: not _release_namespace_leftovers(node, release), "the release namespace to empty", 120, 1)
    lease = node.kube.kubectl("get", "lease", "-n", release, LEASE, "-o", "name", "--ignore-not-found").stdout.strip()
    print(
        f"\nafter helm uninstall: webhook configurations={webhooks} admission policies={policies} "
        f"labelled objects={_labelled(node)} left in {release}: {_release_namespace_leftovers(node, release)}; "
        f"the leader Lease: {lease or 'gone'}"
    )
    assert webhooks == []
    assert policies == []
    assert lease == ""


def _labelled(node: Node) -> list[str]:
    kinds = (
        "all,configmaps,secrets,serviceaccounts,roles,rolebindings,leases,poddisruptionbudgets,"
        "clusterroles,clusterrolebindings,routepolicies,networkpolicies"
    )
    return list(node.kube.kubectl("get", kinds, "-A", "-l", INSTANCE_SELECTOR, "-o", "name").stdout.split())


def _release_namespace_leftovers(node: Node, namespace: str) -> list[str]:
    """Objects in the release namespace besides Kubernetes' own (the leader Lease is the chart's, so it
    must be gone too)."""
    names = node.kube.kubectl(
        "get",
        "all,configmaps,secrets,serviceaccounts,roles,rolebindings,poddisruptionbudgets,leases",
        "-n",
        namespace,
        "-o",
        "name",
    ).stdout.split()
    expected = {"configmap/kube-root-ca.crt", "serviceaccount/default"}
    return [n for n in names if n not in expected]

"""What the leader reconciles on a real API server: audit counts, egress policies, policy reports (more in
test_reports), metrics, the Lease, and the inventory report."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kube import pod
from report_crds import every_managed, install
from test_operator import endpoint, policy, wait_ready, workload
from tests.harness.client import ClusterClient, apply, eventually, get
from tests.harness.operator import OperatorProcess
from tests.unit.planted import MARKER, PLANTED_URLS, planted_pod

from modelroute.api.kinds import WGPOLICYK8S


def crd(group: str, version: str, plural: str, kind: str) -> dict[str, Any]:
    """A minimal stand-in for a third-party CRD: ModelRoute only needs the API to exist."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


@pytest.fixture
def restricted(cluster: ClusterClient, operator: OperatorProcess, namespace: str) -> dict[str, str]:
    name = f"{namespace}-private"
    apply(
        cluster,
        endpoint(name, egress={"cidrs": ["10.20.0.0/24"], "proxy": "http://10.30.0.5:3128"}),
        policy(f"{namespace}-p", namespace, enforcement="Enforce"),
        workload("chat", namespace, name, egress={"restrict": True}),
    )
    wait_ready(cluster, namespace)
    yield {"namespace": namespace, "endpoint": name}
    cluster.kubectl("delete", "aze", name, "--wait=false", check=False)
    cluster.kubectl("delete", "rp", f"{namespace}-p", "--wait=false", check=False)


def test_a_restricted_workload_gets_an_owned_network_policy(cluster: ClusterClient, restricted: dict[str, str]) -> None:
    ns = restricted["namespace"]
    netpol = eventually(lambda: get(cluster, "networkpolicy", "modelroute-egress-chat", "-n", ns))
    spec = netpol["spec"]
    assert spec["policyTypes"] == ["Egress"]
    assert spec["podSelector"]["matchLabels"] == {"app": "chat"}
    peers = [peer for rule in spec["egress"] for peer in rule.get("to", [])]
    assert {"ipBlock": {"cidr": "10.20.0.0/24"}} in peers
    assert {"ipBlock": {"cidr": "10.30.0.5/32"}} in peers
    assert any(p.get("port") == 53 for rule in spec["egress"] for p in rule.get("ports", []))
    owner = netpol["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("ModelWorkload", "chat")


def test_the_network_policy_is_garbage_collected_with_its_workload(
    cluster: ClusterClient, restricted: dict[str, str]
) -> None:
    ns = restricted["namespace"]
    eventually(lambda: get(cluster, "networkpolicy", "modelroute-egress-chat", "-n", ns))
    cluster.kubectl("delete", "mw", "chat", "-n", ns)
    gone = eventually(
        lambda: (
            cluster.kubectl("get", "networkpolicy", "modelroute-egress-chat", "-n", ns, check=False).returncode != 0
        ),
        timeout=60,
    )
    assert gone


def test_the_proxy_is_injected_into_covered_pods(cluster: ClusterClient, restricted: dict[str, str]) -> None:
    ns = restricted["namespace"]
    apply(cluster, pod("proxied", ns))
    env = {e["name"]: e.get("value") for e in get(cluster, "pod", "proxied", "-n", ns)["spec"]["containers"][0]["env"]}
    assert env["HTTPS_PROXY"] == "http://10.30.0.5:3128"
    assert env["NODE_USE_ENV_PROXY"] == "1"


def test_cilium_policies_are_written_where_cilium_is_installed(
    cluster: ClusterClient, restricted: dict[str, str]
) -> None:
    apply(cluster, crd("cilium.io", "v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy"))
    ns = restricted["namespace"]
    cluster.kubectl("annotate", "mw", "chat", "-n", ns, "touched=1", "--overwrite")  # a change wakes the reconciler
    cnp = eventually(lambda: get(cluster, "ciliumnetworkpolicies", "modelroute-egress-chat", "-n", ns), timeout=40)
    fqdns = [f for rule in cnp["spec"]["egress"] for f in rule.get("toFQDNs", [])]
    assert fqdns == [{"matchName": "contoso-e2e.openai.azure.com"}]


def test_the_audit_counts_pods_in_the_workload_status(cluster: ClusterClient, restricted: dict[str, str]) -> None:
    ns = restricted["namespace"]
    apply(cluster, pod("one", ns), pod("two", ns))
    counts = eventually(
        lambda: (c := get(cluster, "mw", "chat", "-n", ns)["status"].get("pods")) and c["matched"] == 2 and c
    )
    assert counts == {"matched": 2, "compliant": 2, "violating": 0}


def test_policy_reports_are_written_where_the_api_exists(cluster: ClusterClient, restricted: dict[str, str]) -> None:
    install(cluster, WGPOLICYK8S)
    ns = restricted["namespace"]
    apply(cluster, pod("reported", ns))
    reports = eventually(lambda: every_managed(cluster, ns), "a report for the pod", timeout=40)
    (report,) = [r for r in reports if r["metadata"]["name"] == "modelroute-pod-reported"]
    route = next(r for r in report["results"] if r["rule"] == "approved-route")
    assert route["result"] == "pass"
    assert route["properties"]["procurement-channel"] == "Microsoft"
    assert report["summary"]["pass"] >= 1


def test_the_report_command_lists_the_workloads(cluster: ClusterClient, restricted: dict[str, str]) -> None:
    ns = restricted["namespace"]
    apply(cluster, pod("listed", ns))
    script = Path(sys.executable).parent / "modelroute"

    def listed() -> dict[str, Any] | None:
        result = subprocess.run(
            [str(script), "report", "--kubeconfig", str(cluster.kubeconfig), "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        rows = [r for r in json.loads(result.stdout)["workloads"] if r["namespace"] == ns]
        return rows[0] if rows and rows[0]["pods"] >= 1 else None

    row = eventually(listed)
    assert (row["workload"], row["channel"], row["endpoint"], row["compliance"]) == (
        "chat",
        "Microsoft",
        restricted["endpoint"],
        "compliant",
    )


def test_metrics_and_health_endpoints(cluster: ClusterClient, operator: OperatorProcess) -> None:
    base = f"http://127.0.0.1:{operator.metrics_port}"
    with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "modelroute_admission_requests_total" in text
    assert "modelroute_admission_duration_seconds_bucket" in text
    assert 'modelroute_cluster_objects{kind="namespaces"}' in text


def test_with_leader_election_the_lease_names_the_leader(cluster: ClusterClient, operator: OperatorProcess) -> None:
    from tests.harness.operator import OPERATOR_NAMESPACE

    lease = eventually(lambda: get(cluster, "lease", "modelroute-leader", "-n", OPERATOR_NAMESPACE))
    assert lease["spec"]["holderIdentity"]
    assert lease["spec"]["leaseDurationSeconds"] == 15


def test_no_secret_planted_in_a_url_reaches_events_reports_statuses_or_logs(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    install(cluster, WGPOLICYK8S)
    apply(cluster, policy(f"{namespace}-warn", namespace, enforcement="Warn", unmanaged="Warn"))
    pods = []
    for position in PLANTED_URLS:
        body = planted_pod(position)
        body["metadata"]["namespace"] = namespace
        body["metadata"]["name"] = body["metadata"]["name"].lower()
        pods.append(body)
    admitted = apply(cluster, *pods)
    assert "api.openai.com" in admitted.stderr  # the warnings name the host, redacted
    assert MARKER not in admitted.stderr

    def events() -> list[dict[str, Any]]:
        items = get(cluster, "events", "-n", namespace)["items"]
        return items if len({e["involvedObject"]["name"] for e in items}) >= len(pods) else []

    recorded = eventually(events, "an Event for every planted pod", timeout=40)
    report = eventually(lambda: every_managed(cluster, namespace), "the planted pods' reports", timeout=40)
    assert any("api.openai.com" in e["message"] for e in recorded)
    annotations = [
        {
            k: v
            for k, v in (
                get(cluster, "pod", p["metadata"]["name"], "-n", namespace)["metadata"].get("annotations") or {}
            ).items()
            if k.startswith("modelroute.io/")
        }
        for p in pods
    ]  # kubectl keeps the whole manifest in its own annotation: the pod's owner's data, not ModelRoute's
    sinks = {
        "events": json.dumps(recorded),
        "policy report": json.dumps(report),
        "pod annotations": json.dumps(annotations),
        "operator log": operator.log_file.read_text(errors="replace"),
    }
    leaked = [sink for sink, text in sinks.items() if MARKER in text]
    assert leaked == []
    cluster.kubectl("delete", "rp", f"{namespace}-warn", "--wait=false", check=False)

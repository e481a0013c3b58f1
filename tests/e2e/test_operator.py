"""The operator on a real API server: CRD validation, admission, mutation, status, failure behaviour."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest
from kube import pod
from tests.harness.client import ClusterClient, apply, eventually, get
from tests.harness.operator import OPERATOR_NAMESPACE, OperatorProcess

AZURE_URL = "https://contoso-e2e.openai.azure.com"


def endpoint(name: str, url: str = AZURE_URL, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelroute.io/v1alpha1",
        "kind": "AzureEndpoint",
        "metadata": {"name": name},
        "spec": {"url": url, "defaultApiVersion": "2024-10-21", **spec},
    }


def policy(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return {
        "apiVersion": "modelroute.io/v1alpha1",
        "kind": "RoutePolicy",
        "metadata": {"name": name},
        "spec": {"namespaceSelector": selector, **spec},
    }


def workload(name: str, namespace: str, endpoint_name: str, app: str = "chat", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelroute.io/v1alpha1",
        "kind": "ModelWorkload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "endpointRef": {"name": endpoint_name},
            "procurement": {"channel": "Microsoft", "reference": "PO-e2e"},
            **spec,
        },
    }


def deployment(name: str, namespace: str, app: str = "chat", env: dict[str, str] | None = None) -> dict[str, Any]:
    template = pod(name, namespace, app, env)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": template["spec"]},
        },
    }


@pytest.fixture
def scenario(cluster: ClusterClient, operator: OperatorProcess, namespace: str) -> dict[str, str]:
    """An endpoint, an enforcing policy and a workload, all private to this test's namespace."""
    names = {"namespace": namespace, "endpoint": f"{namespace}-aoai", "policy": f"{namespace}-policy"}
    apply(
        cluster,
        endpoint(names["endpoint"]),
        policy(names["policy"], namespace, enforcement="Enforce"),
        workload("chat", namespace, names["endpoint"]),
    )
    wait_ready(cluster, namespace)
    yield names
    cluster.kubectl("delete", "routepolicy", names["policy"], "--ignore-not-found", check=False)
    cluster.kubectl("delete", "azureendpoint", names["endpoint"], "--ignore-not-found", check=False)


def ready_of(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Ready")


def wait_ready(cluster: ClusterClient, namespace: str, name: str = "chat") -> dict[str, Any]:
    return eventually(
        lambda: (
            ready_of(get(cluster, "mw", name, "-n", namespace))["status"] == "True"
            and get(cluster, "mw", name, "-n", namespace)
        )
    )


# --- the API server alone -------------------------------------------------------------------------


def test_the_api_server_rejects_an_http_endpoint_url(cluster: ClusterClient, crds: None) -> None:
    result = apply(cluster, endpoint("e2e-http", url="http://contoso.openai.azure.com"), check=False)
    assert result.returncode != 0
    assert "url must be an https:// URL" in result.stderr


def test_the_api_server_rejects_an_unknown_channel(cluster: ClusterClient, crds: None, namespace: str) -> None:
    body = workload("w", namespace, "x")
    body["spec"]["procurement"]["channel"] = "Reseller"
    result = apply(cluster, body, check=False)
    assert result.returncode != 0
    assert 'Unsupported value: "Reseller"' in result.stderr


def test_the_api_server_requires_an_endpoint_for_stateless_workloads(
    cluster: ClusterClient, crds: None, namespace: str
) -> None:
    body = workload("w", namespace, "x")
    del body["spec"]["endpointRef"]
    result = apply(cluster, body, check=False)
    assert "endpointRef is required when apiMode is Stateless" in result.stderr


# --- admission ------------------------------------------------------------------------------------


def test_a_covered_pod_is_admitted_with_the_route_and_the_procurement_annotations(
    cluster: ClusterClient, scenario: dict[str, str]
) -> None:
    ns = scenario["namespace"]
    apply(cluster, pod("chat-1", ns))
    admitted = get(cluster, "pod", "chat-1", "-n", ns)
    env = {e["name"]: e.get("value") for e in admitted["spec"]["containers"][0]["env"]}
    assert env["OPENAI_BASE_URL"] == AZURE_URL + "/openai/v1"
    assert env["AZURE_OPENAI_ENDPOINT"] == AZURE_URL
    annotations = admitted["metadata"]["annotations"]
    assert annotations["modelroute.io/procurement-channel"] == "Microsoft"
    assert annotations["modelroute.io/endpoint"] == scenario["endpoint"]
    assert annotations["modelroute.io/endpoint-host"] == "contoso-e2e.openai.azure.com"
    assert annotations["modelroute.io/decision"] == "compliant"


def test_a_violating_pod_is_refused_with_the_engines_message(cluster: ClusterClient, scenario: dict[str, str]) -> None:
    result = apply(
        cluster, pod("direct", scenario["namespace"], env={"OPENAI_BASE_URL": "https://api.openai.com/v1"}), check=False
    )
    assert result.returncode != 0
    assert "[EndpointNotApproved]" in result.stderr
    assert "api.openai.com" in result.stderr


def test_a_violating_deployment_is_refused_at_apply(cluster: ClusterClient, scenario: dict[str, str]) -> None:
    ns = scenario["namespace"]
    result = apply(cluster, deployment("direct", ns, env={"OPENAI_BASE_URL": "https://api.openai.com/v1"}), check=False)
    assert "controllers.validate.modelroute.io" in result.stderr
    assert "[EndpointNotApproved]" in result.stderr
    assert cluster.kubectl("get", "deployment", "direct", "-n", ns, check=False).returncode != 0


@pytest.mark.parametrize("kind", ["ReplicationController", "PodTemplate"])
def test_a_violating_core_pod_template_is_refused_at_apply(
    cluster: ClusterClient, scenario: dict[str, str], kind: str
) -> None:
    ns = scenario["namespace"]
    spec = deployment("direct", ns, env={"OPENAI_BASE_URL": "https://api.openai.com/v1"})["spec"]
    body: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "direct", "namespace": ns}}
    if kind == "PodTemplate":
        body["template"] = spec["template"]
    else:
        body["spec"] = {"replicas": 1, "selector": {"app": "chat"}, "template": spec["template"]}
    result = apply(cluster, body, check=False)
    assert "controllers.validate.modelroute.io" in result.stderr
    assert "[EndpointNotApproved]" in result.stderr
    assert cluster.kubectl("get", kind.lower(), "direct", "-n", ns, check=False).returncode != 0


def test_a_compliant_deployments_pods_are_mutated(cluster: ClusterClient, scenario: dict[str, str]) -> None:
    ns = scenario["namespace"]
    apply(cluster, deployment("chat", ns))
    pods = eventually(lambda: get(cluster, "pods", "-n", ns, "-l", "app=chat")["items"], timeout=60)
    assert pods[0]["metadata"]["annotations"]["modelroute.io/workload"] == "chat"
    names = [e["name"] for e in pods[0]["spec"]["containers"][0]["env"]]
    assert "OPENAI_BASE_URL" in names
    template = get(cluster, "deployment", "chat", "-n", ns)["spec"]["template"]
    assert "env" not in template["spec"]["containers"][0], "controllers are never mutated"


def test_warn_mode_admits_with_warnings(cluster: ClusterClient, operator: OperatorProcess, namespace: str) -> None:
    apply(cluster, policy(f"{namespace}-warn", namespace, enforcement="Warn"))
    time.sleep(1)
    result = apply(
        cluster, pod("direct", namespace, app="nobody", env={"OPENAI_BASE_URL": "https://api.openai.com/v1"})
    )
    assert "Warning: [EndpointNotApproved]" in result.stderr
    annotations = get(cluster, "pod", "direct", "-n", namespace)["metadata"]["annotations"]
    assert annotations["modelroute.io/decision"] == "warned"
    cluster.kubectl("delete", "routepolicy", f"{namespace}-warn")


def test_audit_mode_admits_silently_and_records(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    apply(cluster, policy(f"{namespace}-audit", namespace, enforcement="Audit"))
    time.sleep(1)
    result = apply(
        cluster, pod("direct", namespace, app="nobody", env={"OPENAI_BASE_URL": "https://api.openai.com/v1"})
    )
    assert "Warning" not in result.stderr
    annotations = get(cluster, "pod", "direct", "-n", namespace)["metadata"]["annotations"]
    assert annotations["modelroute.io/decision"] == "audited"
    cluster.kubectl("delete", "routepolicy", f"{namespace}-audit")


def test_server_side_dry_run_shows_the_mutation_and_stores_nothing(
    cluster: ClusterClient, scenario: dict[str, str]
) -> None:
    ns = scenario["namespace"]
    result = apply(cluster, pod("dry", ns), args=("--dry-run=server", "-o", "json"))
    shown = json.loads(result.stdout)
    assert shown["metadata"]["annotations"]["modelroute.io/decision"] == "compliant"
    assert cluster.kubectl("get", "pod", "dry", "-n", ns, check=False).returncode != 0
    refused = apply(
        cluster,
        pod("dry-bad", ns, env={"OPENAI_BASE_URL": "https://api.openai.com/v1"}),
        args=("--dry-run=server",),
        check=False,
    )
    assert "[EndpointNotApproved]" in refused.stderr


def test_endpoints_from_cluster_config_maps_are_resolved(cluster: ClusterClient, scenario: dict[str, str]) -> None:
    ns = scenario["namespace"]
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "llm", "namespace": ns},
            "data": {"OPENAI_BASE_URL": "https://api.openai.com/v1"},
        },
    )
    body = pod("from-cm", ns)
    body["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "llm"}}]
    result = eventually(lambda: "EndpointNotApproved" in (r := apply(cluster, body, check=False)).stderr and r)
    assert "ConfigMap" not in result.stderr or "llm" in result.stderr


def test_a_denial_is_recorded_as_an_event(cluster: ClusterClient, scenario: dict[str, str]) -> None:
    ns = scenario["namespace"]
    apply(cluster, pod("evented", ns, env={"OPENAI_BASE_URL": "https://api.openai.com/v1"}), check=False)
    events = eventually(lambda: [e for e in get(cluster, "events", "-n", ns)["items"] if e["reason"] == "RouteDenied"])
    assert events[0]["involvedObject"]["name"] == "evented"
    assert "EndpointNotApproved" in events[0]["message"]


def test_own_kinds_get_warnings_where_apply_order_leaves_a_reference_dangling(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    result = apply(cluster, workload("early", namespace, f"{namespace}-later"))
    assert "Warning:" in result.stderr
    assert "does not exist" in result.stderr


# --- status ---------------------------------------------------------------------------------------


def test_workload_status_follows_its_endpoint(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    name = f"{namespace}-late"
    apply(cluster, workload("chat", namespace, name))
    missing = eventually(lambda: ready_of(get(cluster, "mw", "chat", "-n", namespace)))
    assert (missing["status"], missing["reason"]) == ("False", "EndpointNotFound")
    apply(cluster, endpoint(name))
    ready = wait_ready(cluster, namespace)
    assert ready_of(ready)["reason"] == "Routed"
    assert ready["status"]["endpointHost"] == "contoso-e2e.openai.azure.com"
    assert ready["status"]["observedGeneration"] == ready["metadata"]["generation"]
    counted = eventually(lambda: get(cluster, "aze", name)["status"].get("workloads") == 1)
    assert counted
    cluster.kubectl("delete", "aze", name)


def test_endpoint_status_says_why_it_is_not_ready(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    name = f"{namespace}-gw"
    apply(cluster, endpoint(name, url="https://llm.example.com"))
    condition = eventually(lambda: ready_of(get(cluster, "aze", name)))
    assert (condition["status"], condition["reason"]) == ("False", "HostNotAzure")
    cluster.kubectl("delete", "aze", name)


# --- failure behaviour ----------------------------------------------------------------------------


def test_after_sigkill_system_namespaces_still_admit_and_a_restart_converges(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    endpoint_name = f"{namespace}-aoai"
    apply(cluster, endpoint(endpoint_name), policy(f"{namespace}-p", namespace))
    operator.kill(signal.SIGKILL)

    apply(cluster, pod(f"sys-{namespace}", "kube-system"))
    apply(cluster, pod(f"op-{namespace}", OPERATOR_NAMESPACE))
    refused = apply(cluster, pod("while-down", namespace), check=False)
    assert refused.returncode != 0
    assert "failed calling webhook" in refused.stderr  # failurePolicy: Fail, as documented
    apply(cluster, workload("chat", namespace, endpoint_name))  # fails open: own kinds stay editable

    operator.start()
    wait_ready(cluster, namespace)  # the status written while it was down converges
    apply(cluster, pod("after", namespace))
    assert get(cluster, "pod", "after", "-n", namespace)["metadata"]["annotations"]["modelroute.io/workload"] == "chat"
    for ns, name in (("kube-system", f"sys-{namespace}"), (OPERATOR_NAMESPACE, f"op-{namespace}")):
        cluster.kubectl("delete", "pod", name, "-n", ns, "--wait=false")
    cluster.kubectl("delete", "aze", endpoint_name, "--wait=false")
    cluster.kubectl("delete", "rp", f"{namespace}-p", "--wait=false")


def test_a_graceful_stop_removes_the_webhook_configurations(cluster: ClusterClient, operator: OperatorProcess) -> None:
    operator.kill(signal.SIGTERM)
    from tests.harness.operator import CONFIGURATION_NAME

    gone = cluster.kubectl("get", "validatingwebhookconfiguration", CONFIGURATION_NAME, check=False)
    assert gone.returncode != 0
    assert cluster.kubectl("get", "mutatingwebhookconfiguration", CONFIGURATION_NAME, check=False).returncode != 0


def test_an_ephemeral_container_off_route_is_refused(cluster: ClusterClient, scenario: dict[str, str]) -> None:
    ns = scenario["namespace"]
    apply(cluster, pod("debugged", ns))
    result = cluster.kubectl(
        "debug",
        "debugged",
        "-n",
        ns,
        "--image=registry.example.com/debug:1",
        "--attach=false",
        "--env=OPENAI_BASE_URL=https://api.openai.com/v1",
        check=False,
    )
    assert result.returncode != 0
    assert "[EndpointNotApproved]" in result.stderr
    assert not get(cluster, "pod", "debugged", "-n", ns)["spec"].get("ephemeralContainers")


def test_a_controller_admitted_before_a_policy_tightened_can_still_scale_down(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    name = f"{namespace}-tighten"
    apply(cluster, policy(name, namespace, enforcement="Warn"))
    time.sleep(1)
    apply(cluster, deployment("legacy", namespace, app="nobody", env={"OPENAI_BASE_URL": "https://api.openai.com/v1"}))
    apply(cluster, policy(name, namespace, enforcement="Enforce"))
    time.sleep(1)
    cluster.kubectl("scale", "deployment", "legacy", "-n", namespace, "--replicas=0")
    changed = deployment("legacy", namespace, app="nobody", env={"OPENAI_BASE_URL": "https://api.openai.com/v2"})
    assert "[EndpointNotApproved]" in apply(cluster, changed, check=False).stderr  # a new template is judged
    cluster.kubectl("delete", "rp", name)


def test_modelroute_annotations_cannot_be_changed_after_admission(
    cluster: ClusterClient, scenario: dict[str, str]
) -> None:
    ns = scenario["namespace"]
    apply(cluster, pod("annotated", ns))
    forged = cluster.kubectl(
        "annotate", "pod", "annotated", "-n", ns, "--overwrite", "modelroute.io/procurement-channel=OpenAI", check=False
    )
    assert forged.returncode != 0
    assert "cannot be changed afterwards" in forged.stderr
    removed = cluster.kubectl("annotate", "pod", "annotated", "-n", ns, "modelroute.io/workload-", check=False)
    assert removed.returncode != 0
    cluster.kubectl("annotate", "pod", "annotated", "-n", ns, "team=payments")  # other annotations stay free
    cluster.kubectl("label", "pod", "annotated", "-n", ns, "tier=backend")


FORGED_CHANNEL = {"metadata": {"annotations": {"modelroute.io/procurement-channel": "OpenAI"}}}
FORGED_DECISION = [{"op": "replace", "path": "/metadata/annotations/modelroute.io~1decision", "value": "excluded"}]
DROPPED_WORKLOAD = [{"op": "remove", "path": "/metadata/annotations/modelroute.io~1workload"}]


@pytest.mark.parametrize(
    ("subresource", "patch_type", "patch"),
    [
        ("status", "merge", FORGED_CHANNEL),
        ("status", "json", FORGED_DECISION),
        ("status", "json", DROPPED_WORKLOAD),
        (None, "merge", FORGED_CHANNEL),
        (None, "json", FORGED_DECISION),
    ],
    ids=["status-merge", "status-json-replace", "status-json-remove", "pod-merge", "pod-json-replace"],
)
def test_modelroute_annotations_cannot_be_patched_through_the_pod_or_its_status(
    cluster: ClusterClient, scenario: dict[str, str], subresource: str | None, patch_type: str, patch: Any
) -> None:
    ns = scenario["namespace"]
    apply(cluster, pod("patched", ns))
    admitted = get(cluster, "pod", "patched", "-n", ns)["metadata"]["annotations"]
    assert admitted["modelroute.io/procurement-channel"] == "Microsoft"
    target = [f"--subresource={subresource}"] if subresource else []
    result = cluster.kubectl(
        "patch", "pod", "patched", "-n", ns, *target, f"--type={patch_type}", "-p", json.dumps(patch), check=False
    )
    assert result.returncode != 0
    assert "cannot be changed afterwards" in result.stderr
    assert get(cluster, "pod", "patched", "-n", ns)["metadata"]["annotations"] == admitted


def test_a_status_update_that_keeps_the_annotations_is_allowed(
    cluster: ClusterClient, scenario: dict[str, str]
) -> None:
    ns = scenario["namespace"]
    apply(cluster, pod("reported", ns))
    condition = {"type": "modelroute.io/Checked", "status": "True"}
    cluster.kubectl(
        "patch", "pod", "reported", "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"conditions": [condition]}}),
    )  # fmt: skip
    status = get(cluster, "pod", "reported", "-n", ns)["status"]
    assert condition["type"] in {c["type"] for c in status["conditions"]}


def test_a_binding_cannot_carry_modelroute_annotations(cluster: ClusterClient, scenario: dict[str, str]) -> None:
    ns = scenario["namespace"]
    apply(cluster, pod("unbound", ns))
    admitted = get(cluster, "pod", "unbound", "-n", ns)["metadata"]["annotations"]
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "unbound", "annotations": {"modelroute.io/decision": "compliant"}},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
    }
    result = cluster.kubectl(
        "create", "--raw", f"/api/v1/namespaces/{ns}/pods/unbound/binding", "-f", "-",
        input=json.dumps(binding), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "a Binding cannot set modelroute.io/ annotations" in result.stderr
    assert get(cluster, "pod", "unbound", "-n", ns)["metadata"]["annotations"] == admitted

"""ConfigMap edits on a real API server: an edit cannot open a route a pod create could not. Refused under
Enforce naming the pods, warned under Warn, reported by the audit (status counts and an Event); the webhook
fails open and the API server skips the cluster's own writes without calling it."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kube import pod
from test_operator import AZURE_URL, endpoint, policy, wait_ready, workload
from tests.harness.client import ClusterClient, apply, eventually, get
from tests.harness.operator import OperatorProcess
from tests.harness.processes import free_port

from modelroute.admission import configurations as cfg

OPENAI = "https://api.openai.com/v1"


def config_map(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def reader(name: str, namespace: str, config_map_name: str = "chat-env") -> dict[str, Any]:
    body = pod(name, namespace)
    body["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": config_map_name}}]
    return body


def governed(cluster: ClusterClient, namespace: str, enforcement: str) -> dict[str, str]:
    """An endpoint, a policy and a workload whose injection writes no OPENAI_BASE_URL (the AzureOpenAI
    profile only), so one loaded from the pod's ConfigMap is the route its OpenAI SDK takes."""
    names = {"endpoint": f"{namespace}-aoai", "policy": f"{namespace}-policy"}
    apply(
        cluster,
        endpoint(names["endpoint"]),
        policy(names["policy"], namespace, enforcement=enforcement),
        workload("chat", namespace, names["endpoint"], inject={"profiles": ["AzureOpenAI"]}),
        config_map("chat-env", namespace, LOG_LEVEL="info"),
    )
    wait_ready(cluster, namespace)
    return names


def pods_of(cluster: ClusterClient, namespace: str) -> dict[str, int]:
    status = get(cluster, "mw", "chat", "-n", namespace).get("status") or {}
    return dict(status.get("pods") or {})


def admitted_and_seen(cluster: ClusterClient, namespace: str, *names: str) -> None:
    """The pods admitted, and in the operator's view (the audit counts them)."""
    apply(cluster, *(reader(n, namespace) for n in names))
    eventually(lambda: pods_of(cluster, namespace).get("matched") == len(names), "the audit counts the pods", 30)


@pytest.fixture
def enforced(cluster: ClusterClient, operator: OperatorProcess, namespace: str) -> Iterator[str]:
    names = governed(cluster, namespace, "Enforce")
    yield namespace
    cleanup(cluster, names)


@pytest.fixture
def warned(cluster: ClusterClient, operator: OperatorProcess, namespace: str) -> Iterator[str]:
    names = governed(cluster, namespace, "Warn")
    yield namespace
    cleanup(cluster, names)


def cleanup(cluster: ClusterClient, names: dict[str, str]) -> None:
    cluster.kubectl("delete", "routepolicy", names["policy"], "--ignore-not-found", check=False)
    cluster.kubectl("delete", "azureendpoint", names["endpoint"], "--ignore-not-found", check=False)


def patch_data(cluster: ClusterClient, namespace: str, name: str, **data: str) -> Any:
    body = json.dumps({"data": data})
    return cluster.kubectl("patch", "configmap", name, "-n", namespace, "--type=merge", "-p", body, check=False)


def requests_seen(operator: OperatorProcess) -> float:
    """modelroute_admission_requests_total of the ConfigMap webhook, every result summed."""
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = rf'^modelroute_admission_requests_total\{{[^}}]*webhook="{cfg.VALIDATE_CONFIG_MAPS}"[^}}]*\}} (\S+)$'
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.MULTILINE))


def test_an_env_from_edit_that_points_a_running_pod_at_openai_is_refused_under_enforce(
    cluster: ClusterClient, enforced: str
) -> None:
    ns = enforced
    admitted_and_seen(cluster, ns, "chat-1", "chat-2")
    result = patch_data(cluster, ns, "chat-env", OPENAI_BASE_URL=OPENAI)
    assert result.returncode != 0
    assert "configmaps.validate.modelroute.io" in result.stderr
    assert f"ConfigMap {ns}/chat-env" in result.stderr
    assert "chat-1, chat-2" in result.stderr
    assert "[EndpointNotApproved]" in result.stderr
    assert "api.openai.com" in result.stderr
    assert "OPENAI_BASE_URL" not in get(cluster, "configmap", "chat-env", "-n", ns)["data"]
    # an edit that opens no route goes through
    assert patch_data(cluster, ns, "chat-env", LOG_LEVEL="debug").returncode == 0


def test_under_warn_the_edit_is_admitted_with_a_warning_and_the_audit_reports_the_pod(
    cluster: ClusterClient, warned: str
) -> None:
    ns = warned
    admitted_and_seen(cluster, ns, "chat-1")
    assert pods_of(cluster, ns)["violating"] == 0
    result = patch_data(cluster, ns, "chat-env", OPENAI_BASE_URL=OPENAI)
    assert result.returncode == 0, result.stderr
    assert "Warning:" in result.stderr
    assert "chat-1" in result.stderr
    assert "[EndpointNotApproved]" in result.stderr
    started = time.monotonic()
    eventually(lambda: pods_of(cluster, ns)["violating"] == 1, "the audit counts the pod violating", 15)
    # promptly: a pass after the change, not the next resync
    assert time.monotonic() - started < 8
    events = eventually(
        lambda: [
            e
            for e in get(cluster, "events", "-n", ns)["items"]
            if e["reason"] == "RouteViolation" and e["involvedObject"]["name"] == "chat-1"
        ],
        "a RouteViolation Event on the pod",
    )
    assert f"ConfigMap {ns}/chat-env" in events[0]["message"]
    assert "[EndpointNotApproved]" in events[0]["message"]


def test_the_api_server_skips_the_clusters_own_config_maps_and_metadata_only_updates(
    cluster: ClusterClient, operator: OperatorProcess, enforced: str
) -> None:
    ns = enforced
    admitted_and_seen(cluster, ns, "chat-1")
    before = requests_seen(operator)
    cluster.kubectl("label", "configmap", "chat-env", "-n", ns, "touched=yes")
    # kube-controller-manager publishes kube-root-ca.crt into a new namespace on its own time
    eventually(lambda: get(cluster, "configmap", "kube-root-ca.crt", "-n", ns), "kube-root-ca.crt published")
    cluster.kubectl("annotate", "configmap", "kube-root-ca.crt", "-n", ns, "touched=yes")
    assert requests_seen(operator) == before, "metadata-only updates and kube-root-ca.crt are not sent"
    assert patch_data(cluster, ns, "chat-env", LOG_LEVEL="debug").returncode == 0
    assert requests_seen(operator) == before + 1, "a data change is"


def test_a_config_map_webhook_with_no_server_never_blocks_a_write(cluster: ClusterClient, namespace: str) -> None:
    """The configuration as registered, pointed at a port where nothing listens: writes go through."""
    name = f"{namespace}-down"
    options = cfg.WebhookOptions(operator_namespace="modelroute-system", name=name)
    port = free_port()
    hook = cfg.config_map_webhook(lambda path: {"url": f"https://127.0.0.1:{port}/{path}"}, options)
    hook["name"] = f"down.{hook['name']}"
    configuration = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [hook],
    }
    apply(cluster, configuration, config_map("settings", namespace, A="1"))
    try:
        time.sleep(1)  # the API server picks the configuration up
        started = time.monotonic()
        for value in ("2", "3"):
            assert patch_data(cluster, namespace, "settings", A=value).returncode == 0
        result = cluster.kubectl("delete", "configmap", "settings", "-n", namespace, check=False)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 3 * (cfg.DEFAULT_CONFIG_MAP_TIMEOUT_SECONDS + 2)
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", name, "--ignore-not-found", check=False)


# --- a LiteLLM proxy whose mounted config.yaml names the route ---------------------------------------


def litellm_config(api_base: str, model: str = "azure/gpt-4o") -> str:
    return (
        f"model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: {model}\n      api_base: {api_base}\n"
    )


def litellm_proxy(name: str, namespace: str, config_map_name: str) -> dict[str, Any]:
    """The LiteLLM proxy's image, started with --config on a ConfigMap mounted as a directory (the kubelet
    updates the file in the running pod when the ConfigMap changes)."""
    body = pod(name, namespace)
    container = body["spec"]["containers"][0]
    container.update(
        image="registry.example.com/litellm:1.0",
        args=["--config", "/app/config/config.yaml", "--port", "4000"],
        volumeMounts=[{"name": "config", "mountPath": "/app/config"}],
    )
    body["spec"]["volumes"] = [{"name": "config", "configMap": {"name": config_map_name}}]
    return body


def test_a_litellm_proxy_whose_mounted_config_routes_to_openai_is_refused_and_so_is_an_edit_that_would(
    cluster: ClusterClient, enforced: str
) -> None:
    ns = enforced
    apply(cluster, config_map("litellm-openai", ns, **{"config.yaml": litellm_config(OPENAI, "openai/gpt-4o")}))
    refused = apply(cluster, litellm_proxy("gateway-openai", ns, "litellm-openai"), check=False)
    assert refused.returncode != 0
    assert "[EndpointNotApproved]" in refused.stderr
    assert "litellm-openai" in refused.stderr
    apply(cluster, config_map("litellm", ns, **{"config.yaml": litellm_config(AZURE_URL)}))
    apply(cluster, litellm_proxy("gateway", ns, "litellm"))
    eventually(lambda: pods_of(cluster, ns).get("matched") == 1, "the audit counts the gateway", 30)
    edit = patch_data(cluster, ns, "litellm", **{"config.yaml": litellm_config(OPENAI, "openai/gpt-4o")})
    assert edit.returncode != 0
    assert f"ConfigMap {ns}/litellm" in edit.stderr
    assert "gateway" in edit.stderr
    assert "[EndpointNotApproved]" in edit.stderr
    assert "api.openai.com" not in get(cluster, "configmap", "litellm", "-n", ns)["data"]["config.yaml"]


def test_under_warn_a_litellm_config_edit_to_openai_is_warned_and_the_audit_reports_the_gateway(
    cluster: ClusterClient, warned: str
) -> None:
    ns = warned
    apply(cluster, config_map("litellm", ns, **{"config.yaml": litellm_config(AZURE_URL)}))
    apply(cluster, litellm_proxy("gateway", ns, "litellm"))
    eventually(lambda: pods_of(cluster, ns).get("matched") == 1, "the audit counts the gateway", 30)
    assert pods_of(cluster, ns)["violating"] == 0
    edit = patch_data(cluster, ns, "litellm", **{"config.yaml": litellm_config(OPENAI, "openai/gpt-4o")})
    assert edit.returncode == 0, edit.stderr
    assert "Warning:" in edit.stderr
    assert "gateway" in edit.stderr
    eventually(lambda: pods_of(cluster, ns)["violating"] == 1, "the audit counts the gateway violating", 15)
    events = eventually(
        lambda: [
            e
            for e in get(cluster, "events", "-n", ns)["items"]
            if e["reason"] == "RouteViolation" and e["involvedObject"]["name"] == "gateway"
        ],
        "a RouteViolation Event on the gateway",
    )
    assert f"ConfigMap {ns}/litellm" in events[0]["message"]

"""A governed cluster as data, shared by the benchmarks and the webhook tests: an approved AzureEndpoint,
an enforcing RoutePolicy, ModelWorkloads spread over namespaces, and AdmissionReviews for a covered
compliant pod, a violating pod, a plain pod, and a covered LiteLLM proxy pod whose config file is mounted
from a ConfigMap."""

from __future__ import annotations

import uuid
from typing import Any

API = "modelroute.io/v1alpha1"
ENDPOINT = "contoso"
APPROVED_BASE = "https://contoso-eastus.openai.azure.com/openai/v1"
DIRECT_BASE = "https://api.openai.com/v1"
LITELLM_CONFIG_MAP = "litellm-config"
LITELLM_CONFIG = f"""model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: {APPROVED_BASE}
      api_key: os.environ/OPENAI_API_KEY
  - model_name: text-embedding-3-small
    litellm_params:
      model: openai/text-embedding-3-small
      api_base: {APPROVED_BASE}
      api_key: os.environ/OPENAI_API_KEY
litellm_settings:
  drop_params: true
"""


def endpoint_body(name: str = ENDPOINT) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "AzureEndpoint",
        "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
        "spec": {"url": "https://contoso-eastus.openai.azure.com", "defaultApiVersion": "2024-10-21"},
    }


def policy_body(name: str = "strict", enforcement: str = "Enforce") -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "RoutePolicy",
        "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
        "spec": {"enforcement": enforcement},
    }


def workload_body(name: str, namespace: str, app: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ModelWorkload",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}", "generation": 1},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "procurement": {"channel": "Microsoft"},
            "endpointRef": {"name": ENDPOINT},
        },
    }


def namespace_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
    }


def namespaces(count: int) -> list[str]:
    return [f"team-{i:02d}" for i in range(count)]


def workloads(count: int, namespace_count: int) -> list[dict[str, Any]]:
    """`count` ModelWorkloads round-robin over `namespace_count` namespaces; workload i selects app-i."""
    names = namespaces(namespace_count)
    return [workload_body(f"model-{i}", names[i % namespace_count], f"app-{i}") for i in range(count)]


def cluster_bodies(workload_count: int = 3, namespace_count: int = 1) -> dict[str, list[dict[str, Any]]]:
    """What a ClusterState would list, by plural."""
    return {
        "azureendpoints": [endpoint_body()],
        "modelworkloads": workloads(workload_count, namespace_count),
        "routepolicies": [policy_body()],
        "configmaps": [litellm_config_map(n) for n in namespaces(namespace_count)],
        "namespaces": [namespace_body(n) for n in namespaces(namespace_count)],
        "pods": [],
    }


def pod(namespace: str, app: str, env: dict[str, str] | None = None, name: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "registry.example.com/app:1"}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    metadata: dict[str, Any] = {"namespace": namespace, "labels": {"app": app}}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{app}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": [container]}}


def covered_pod(namespace: str = "team-00", app: str = "app-0") -> dict[str, Any]:
    """Compliant once mutated: the mutating webhook points it at the approved endpoint."""
    return pod(namespace, app, {"OPENAI_API_KEY": "from-a-secret-in-real-life"})


def violating_pod(namespace: str = "team-00", app: str = "app-0") -> dict[str, Any]:
    """Covered, but pinned to api.openai.com: denied under an enforcing policy."""
    return pod(namespace, app, {"OPENAI_BASE_URL": DIRECT_BASE, "OPENAI_API_KEY": "x"})


def plain_pod(namespace: str = "team-00") -> dict[str, Any]:
    """No model traffic at all."""
    return pod(namespace, "static-site", {"LOG_LEVEL": "info"})


def review(
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    resource: tuple[str, str, str] = ("", "v1", "pods"),
    sub_resource: str | None = None,
    old: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    group, version, plural = resource
    target = obj if obj is not None else old
    assert target is not None
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": target.get("kind", "")},
        "resource": {"group": group, "version": version, "resource": plural},
        "namespace": (target.get("metadata") or {}).get("namespace"),
        "operation": operation,
        "userInfo": {"username": "bench"},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
    }
    if sub_resource:
        request["subResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def litellm_config_map(namespace: str) -> dict[str, Any]:
    """The LiteLLM proxy's config.yaml, every model on the approved route."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": LITELLM_CONFIG_MAP, "namespace": namespace},
        "data": {"config.yaml": LITELLM_CONFIG},
    }


def litellm_pod(namespace: str = "team-00", app: str = "app-0") -> dict[str, Any]:
    """Covered, compliant: a LiteLLM proxy reading its config from the ConfigMap through a subPath mount."""
    body = pod(namespace, app, {"OPENAI_API_KEY": "from-a-secret-in-real-life"})
    spec = body["spec"]
    container = spec["containers"][0]
    container["args"] = ["--config", "/app/config.yaml", "--port", "4000"]
    container["volumeMounts"] = [{"name": "config", "mountPath": "/app/config.yaml", "subPath": "config.yaml"}]
    spec["volumes"] = [{"name": "config", "configMap": {"name": LITELLM_CONFIG_MAP}}]
    return body

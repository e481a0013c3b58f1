"""Small builders that keep the specs readable: each test states only what it is about."""

from __future__ import annotations

from typing import Any

from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy
from modelroute.engine.context import PolicyContext
from modelroute.engine.evaluate import evaluate
from modelroute.engine.verdict import Decision

APPROVED_URL = "https://contoso-eastus.openai.azure.com"
APPROVED_HOST = "contoso-eastus.openai.azure.com"


def endpoint_manifest(name: str = "contoso", url: str = APPROVED_URL, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelroute.io/v1alpha1",
        "kind": "AzureEndpoint",
        "metadata": {"name": name},
        "spec": {"url": url, "defaultApiVersion": "2024-10-21", **spec},
    }


def endpoint(name: str = "contoso", url: str = APPROVED_URL, **spec: Any) -> AzureEndpoint:
    return AzureEndpoint.model_validate(endpoint_manifest(name, url, **spec))


def workload_manifest(
    name: str = "chat",
    namespace: str = "apps",
    app: str = "chat",
    endpoint_name: str | None = "contoso",
    channel: str = "Microsoft",
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "selector": {"matchLabels": {"app": app}},
        "procurement": {"channel": channel},
        **spec,
    }
    if endpoint_name is not None:
        body["endpointRef"] = {"name": endpoint_name}
    return {
        "apiVersion": "modelroute.io/v1alpha1",
        "kind": "ModelWorkload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def workload(*args: Any, **kwargs: Any) -> ModelWorkload:
    """The ModelWorkload `workload_manifest(*args, **kwargs)` describes."""
    return ModelWorkload.model_validate(workload_manifest(*args, **kwargs))


def policy_manifest(name: str = "strict", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "modelroute.io/v1alpha1", "kind": "RoutePolicy", "metadata": {"name": name}, "spec": spec}


def policy(name: str = "strict", **spec: Any) -> RoutePolicy:
    return RoutePolicy.model_validate(policy_manifest(name, **spec))


def container(name: str = "app", env: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": "example/app:1", **fields}
    if env:
        out["env"] = [{"name": k, "value": v} for k, v in env.items()] + list(out.get("env", []))
    return out


def pod(
    *containers: dict[str, Any],
    namespace: str = "apps",
    app: str = "chat",
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "p", "namespace": namespace, "labels": {"app": app}}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": list(containers) or [container()], **spec},
    }


def deployment(template_pod: dict[str, Any], name: str = "d") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": template_pod["metadata"]["namespace"]},
        "spec": {
            "selector": {"matchLabels": template_pod["metadata"]["labels"]},
            "template": {"metadata": {"labels": template_pod["metadata"]["labels"]}, "spec": template_pod["spec"]},
        },
    }


def context(
    *,
    endpoints: list[AzureEndpoint] | None = None,
    workloads: list[ModelWorkload] | None = None,
    policies: list[RoutePolicy] | None = None,
    config_maps: dict[tuple[str, str], dict[str, str]] | None = None,
    namespace_labels: dict[str, dict[str, str]] | None = None,
) -> PolicyContext:
    return PolicyContext.build(
        endpoints=[endpoint()] if endpoints is None else endpoints,
        workloads=[workload()] if workloads is None else workloads,
        policies=[policy()] if policies is None else policies,
        config_maps=config_maps,
        namespace_labels=namespace_labels,
        operator_namespace="modelroute-system",
    )


def judge(obj: dict[str, Any], ctx: PolicyContext | None = None) -> Decision:
    return evaluate(obj, ctx or context())


def codes(decision: Decision) -> list[str]:
    return [str(v.code) for v in decision.violations]


def env_of(decision: Decision, obj: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """The container's env after the decision's patch, as name -> value or valueFrom."""
    import copy

    import jsonpatch

    patched = jsonpatch.apply_patch(copy.deepcopy(obj), decision.patch)
    entries = patched["spec"]["containers"][index].get("env") or []
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in entries}

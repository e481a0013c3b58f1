"""What each ModelRoute resource's status should say, computed from the cluster view (pure), and the
condition bookkeeping that keeps lastTransitionTime honest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy
from modelroute.engine.context import PolicyContext, endpoint_state
from modelroute.engine.evaluate import workload_problems

Status = dict[str, Any]
READY = "Ready"


def ready_condition(ready: bool, reason: str, message: str, generation: int | None) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": READY,
        "status": "True" if ready else "False",
        "reason": reason,
        "message": message,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def azure_endpoint_status(endpoint: AzureEndpoint, context: PolicyContext) -> Status:
    state = context.endpoints.get(endpoint.metadata.name) or endpoint_state(endpoint)
    users = sum(
        1
        for workloads in context.workloads.values()
        for w in workloads
        if w.workload.spec.endpoint_ref and w.workload.spec.endpoint_ref.name == endpoint.metadata.name
    )
    status: Status = {
        "observedGeneration": endpoint.metadata.generation,
        "conditions": [ready_condition(state.ready, state.reason, state.message, endpoint.metadata.generation)],
        "workloads": users,
    }
    # None, not absent: a merge patch must delete a host that no longer applies
    status["host"] = state.display_host
    return status


def model_workload_status(workload: ModelWorkload, context: PolicyContext) -> Status:
    ref = workload.spec.endpoint_ref
    endpoint = context.endpoints.get(ref.name) if ref else None
    namespace = workload.metadata.namespace or "default"
    problems = workload_problems(workload, endpoint, context, namespace)
    generation = workload.metadata.generation
    if problems:
        condition = ready_condition(False, str(problems[0].code), "; ".join(p.message for p in problems), generation)
    elif endpoint is None:
        condition = ready_condition(
            True,
            "StatefulDirect",
            "Stateful workload with no endpoint; the RoutePolicy's "
            "statefulDirect decides whether it may reach OpenAI directly",
            generation,
        )
    else:
        condition = ready_condition(
            True,
            "Routed",
            f"pods are routed through AzureEndpoint {endpoint.name} ({endpoint.display_host})",
            generation,
        )
    status: Status = {"observedGeneration": generation, "conditions": [condition]}
    status["endpointHost"] = endpoint.display_host if endpoint is not None else None
    return status


def route_policy_status(policy: RoutePolicy, context: PolicyContext, namespaces: list[str]) -> Status:
    governed = [ns for ns in namespaces if _governs(policy.metadata.name, context, ns)]
    generation = policy.metadata.generation
    message = f"governs {len(governed)} namespace(s) with enforcement {policy.spec.enforcement}"
    return {
        "observedGeneration": generation,
        "conditions": [ready_condition(True, "Active", message, generation)],
        "governedNamespaces": len(governed),
    }


def _governs(policy_name: str, context: PolicyContext, namespace: str) -> bool:
    effective = context.policy_for(namespace)
    return effective is not None and policy_name in effective.sources


def invalid_status(message: str, generation: int | None) -> Status:
    return {
        "observedGeneration": generation,
        "conditions": [ready_condition(False, "InvalidSpec", message, generation)],
        "host": None,
        "endpointHost": None,
    }


def with_transition_times(desired: Status, current: Mapping[str, Any] | None, now: str) -> Status:
    """Keep lastTransitionTime from the current condition unless its status flipped."""
    previous = {c.get("type"): c for c in ((current or {}).get("conditions") or []) if isinstance(c, Mapping)}
    conditions = []
    for condition in desired.get("conditions", []):
        old = previous.get(condition["type"])
        unchanged = old is not None and old.get("status") == condition["status"] and old.get("lastTransitionTime")
        conditions.append({**condition, "lastTransitionTime": old["lastTransitionTime"] if unchanged and old else now})
    return {**desired, "conditions": conditions}


def differs_ignoring_times(desired: Status, current: Mapping[str, Any] | None) -> bool:
    """Whether a patch is needed: any field differs, conditions compared without their timestamps."""
    current = current or {}
    for key, value in desired.items():
        if key == "conditions":
            have = [
                {k: v for k, v in c.items() if k != "lastTransitionTime"}
                for c in current.get("conditions") or []
                if isinstance(c, Mapping)
            ]
            if have != value:
                return True
        elif current.get(key) != value:  # a missing key equals None: nothing to delete
            return True
    return False

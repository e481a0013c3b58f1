"""What each ModelRoute resource's status should say, computed from the cluster view (pure) and built
from the typed status models (the same models that define the CRDs' status schemas), and the
condition bookkeeping that keeps lastTransitionTime honest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelroute.api.kinds import ResourceModel
from modelroute.api.meta import Condition, ConditionStatus
from modelroute.api.v1alpha1 import (
    AzureEndpoint,
    AzureEndpointStatus,
    ModelWorkload,
    ModelWorkloadStatus,
    PodCounts,
    ReconciledStatus,
    RoutePolicy,
    RoutePolicyStatus,
)
from modelroute.engine.context import PolicyContext, endpoint_state
from modelroute.engine.evaluate import workload_problems

Status = dict[str, Any]
READY = "Ready"
_MESSAGE_MAX = 32768


#: the ModelWorkload status field with the audit's pod counts (the same name on the wire)
POD_COUNTS = "pods"


def wire(status: ReconciledStatus) -> Status:
    """The merge-patch body for a status model: every field the builder set, None included (a merge patch
    must delete what no longer applies), conditions without their unset fields."""
    body = status.model_dump(by_alias=True, mode="json", exclude_unset=True)
    body["conditions"] = [c.model_dump(by_alias=True, mode="json", exclude_none=True) for c in status.conditions]
    return body


def ready_condition(ready: bool, reason: str, message: str, generation: int | None) -> Condition:
    return Condition(
        type=READY,
        status=ConditionStatus.TRUE if ready else ConditionStatus.FALSE,
        reason=reason,
        message=message[:_MESSAGE_MAX],  # the schema's bound: a long list of problems must not fail the write
        observed_generation=generation,
    )


def azure_endpoint_status(endpoint: AzureEndpoint, context: PolicyContext) -> Status:
    state = context.endpoints.get(endpoint.metadata.name) or endpoint_state(endpoint)
    users = sum(
        1
        for workloads in context.workloads.values()
        for w in workloads
        if w.workload.spec.endpoint_ref and w.workload.spec.endpoint_ref.name == endpoint.metadata.name
    )
    generation = endpoint.metadata.generation
    return wire(
        AzureEndpointStatus(
            observed_generation=generation,
            conditions=[ready_condition(state.ready, state.reason, state.message, generation)],
            workloads=users,
            host=state.display_host,
        )
    )


def model_workload_status(
    workload: ModelWorkload, context: PolicyContext, pods: Mapping[str, int] | None = None
) -> Status:
    """The workload's readiness from the cluster view, and its pod counts from the audit when given."""
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
    status = ModelWorkloadStatus(
        observed_generation=generation,
        conditions=[condition],
        endpoint_host=endpoint.display_host if endpoint is not None else None,
    )
    if pods is not None:
        status = status.model_copy(update={POD_COUNTS: PodCounts.model_validate(pods)})
    return wire(status)


def route_policy_status(policy: RoutePolicy, context: PolicyContext, namespaces: list[str]) -> Status:
    governed = [ns for ns in namespaces if _governs(policy.metadata.name, context, ns)]
    generation = policy.metadata.generation
    message = f"governs {len(governed)} namespace(s) with enforcement {policy.spec.enforcement}"
    return wire(
        RoutePolicyStatus(
            observed_generation=generation,
            conditions=[ready_condition(True, "Active", message, generation)],
            governed_namespaces=len(governed),
        )
    )


def _governs(policy_name: str, context: PolicyContext, namespace: str) -> bool:
    effective = context.policy_for(namespace)
    return effective is not None and policy_name in effective.sources


def invalid_status(model: ResourceModel, message: str, generation: int | None) -> Status:
    """The status of an object whose spec does not parse: not Ready, and no host it could be matched on."""
    condition = [ready_condition(False, "InvalidSpec", message, generation)]
    status: ReconciledStatus
    if model is AzureEndpoint:
        status = AzureEndpointStatus(observed_generation=generation, conditions=condition, host=None)
    elif model is ModelWorkload:
        status = ModelWorkloadStatus(observed_generation=generation, conditions=condition, endpoint_host=None)
    else:
        status = RoutePolicyStatus(observed_generation=generation, conditions=condition)
    return wire(status)


def with_transition_times(desired: Status, current: Mapping[str, Any] | None, now: str) -> Status:
    """Keep lastTransitionTime from the current condition unless its status flipped."""
    previous = {c.get("type"): c for c in ((current or {}).get("conditions") or []) if isinstance(c, Mapping)}
    conditions = []
    for condition in desired.get("conditions", []):
        old = previous.get(condition["type"])
        unchanged = old is not None and old.get("status") == condition["status"] and old.get("lastTransitionTime")
        conditions.append({**condition, "lastTransitionTime": old["lastTransitionTime"] if unchanged and old else now})
    return {**desired, "conditions": conditions}


def only_counts_differ(desired: Status, current: Mapping[str, Any] | None) -> bool:
    """Whether the audit's pod counts are all that changed (conditions, endpoint and generation as written)."""
    rest = {key: value for key, value in desired.items() if key != POD_COUNTS}
    return (current or {}).get(POD_COUNTS) != desired.get(POD_COUNTS) and not differs_ignoring_times(rest, current)


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

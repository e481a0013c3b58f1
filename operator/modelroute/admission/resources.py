"""Checks of ModelRoute's own kinds that the CRD schema cannot express: a denial for what the models
reject, warnings where apply order or another object makes the resource useless for now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from modelroute.admission.review import Answer
from modelroute.api import kinds
from modelroute.api.meta import explain
from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload
from modelroute.engine import PolicyContext, endpoint_state, workload_problems

_MODELS = kinds.MODELS_BY_KIND


def _referencing(context: PolicyContext, endpoint: str) -> list[str]:
    return sorted(
        f"{ns}/{w.name}"
        for ns, workloads in context.workloads.items()
        for w in workloads
        if w.workload.spec.endpoint_ref and w.workload.spec.endpoint_ref.name == endpoint
    )


def validate_resource(obj: Mapping[str, Any], operation: str, context: PolicyContext) -> Answer:
    kind = str(obj.get("kind"))
    name = str((obj.get("metadata") or {}).get("name", ""))
    if operation == "DELETE":
        if kind == "AzureEndpoint" and (users := _referencing(context, name)):
            return Answer(
                True,
                warnings=(
                    f"AzureEndpoint {name} is still referenced by ModelWorkload(s) {', '.join(users)}; their pods "
                    "will be denied until they name another endpoint",
                ),
            )
        return Answer(True)
    model = _MODELS.get(kind)
    if model is None:
        return Answer(True)
    try:
        parsed = model.model_validate(obj)
    except ValidationError as error:
        return Answer(False, message=f"{kind} {name}: {explain(error)}")
    warnings: list[str] = []
    if isinstance(parsed, AzureEndpoint):
        state = endpoint_state(parsed)
        if not state.ready:
            warnings.append(f"AzureEndpoint {name} will not be Ready ({state.reason}): {state.message}")
    elif isinstance(parsed, ModelWorkload):
        namespace = parsed.metadata.namespace or "default"
        ref = parsed.spec.endpoint_ref
        endpoint = context.endpoints.get(ref.name) if ref else None
        for problem in workload_problems(parsed, endpoint, context, namespace):
            suffix = " (yet); apply it first" if endpoint is None else ""
            warnings.append(f"{problem.message}{suffix}; pods of this workload will be denied until this is fixed")
        if parsed.spec.selector.is_empty:
            warnings.append(f"ModelWorkload {name} has an empty selector: it covers every pod in {namespace}")
        for other in context.workloads.get(namespace, ()):
            if other.name != name and other.workload.spec.selector == parsed.spec.selector:
                warnings.append(
                    f"ModelWorkload {other.name} has the same selector; pods selected by both are denied as ambiguous"
                )
    return Answer(True, warnings=tuple(warnings))

"""AdmissionReview <-> engine, independent of kopf: what each webhook answers for one object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelroute.api import annotations as ann
from modelroute.engine import (
    Decision,
    JSONPatch,
    NotAPodError,
    Outcome,
    PolicyContext,
    evaluate_produced,
    judge_object,
    pod_shape,
)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a webhook tells the API server: allow or deny (with a message), warnings, and a patch."""

    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()
    patch: JSONPatch = field(default_factory=list)
    decision: Decision | None = None
    code: int | None = None  # the status code of a denial, when not the webhook's usual one


NOT_SYNCED = (
    "ModelRoute is starting and has not yet read the cluster's AzureEndpoints, ModelWorkloads, RoutePolicies, "
    "ConfigMaps and Namespaces; retry in a few seconds"
)


def _judge(obj: Mapping[str, Any], context: PolicyContext, *, mutate: bool = True) -> Decision | Answer:
    try:
        return judge_object(obj, context, mutate=mutate)
    except NotAPodError as error:
        return Answer(allowed=False, message=f"ModelRoute cannot read this object: {error}")


def mutate(obj: Mapping[str, Any], context: PolicyContext) -> Answer:
    """The mutating webhook: patch only. Denials are the validating webhook's job, so one message is shown."""
    decision = _judge(obj, context)
    if isinstance(decision, Answer):
        return Answer(allowed=True)
    return Answer(allowed=True, patch=decision.patch, decision=decision)


def validate(obj: Mapping[str, Any], context: PolicyContext) -> Answer:
    """The validating webhook: judges the object as it will run.

    A Pod is judged exactly as received: the mutating webhook has already run, and if it did not (another
    replica with an older view, a timeout under failurePolicy Ignore) the Pod must not pass on the strength of a
    mutation it never got. A pod controller is judged as its pods will be admitted, after that mutation."""
    decision = _judge(obj, context, mutate=obj.get("kind") != "Pod")
    if isinstance(decision, Answer):
        return decision
    return _validation(decision)


def validate_produced(mutation: Decision) -> Answer:
    """validate(the pod a mutating answer produces), finished from what the mutating judgement found."""
    return _validation(evaluate_produced(mutation))


def _validation(decision: Decision) -> Answer:
    if not decision.allowed:
        return Answer(allowed=False, message=decision.denial_message, decision=decision)
    return Answer(allowed=True, warnings=decision.warnings, decision=decision)


def template_unchanged(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """An UPDATE that leaves a controller's pod template as it was (scaling, status, finalizers) is not
    re-judged: a tightened policy must never stop a controller from scaling down or being deleted."""
    if (new.get("metadata") or {}).get("deletionTimestamp"):
        return True
    if old is None:
        return False
    try:
        before, after = pod_shape(old), pod_shape(new)
        return before.spec == after.spec and before.metadata == after.metadata
    except (NotAPodError, RecursionError):  # deeper than Python compares: judged afresh (and refused as such)
        return False


def needs_event(decision: Decision | None) -> bool:
    return decision is not None and decision.outcome in (Outcome.DENIED, Outcome.WARNED, Outcome.REWRITTEN)


def is_enforcement_probe(obj: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels")
    return isinstance(labels, Mapping) and ann.ENFORCEMENT_PROBE in labels


def probe_mutation(obj: Mapping[str, Any]) -> Answer:
    """The mutating webhook's answer to an enforcement probe: a mark the validating webhook looks for."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    key = ann.ENFORCEMENT_PROBE.replace("~", "~0").replace("/", "~1")
    patch: JSONPatch
    if isinstance(annotations, Mapping):
        patch = [{"op": "add", "path": f"/metadata/annotations/{key}", "value": ann.ENFORCEMENT_PROBE_MUTATED}]
    else:
        patch = [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {ann.ENFORCEMENT_PROBE: ann.ENFORCEMENT_PROBE_MUTATED},
            }
        ]
    return Answer(allowed=True, patch=patch)


def probe_validation(obj: Mapping[str, Any]) -> Answer:
    """The validating webhook always refuses an enforcement probe, and says whether the mutating webhook marked
    it: one dry-run create shows that the API server calls both, and that they can judge."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    marked = (
        isinstance(annotations, Mapping) and annotations.get(ann.ENFORCEMENT_PROBE) == ann.ENFORCEMENT_PROBE_MUTATED
    )
    return Answer(allowed=False, message=f"{ann.ENFORCEMENT_PROBE_REFUSAL} (mutated: {'yes' if marked else 'no'})")

"""The engine's entry point: one object in, one Decision out. Pure: no I/O, no clock, no globals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelroute.api import annotations as ann
from modelroute.api.v1alpha1 import ApiMode, Enforcement, ModelWorkload, StatefulDirect, UnmanagedAction
from modelroute.engine import hosts
from modelroute.engine.context import CompiledWorkload, EffectivePolicy, EndpointState, PolicyContext
from modelroute.engine.detection import (
    ContainerFindings,
    Target,
    TargetKind,
    inspect_pod_spec,
    redacted,
    reinspect_pod_spec,
)
from modelroute.engine.mutation import Mutation, mutate_pod_spec
from modelroute.engine.podspec import NotAPodError, PodShape, pod_shape
from modelroute.engine.redaction import redact_path
from modelroute.engine.remedies import written_by
from modelroute.engine.verdict import Code, Decision, JSONPatch, Outcome, Violation


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def annotation_patch(pointer: str, current: Mapping[str, str] | None, wanted: Mapping[str, str]) -> JSONPatch:
    """Ops that make the pod's modelroute.io/ annotations exactly `wanted`, leaving all others alone."""
    current = current or {}
    ops: JSONPatch = []
    if not current and wanted:
        return [{"op": "add", "path": f"{pointer}/metadata/annotations", "value": dict(wanted)}]
    for key in ann.OWNED_POD_ANNOTATIONS:
        if key in wanted and current.get(key) != wanted[key]:
            ops.append({"op": "add", "path": f"{pointer}/metadata/annotations/{_escape(key)}", "value": wanted[key]})
    # every modelroute.io/ annotation on an admitted pod is one admission wrote, whatever its key
    for key in current:
        if key.startswith(ann.PREFIX) and key not in wanted:
            ops.append({"op": "remove", "path": f"{pointer}/metadata/annotations/{_escape(key)}"})
    return ops


def annotations_after(current: Mapping[str, str] | None, wanted: Mapping[str, str]) -> Mapping[str, str] | None:
    """The pod's annotations once annotation_patch(current, wanted) is applied."""
    if not current:
        return dict(wanted) if wanted else current
    after = dict(current)
    for key in ann.OWNED_POD_ANNOTATIONS:
        if key in wanted:
            after[key] = wanted[key]
    for key in current:
        if key.startswith(ann.PREFIX) and key not in wanted:
            del after[key]
    return after


def _produced(
    shape: PodShape,
    patch: JSONPatch,
    annotations: Mapping[str, str] | None,
    owned: Mapping[str, str],
    spec: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The pod (kind, metadata, spec) as `patch` leaves it: `spec` is the mutated spec the patch writes."""
    if not patch:
        return None
    metadata = {**shape.metadata, "annotations": annotations_after(annotations, owned)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def workload_problems(
    workload: ModelWorkload, endpoint: EndpointState | None, context: PolicyContext, namespace: str
) -> list[Violation]:
    spec = workload.spec
    name = workload.metadata.name
    if spec.endpoint_ref is None:
        return []
    if endpoint is None:
        return [
            Violation(
                Code.ENDPOINT_NOT_FOUND,
                f"ModelWorkload {name} references AzureEndpoint {spec.endpoint_ref.name}, which does not exist",
            )
        ]
    problems: list[Violation] = []
    if not endpoint.ready:
        problems.append(
            Violation(
                Code.ENDPOINT_NOT_READY,
                f"AzureEndpoint {endpoint.name} is not Ready ({endpoint.reason}): {endpoint.message}",
            )
        )
    channel = spec.procurement.channel
    if not endpoint.allows_channel(channel):
        allowed = ", ".join(sorted(endpoint.endpoint.spec.allowed_channels))
        problems.append(
            Violation(
                Code.CHANNEL_NOT_ALLOWED,
                f"ModelWorkload {name} was procured through {channel}, but AzureEndpoint "
                f"{endpoint.name} admits only {allowed}",
            )
        )
    if spec.deployment and endpoint.deployments and spec.deployment not in endpoint.deployments:
        problems.append(
            Violation(
                Code.DEPLOYMENT_NOT_ALLOWED,
                f"deployment {spec.deployment!r} is not among AzureEndpoint {endpoint.name}'s "
                f"deployments ({', '.join(sorted(endpoint.deployments))})",
            )
        )
    if not endpoint.allows_namespace(context.labels_of(namespace)):
        problems.append(
            Violation(
                Code.NAMESPACE_NOT_ALLOWED,
                f"AzureEndpoint {endpoint.name} does not admit workloads in namespace {namespace}",
            )
        )
    return problems


class _Judge:
    """Judges every target of a (mutated) pod against the route it must take."""

    def __init__(
        self,
        policy: EffectivePolicy,
        workload: ModelWorkload | None,
        endpoint: EndpointState | None,
        approved_for_unmanaged: Mapping[str, EndpointState],
        one_door_for_unmanaged: Mapping[str, EndpointState],
    ) -> None:
        self.policy = policy
        self.workload = workload
        self.endpoint = endpoint
        self.approved_for_unmanaged = approved_for_unmanaged
        self.one_door_for_unmanaged = one_door_for_unmanaged

    def judge(self, container: ContainerFindings, target: Target) -> Violation | None:
        url = target.url
        if target.kind is TargetKind.BEDROCK or (
            url is not None and hosts.classify_host(url.host).family is hosts.HostFamily.AWS_BEDROCK
        ):
            return Violation(
                Code.NON_AZURE_PROVIDER,
                f"{target.describe()} routes OpenAI models through AWS Bedrock, not an approved Azure endpoint"
                + self._remedy(target),
                container.name,
                target.field,
            )
        assert url is not None
        if self.workload is None:
            if url.host_port in self.approved_for_unmanaged:
                return None
            one_door = self.one_door_for_unmanaged.get(url.host_port)
            if one_door is not None:
                return _channel_not_declared(container, target, one_door)
            return self._not_approved(container, target, "no approved AzureEndpoint has this host")
        if self.endpoint is not None and self.endpoint.host_port == url.host_port:
            deployment = target.deployment
            if deployment and self.endpoint.deployments and deployment not in self.endpoint.deployments:
                return Violation(
                    Code.DEPLOYMENT_NOT_ALLOWED,
                    f"{target.describe()} calls deployment {redact_path(deployment)}, which AzureEndpoint "
                    f"{self.endpoint.name} does not allow",
                    container.name,
                    target.field,
                )
            return None
        if self.workload.spec.api_mode is ApiMode.STATEFUL and (
            hosts.classify_host(url.host).family is hosts.HostFamily.OPENAI
        ):
            if self.policy.stateful_direct is StatefulDirect.ALLOW:
                return None
            return Violation(
                Code.STATEFUL_DIRECT_DENIED,
                f"{target.describe()} reaches OpenAI directly; the RoutePolicy sets statefulDirect: Deny",
                container.name,
                target.field,
            )
        if self.endpoint is None:
            return self._not_approved(
                container,
                target,
                f"Stateful ModelWorkload {self.workload.metadata.name} "
                "names no endpoint, and this is not an OpenAI-operated host",
            )
        return self._not_approved(
            container,
            target,
            f"ModelWorkload {self.workload.metadata.name} routes through AzureEndpoint {self.endpoint.name} "
            f"({self.endpoint.display_host})",
        )

    def _not_approved(self, container: ContainerFindings, target: Target, why: str) -> Violation:
        code = Code.DEFAULT_OPENAI_ENDPOINT if target.kind is TargetKind.DEFAULT else Code.ENDPOINT_NOT_APPROVED
        subject = target.setting if target.kind is TargetKind.DEFAULT else target.describe()
        message = f"container {container.name}: {subject} is not an approved route: {why}"
        return Violation(code, message + self._remedy(target), container.name, target.field)

    def _remedy(self, target: Target) -> str:
        """What to change in the file that names the target, in terms of what this pod is injected."""
        if target.remedy is None:
            return ""
        written = written_by(self.workload.spec.inject.profiles) if self.workload is not None else None
        return f"; {target.remedy.text(written)}"


def _channel_not_declared(container: ContainerFindings, target: Target, endpoint: EndpointState) -> Violation:
    channels = " or ".join(sorted(endpoint.endpoint.spec.allowed_channels))
    subject = target.setting if target.kind is TargetKind.DEFAULT else target.describe()
    return Violation(
        Code.CHANNEL_NOT_DECLARED,
        f"container {container.name}: {subject} uses AzureEndpoint {endpoint.name}, which admits the {channels} "
        "procurement channel only, and no ModelWorkload covers this pod to declare it; cover the pod with a "
        f"ModelWorkload whose procurement.channel is {channels}",
        container.name,
        target.field,
    )


def _owned_annotations(
    workload: ModelWorkload | None, endpoint: EndpointState | None, outcome: Outcome
) -> dict[str, str]:
    if outcome is Outcome.NOT_APPLICABLE:
        return {}
    out: dict[str, str] = {}
    if workload is not None:
        spec = workload.spec
        out[ann.PROCUREMENT_CHANNEL] = str(spec.procurement.channel)
        out[ann.WORKLOAD] = workload.metadata.name
        if endpoint is not None:
            out[ann.ENDPOINT] = endpoint.name
            if endpoint.display_host:
                out[ann.ENDPOINT_HOST] = endpoint.display_host
        out[ann.API_MODE] = str(spec.api_mode)
        if spec.procurement.reference:
            out[ann.PROCUREMENT_REFERENCE] = spec.procurement.reference
        if spec.procurement.cost_center:
            out[ann.COST_CENTER] = spec.procurement.cost_center
    out[ann.DECISION] = str(outcome)
    return out


def host_alias_overrides(spec: Mapping[str, Any], prefix: str, context: PolicyContext) -> list[Violation]:
    """hostAliases that point a model host (or an approved one) at an address of the pod's choosing."""
    found = []
    for index, alias in enumerate(spec.get("hostAliases") or ()):
        for name in alias.get("hostnames") or ():
            try:
                host = hosts.canonical_host(str(name))
                model_host = hosts.classify_host(host).is_openai_model_host
            except hosts.URLError:
                continue
            if model_host or host in context.endpoint_hosts:
                found.append(
                    Violation(
                        Code.HOST_ALIAS_OVERRIDE,
                        f"hostAliases maps {host} to {alias.get('ip')}; the pod would not reach the real host",
                        field=f"{prefix}.hostAliases[{index}]",
                    )
                )
    return found


def _unmanaged_summary(findings: Iterable[ContainerFindings]) -> str:
    parts: list[str] = []
    for f in findings:
        if not f.configured_for_openai:
            continue
        what = [t.describe() for t in f.targets] + f.signals + [p.message for p in f.problems]
        parts.append(f"container {f.name}: {'; '.join(what)}")
    return " | ".join(parts)


@dataclass
class _Review:
    """One pod (or template) on its way through the pipeline; each stage adds what it found."""

    shape: PodShape
    namespace: str
    context: PolicyContext
    policy: EffectivePolicy
    covering: list[CompiledWorkload]
    spec: Mapping[str, Any]
    findings: list[ContainerFindings]
    workload: ModelWorkload | None = None
    endpoint: EndpointState | None = None
    mutation: Mutation | None = None
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mutating: bool = False  # judged for the mutating call, whose validating call judges the pod it produces

    def inspect(self) -> list[ContainerFindings]:
        return inspect_pod_spec(self.spec, self.shape.field_prefix, self.namespace, self.context.config_maps)


def evaluate_pod(
    shape: PodShape,
    namespace: str,
    context: PolicyContext,
    *,
    mutate: bool = True,
) -> Decision:
    """Judge a pod (or template) as it will run after its mutation; `mutate=False` judges it as it is,
    which is what the background audit wants of pods that already exist.

    The pipeline, top to bottom: resolve (which workload covers it, which endpoint, what its containers
    are configured for), mutate (the approved route written in), judge (every route it would take),
    decide (the enforcement turns violations into an outcome), annotate (what admission writes)."""
    policy = context.policy_for(namespace)
    if policy is None:
        return _ungoverned(shape, namespace, context)
    review = _resolve(shape, namespace, context, policy)
    if mutate:
        review.mutating = True
        _mutate(review)
    _judge(review)
    return _annotate(review, *_decide(review))


def _ungoverned(shape: PodShape, namespace: str, context: PolicyContext) -> Decision:
    outcome = Outcome.EXCLUDED if context.is_excluded(namespace) else Outcome.UNGOVERNED
    # annotations ModelRoute owns must never be forged, governed or not
    if not shape.is_pod:
        return Decision(allowed=True, outcome=outcome, enforcement=None)
    current = shape.metadata.get("annotations")
    forged = annotation_patch(shape.pointer, current, {})
    return Decision(
        allowed=True,
        outcome=outcome,
        enforcement=None,
        patch=forged,
        produced=_produced(shape, forged, current, {}, shape.spec),
    )


def _resolve(
    shape: PodShape,
    namespace: str,
    context: PolicyContext,
    policy: EffectivePolicy,
) -> _Review:
    labels = shape.metadata.get("labels") or {}
    review = _Review(
        shape=shape,
        namespace=namespace,
        context=context,
        policy=policy,
        covering=context.covering_workloads(namespace, labels),
        spec=shape.spec,
        findings=[],
    )
    review.findings = review.inspect()
    if len(review.covering) > 1:
        names = " and ".join(w.name for w in review.covering)
        review.violations.append(
            Violation(
                Code.AMBIGUOUS_WORKLOAD, f"this pod is selected by ModelWorkloads {names}; a pod may belong to one only"
            )
        )
    elif review.covering:
        workload = review.workload = review.covering[0].workload
        if workload.spec.endpoint_ref is not None:
            review.endpoint = context.endpoints.get(workload.spec.endpoint_ref.name)
        review.violations.extend(workload_problems(workload, review.endpoint, context, namespace))
    return review


def _mutate(review: _Review) -> None:
    """A covered pod whose workload is satisfiable gets the approved route; it is then judged as mutated."""
    if review.workload is None or review.endpoint is None or review.violations:
        return
    shape = review.shape
    mutation = mutate_pod_spec(
        review.spec, shape.pointer + "/spec", review.findings, review.workload, review.endpoint, review.policy.rewrite
    )
    review.mutation = mutation
    review.warnings.extend(mutation.warnings)
    if mutation.patch:
        before, review.spec = review.spec, mutation.spec
        shape, context = review.shape, review.context
        review.findings = reinspect_pod_spec(
            review.spec, before, review.findings, shape.field_prefix, review.namespace, context.config_maps
        )


def _judge(review: _Review) -> None:
    policy, namespace, workload = review.policy, review.namespace, review.workload
    for f in review.findings:
        review.warnings.extend(f.warnings)
    if not review.covering and any(f.configured_for_openai for f in review.findings):
        summary = _unmanaged_summary(review.findings)
        message = (
            f"no ModelWorkload in namespace {namespace} covers this pod, which is configured for "
            f"OpenAI traffic ({summary})"
        )
        if policy.unmanaged is UnmanagedAction.DENY:
            review.violations.append(Violation(Code.UNMANAGED_OPENAI_TRAFFIC, message))
        elif policy.unmanaged is UnmanagedAction.WARN:
            review.warnings.append(f"[{Code.UNMANAGED_OPENAI_TRAFFIC}] {message}")
    # an ambiguous pod, or a covered one whose workload cannot be satisfied, has its answer already
    if len(review.covering) <= 1 and not (workload is not None and review.violations):
        approved = review.context.approved_hosts_for(namespace) if workload is None else {}
        one_door = review.context.one_door_hosts_for(namespace) if workload is None else {}
        judge = _Judge(policy, workload, review.endpoint, approved, one_door)
        for f in review.findings:
            review.violations.extend(f.problems)
            if workload is not None:  # a covered pod's clients may load a Secret's file: it must be proven
                review.violations.extend(f.doubts)
            for target in f.targets:
                verdict = judge.judge(f, target)
                if verdict is not None:
                    review.violations.append(verdict)
    review.violations.extend(host_alias_overrides(review.spec, review.shape.field_prefix, review.context))


_VIOLATING_OUTCOME = {
    Enforcement.ENFORCE: Outcome.DENIED,
    Enforcement.WARN: Outcome.WARNED,
    Enforcement.AUDIT: Outcome.AUDITED,
}


def _decide(review: _Review) -> tuple[bool, Outcome, list[str]]:
    """(allowed, outcome, warnings): Enforce denies, Warn admits with the violations as warnings, Audit
    admits silently."""
    enforcement = review.policy.enforcement
    warnings = review.warnings
    if review.violations:
        allowed = enforcement is not Enforcement.ENFORCE
        outcome = _VIOLATING_OUTCOME[enforcement]
        if enforcement is Enforcement.WARN:
            warnings = [f"[{v.code}] {v.message}" for v in review.violations] + warnings
    else:
        allowed = True
        if review.mutation is not None and review.mutation.rewritten:
            outcome = Outcome.REWRITTEN
        elif review.workload is not None:
            outcome = Outcome.COMPLIANT
        elif any(f.configured_for_openai for f in review.findings):
            outcome = Outcome.UNMANAGED
        else:
            outcome = Outcome.NOT_APPLICABLE
    if enforcement is Enforcement.AUDIT:
        warnings = []
    return allowed, outcome, warnings


def _annotate(review: _Review, allowed: bool, outcome: Outcome, warnings: list[str]) -> Decision:
    workload, endpoint, shape = review.workload, review.endpoint, review.shape
    owned = _owned_annotations(workload if len(review.covering) == 1 else None, endpoint, outcome)
    patch: JSONPatch = []
    produced: dict[str, Any] | None = None
    if shape.is_pod:
        current = shape.metadata.get("annotations")
        patch = [*(review.mutation.patch if review.mutation else []), *annotation_patch(shape.pointer, current, owned)]
        produced = _produced(shape, patch, current, owned, review.spec)
    violations, kept_warnings = tuple(review.violations), tuple(dict.fromkeys(warnings))
    # the last use of this review for the mutating call: from here on it is the produced pod's
    handed_over = _hand_over(review, produced) if review.mutating and shape.is_pod else None
    return Decision(
        allowed=allowed,
        outcome=outcome,
        enforcement=review.policy.enforcement,
        violations=violations,
        warnings=kept_warnings,
        annotations=owned,
        patch=patch,
        workload=workload.metadata.name if workload else None,
        endpoint=endpoint.name if endpoint else None,
        produced=produced,
        produced_review=handed_over,
    )


def _hand_over(review: _Review, produced: Mapping[str, Any] | None) -> _Review:
    """The review made the review of the pod `produced` (None: the pod itself) as it is, up to the enforcement's
    decision: what evaluate_pod(produced, mutate=False) would have found.

    The produced spec is the very spec this review read and judged, the labels and namespace that resolve its
    workload are the same, and the annotations the patch changes are read by no stage. Only the mutation is not
    the produced pod's own, nor the warnings it gave. Changed in place: a copy costs more than the rest of it."""
    mutation = review.mutation
    if produced is not None:
        review.shape = PodShape(produced["metadata"], produced["spec"], "spec", "", True)
    if mutation is not None:
        review.warnings = review.warnings[len(mutation.warnings) :]
        review.mutation = None
    review.mutating = False
    return review


def evaluate_produced(decision: Decision) -> Decision:
    """The pod `decision` produces (`decision.produced`, or the pod itself when it has no patch) judged as it is:
    what the validating call for it will ask, equal to evaluate(that pod, context, mutate=False), from what the
    mutating judgement found."""
    review = decision.produced_review
    if not isinstance(review, _Review):
        raise ValueError("this decision is not about a governed pod")
    return _annotate(review, *_decide(review))


def evaluate(
    obj: Mapping[str, Any], context: PolicyContext, default_namespace: str = "default", *, mutate: bool = True
) -> Decision:
    """Judge a Pod or a pod controller (by its template, as its pods will be admitted).

    Raises NotAPodError for other kinds and for objects without a pod spec.
    """
    shape = pod_shape(obj)
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace") or default_namespace
    if not isinstance(namespace, str):
        raise NotAPodError(f"metadata.namespace must be a string, not {type(namespace).__name__}")
    return evaluate_pod(shape, namespace, context, mutate=mutate)


__all__ = ["annotation_patch", "evaluate", "evaluate_pod", "evaluate_produced", "redacted", "workload_problems"]

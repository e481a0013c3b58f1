"""The engine's entry point: one object in, one Decision out. Pure: no I/O, no clock, no globals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelroute.api import annotations as ann
from modelroute.api.v1alpha1 import ApiMode, Enforcement, ModelWorkload, StatefulDirect, UnmanagedAction
from modelroute.engine import hosts
from modelroute.engine.context import CompiledWorkload, EffectivePolicy, EndpointState, PolicyContext
from modelroute.engine.detection import ContainerFindings, Target, TargetKind, inspect_pod_spec, redacted
from modelroute.engine.mutation import Mutation, mutate_pod_spec
from modelroute.engine.podspec import PodShape, pod_shape
from modelroute.engine.redaction import redact_path
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
    ) -> None:
        self.policy = policy
        self.workload = workload
        self.endpoint = endpoint
        self.approved_for_unmanaged = approved_for_unmanaged

    def judge(self, container: ContainerFindings, target: Target) -> Violation | None:
        url = target.url
        if target.kind is TargetKind.BEDROCK or (
            url is not None and hosts.classify_host(url.host).family is hosts.HostFamily.AWS_BEDROCK
        ):
            return Violation(
                Code.NON_AZURE_PROVIDER,
                f"{target.describe()} routes OpenAI models through AWS Bedrock, not an approved Azure endpoint",
                container.name,
                target.field,
            )
        assert url is not None
        if self.workload is None:
            if url.host_port in self.approved_for_unmanaged:
                return None
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
        return Violation(
            code, f"container {container.name}: {subject} is not an approved route: {why}", container.name, target.field
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


def evaluate_pod(shape: PodShape, namespace: str, context: PolicyContext, *, mutate: bool = True) -> Decision:
    """Judge a pod (or template) as it will run after its mutation; `mutate=False` judges it as it is,
    which is what the background audit wants of pods that already exist."""
    policy = context.policy_for(namespace)
    if policy is None:
        outcome = Outcome.EXCLUDED if context.is_excluded(namespace) else Outcome.UNGOVERNED
        # annotations ModelRoute owns must never be forged, governed or not
        forged = annotation_patch(shape.pointer, shape.metadata.get("annotations"), {}) if shape.is_pod else []
        return Decision(allowed=True, outcome=outcome, enforcement=None, patch=forged)

    labels = shape.metadata.get("labels") or {}
    covering: list[CompiledWorkload] = context.covering_workloads(namespace, labels)
    violations: list[Violation] = []
    warnings: list[str] = []
    workload: ModelWorkload | None = None
    endpoint: EndpointState | None = None
    spec: Mapping[str, Any] = shape.spec
    findings = inspect_pod_spec(spec, shape.field_prefix, namespace, context.config_maps)
    mutation: Mutation | None = None

    if len(covering) > 1:
        names = " and ".join(w.name for w in covering)
        violations.append(
            Violation(
                Code.AMBIGUOUS_WORKLOAD, f"this pod is selected by ModelWorkloads {names}; a pod may belong to one only"
            )
        )
    elif covering:
        workload = covering[0].workload
        if workload.spec.endpoint_ref is not None:
            endpoint = context.endpoints.get(workload.spec.endpoint_ref.name)
        problems = workload_problems(workload, endpoint, context, namespace)
        violations.extend(problems)
        if not problems and endpoint is not None and mutate:
            mutation = mutate_pod_spec(spec, shape.pointer + "/spec", findings, workload, endpoint, policy.rewrite)
            warnings.extend(mutation.warnings)
            if mutation.patch:
                spec = mutation.spec
                findings = inspect_pod_spec(spec, shape.field_prefix, namespace, context.config_maps)

    configured = any(f.configured_for_openai for f in findings)
    for f in findings:
        warnings.extend(f.warnings)

    if not covering and configured:
        summary = _unmanaged_summary(findings)
        message = (
            f"no ModelWorkload in namespace {namespace} covers this pod, which is configured for "
            f"OpenAI traffic ({summary})"
        )
        if policy.unmanaged is UnmanagedAction.DENY:
            violations.append(Violation(Code.UNMANAGED_OPENAI_TRAFFIC, message))
        elif policy.unmanaged is UnmanagedAction.WARN:
            warnings.append(f"[{Code.UNMANAGED_OPENAI_TRAFFIC}] {message}")

    if len(covering) <= 1 and not (workload is not None and violations):
        judge = _Judge(policy, workload, endpoint, context.approved_hosts_for(namespace) if workload is None else {})
        for f in findings:
            violations.extend(f.problems)
            for target in f.targets:
                verdict = judge.judge(f, target)
                if verdict is not None:
                    violations.append(verdict)

    violations.extend(host_alias_overrides(spec, shape.field_prefix, context))
    rewritten = bool(mutation and mutation.rewritten)
    if violations:
        allowed = policy.enforcement is not Enforcement.ENFORCE
        outcome = {
            Enforcement.ENFORCE: Outcome.DENIED,
            Enforcement.WARN: Outcome.WARNED,
            Enforcement.AUDIT: Outcome.AUDITED,
        }[policy.enforcement]
        if policy.enforcement is Enforcement.WARN:
            warnings = [f"[{v.code}] {v.message}" for v in violations] + warnings
    else:
        allowed = True
        if rewritten:
            outcome = Outcome.REWRITTEN
        elif workload is not None:
            outcome = Outcome.COMPLIANT
        elif configured:
            outcome = Outcome.UNMANAGED
        else:
            outcome = Outcome.NOT_APPLICABLE
    if policy.enforcement is Enforcement.AUDIT:
        warnings = []

    owned = _owned_annotations(workload if len(covering) == 1 else None, endpoint, outcome)
    patch: JSONPatch = []
    if shape.is_pod:
        patch = [
            *(mutation.patch if mutation else []),
            *annotation_patch(shape.pointer, shape.metadata.get("annotations"), owned),
        ]
    return Decision(
        allowed=allowed,
        outcome=outcome,
        enforcement=policy.enforcement,
        violations=tuple(violations),
        warnings=tuple(dict.fromkeys(warnings)),
        annotations=owned,
        patch=patch,
        workload=workload.metadata.name if workload else None,
        endpoint=endpoint.name if endpoint else None,
    )


def evaluate(
    obj: Mapping[str, Any], context: PolicyContext, default_namespace: str = "default", *, mutate: bool = True
) -> Decision:
    """Judge a Pod or a pod controller (by its template, as its pods will be admitted).

    Raises NotAPodError for other kinds and for objects without a pod spec.
    """
    shape = pod_shape(obj)
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace") or default_namespace
    return evaluate_pod(shape, namespace, context, mutate=mutate)


__all__ = ["annotation_patch", "evaluate", "evaluate_pod", "redacted", "workload_problems"]

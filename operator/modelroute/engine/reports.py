"""The audit written as policy reports (openreports.io, or wgpolicyk8s.io where only that is served): one
report per workload, as Kyverno writes one per resource, so Policy Reporter lists each Deployment,
StatefulSet, DaemonSet, Job or bare Pod with its results; and one cluster report per AzureEndpoint, its
approval. Pure: the reconciler does the I/O."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from modelroute.api import annotations as ann
from modelroute.api.annotations import MANAGED_BY
from modelroute.api.kinds import OPENREPORTS, POD, REPORT_APIS, WGPOLICYK8S, ReportAPI
from modelroute.api.meta import GROUP, VERSION
from modelroute.engine.audit import AuditResult, PodFinding
from modelroute.engine.context import EndpointState
from modelroute.engine.redaction import redact_text
from modelroute.engine.verdict import Code, Outcome

#: the `policy` and `source` of every result: what Policy Reporter files them under
POLICY = "modelroute"
SOURCE = "ModelRoute"
REPORT_PREFIX = "modelroute-"
MAX_MESSAGE = 4096
#: pod names listed in a result's `pod-names` property; `pods` counts them all
LISTED_PODS = 5
#: a Kubernetes object name (DNS subdomain) is at most this long
MAX_NAME = 253
_RESULTS = ("pass", "fail", "warn", "error", "skip")


class ReportChoice(StrEnum):
    """Which report API the audit writes (`--report-api`, the chart's `reports.api`)."""

    #: openreports.io where it is served, else wgpolicyk8s.io where that is, else none
    AUTO = "auto"
    OPENREPORTS = OPENREPORTS.name
    WGPOLICYK8S = WGPOLICYK8S.name
    NONE = "none"


def candidates(choice: ReportChoice) -> tuple[ReportAPI, ...]:
    """The APIs a choice may write (and clean up), the preferred first."""
    if choice is ReportChoice.AUTO:
        return REPORT_APIS
    return tuple(api for api in REPORT_APIS if api.name == choice.value)


def choose(choice: ReportChoice, usable: Callable[[ReportAPI], bool]) -> ReportAPI | None:
    """The API to write: the first candidate that is served (and that this identity may write), or None."""
    return next((api for api in candidates(choice) if usable(api)), None)


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Rule:
    """One check of the policy, with a result for every workload: pass, or the violations it found."""

    name: str
    category: str
    severity: Severity
    codes: frozenset[Code]
    passed: str  # the message of a pass


#: Every rule a workload is reported against, in report order. Every violation code belongs to one rule.
RULES: tuple[Rule, ...] = (
    Rule(
        "approved-route",
        "Approved routes",
        Severity.HIGH,
        frozenset(
            {
                Code.ENDPOINT_NOT_APPROVED,
                Code.DEFAULT_OPENAI_ENDPOINT,
                Code.NON_AZURE_PROVIDER,
                Code.MALFORMED_ENDPOINT_URL,
                Code.HOST_ALIAS_OVERRIDE,
                Code.STATEFUL_DIRECT_DENIED,
            }
        ),
        "every OpenAI endpoint setting is an approved route",
    ),
    Rule(
        "declared-workload",
        "Workload declaration",
        Severity.MEDIUM,
        frozenset({Code.UNMANAGED_OPENAI_TRAFFIC, Code.AMBIGUOUS_WORKLOAD}),
        "covered by one ModelWorkload",
    ),
    Rule(
        "procurement",
        "Procurement",
        Severity.MEDIUM,
        frozenset(
            {
                Code.ENDPOINT_NOT_FOUND,
                Code.ENDPOINT_NOT_READY,
                Code.CHANNEL_NOT_ALLOWED,
                Code.DEPLOYMENT_NOT_ALLOWED,
                Code.NAMESPACE_NOT_ALLOWED,
            }
        ),
        "the workload's channel, deployment and namespace are allowed by its AzureEndpoint",
    ),
    Rule(
        "visible-configuration",
        "Configuration visibility",
        Severity.LOW,
        frozenset({Code.ENDPOINT_NOT_VISIBLE, Code.UNRESOLVED_REFERENCE, Code.UNREADABLE_CONFIG_FILE}),
        "every endpoint setting and configuration file could be read",
    ),
)
RULE_OF_CODE: Mapping[Code, Rule] = {code: rule for rule in RULES for code in rule.codes}
_DECLARATION = RULES[1]
_PROCUREMENT = RULES[2]
#: the one rule of an AzureEndpoint's cluster report: whether it is an approved route (its Ready condition)
APPROVED_ENDPOINT = Rule(
    "approved-endpoint",
    "Approved endpoints",
    Severity.HIGH,
    frozenset(),
    "the endpoint is an approved route",
)


@dataclass(frozen=True, slots=True)
class Scope:
    """The workload a pod belongs to, as a report's `scope`, and the objects the report is owned by."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str  # "" when the pod does not name it (a Deployment: its pods name their ReplicaSet)

    @property
    def reference(self) -> dict[str, str]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "namespace": self.namespace}
        if self.uid:
            ref["uid"] = self.uid
        return ref

    @property
    def report_name(self) -> str:
        return report_name(self.kind, self.name)


def report_name(kind: str, name: str) -> str:
    """`modelroute-<kind>-<name>`, readable in `kubectl get`; past the name limit, cut and made unique."""
    full = f"{REPORT_PREFIX}{kind.lower()}-{name}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(f"{kind}/{name}".encode()).hexdigest()[:16]
    return f"{full[: MAX_NAME - 17].rstrip('.-')}-{digest}"


_HASH_SUFFIX = re.compile(r"^(?P<deployment>.+)-(?P<hash>[a-z0-9]+)$")


def _controller(metadata: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for owner in metadata.get("ownerReferences") or ():
        if isinstance(owner, Mapping) and owner.get("controller") is True and owner.get("kind") and owner.get("name"):
            return owner
    return None


def workload_of(pod: Mapping[str, Any], namespace: str) -> tuple[Scope, dict[str, Any] | None]:
    """The workload a pod belongs to, and the owner reference its report gets for this pod.

    The pod's controller (ReplicaSet, StatefulSet, DaemonSet, Job, ...) as its ownerReferences name it, or the
    pod itself when nothing controls it. A ReplicaSet named `<deployment>-<pod-template-hash>` (the pod carries
    that label) is a Deployment's: the Deployment is the workload, and the report is owned by the ReplicaSets,
    so it goes with the Deployment's last one."""
    metadata = pod.get("metadata") or {}
    controller = _controller(metadata)
    if controller is None:
        scope = Scope(
            POD.api_version, POD.kind, str(metadata.get("name") or ""), namespace, str(metadata.get("uid") or "")
        )
        owner = _owner_reference(scope.api_version, scope.kind, scope.name, scope.uid)
        return scope, owner
    api_version, kind, name = str(controller.get("apiVersion") or ""), str(controller["kind"]), str(controller["name"])
    owner = _owner_reference(api_version, kind, name, str(controller.get("uid") or ""))
    template_hash = (metadata.get("labels") or {}).get("pod-template-hash")
    match = _HASH_SUFFIX.match(name)
    if kind == "ReplicaSet" and api_version == "apps/v1" and match and match["hash"] == template_hash:
        return Scope("apps/v1", "Deployment", match["deployment"], namespace, ""), owner
    return Scope(api_version, kind, name, namespace, str(controller.get("uid") or "")), owner


def _owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any] | None:
    if not uid:
        return None
    # not a controller, and never blocking the owner's deletion: the report only follows it
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}


def _properties(finding: PodFinding) -> dict[str, str]:
    return {k.removeprefix(ann.PREFIX): v for k, v in sorted(finding.decision.annotations.items())}


def _rule_results(finding: PodFinding) -> list[tuple[Rule, str, str]]:
    """(rule, result, message) for every rule: the pod's violations by rule, a pass where it has none."""
    decision = finding.decision
    failing = "warn" if decision.outcome is Outcome.WARNED else "fail"
    found: dict[str, list[str]] = {}
    for violation in decision.violations:
        found.setdefault(RULE_OF_CODE[violation.code].name, []).append(f"[{violation.code}] {violation.message}")
    out = []
    for rule in RULES:
        if rule.name in found:
            out.append((rule, failing, "; ".join(found[rule.name])))
        elif rule is _DECLARATION and not decision.workload:
            # configured for OpenAI traffic, declared by no ModelWorkload, and let through by the RoutePolicy
            warning = next((w for w in decision.warnings if w.startswith(f"[{Code.UNMANAGED_OPENAI_TRAFFIC}]")), None)
            out.append((rule, "warn", warning or f"[{Code.UNMANAGED_OPENAI_TRAFFIC}] no ModelWorkload covers this pod"))
        elif rule is _PROCUREMENT and not decision.workload:
            out.append((rule, "skip", "no ModelWorkload: no procurement channel to check"))
        elif rule is _DECLARATION:
            out.append((rule, "pass", f"covered by ModelWorkload {decision.workload}"))
        else:
            out.append((rule, "pass", rule.passed))
    return out


def _pod_list(names: list[str]) -> str:
    listed = ", ".join(names[:LISTED_PODS])
    return listed if len(names) <= LISTED_PODS else f"{listed} (+{len(names) - LISTED_PODS} more)"


def _results(findings: Iterable[PodFinding], seconds: int) -> list[dict[str, Any]]:
    """A result per rule and distinct outcome: the pods of a workload that fare alike share one result, so
    a report stays small however many replicas its workload has."""
    grouped: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], list[str]] = {}
    order = {rule.name: index for index, rule in enumerate(RULES)}
    rules = {rule.name: rule for rule in RULES}
    for finding in findings:
        pod_name = str((finding.pod.get("metadata") or {}).get("name") or "")
        properties = tuple(_properties(finding).items())
        for rule, result, message in _rule_results(finding):
            message = redact_text(message)[:MAX_MESSAGE]
            grouped.setdefault((rule.name, result, message, properties), []).append(pod_name)
    results = []
    for (rule_name, result, message, properties), pods in sorted(
        grouped.items(), key=lambda item: (order[item[0][0]], _RESULTS.index(item[0][1]), item[0][2], item[0][3])
    ):
        rule = rules[rule_name]
        pods.sort()
        results.append(
            {
                "source": SOURCE,
                "policy": POLICY,
                "rule": rule.name,
                "category": rule.category,
                "severity": str(rule.severity),
                "result": result,
                "scored": True,
                "message": message,
                "timestamp": {"seconds": seconds, "nanos": 0},
                "properties": {**dict(properties), "pods": str(len(pods)), "pod-names": _pod_list(pods)},
            }
        )
    return results


def summary(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = Counter(str(r.get("result")) for r in results)
    return {result: counts[result] for result in _RESULTS}


ReportKey = tuple[str, str]  # (namespace, name)


def workload_reports(result: AuditResult, api: ReportAPI, seconds: int) -> dict[ReportKey, dict[str, Any]]:
    """One report per workload with audited pods, scoped to the workload and owned by it (or by the
    ReplicaSets of a Deployment), so it is garbage-collected with it."""
    by_scope: dict[Scope, list[PodFinding]] = {}
    owners: dict[Scope, dict[str, dict[str, Any]]] = {}
    for finding in result.findings:
        scope, owner = workload_of(finding.pod, finding.namespace)
        by_scope.setdefault(scope, []).append(finding)
        if owner is not None:
            owners.setdefault(scope, {})[owner["uid"]] = owner
    kind = api.namespaced
    reports: dict[ReportKey, dict[str, Any]] = {}
    for scope, findings in by_scope.items():
        results = _results(findings, seconds)
        metadata: dict[str, Any] = {"name": scope.report_name, "namespace": scope.namespace, "labels": dict(MANAGED_BY)}
        owned_by = [owners[scope][uid] for uid in sorted(owners.get(scope, {}))]
        if owned_by:
            metadata["ownerReferences"] = owned_by
        body: dict[str, Any] = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata}
        if api.report_source:
            body["source"] = SOURCE
        body.update({"scope": scope.reference, "results": results, "summary": summary(results)})
        reports[(scope.namespace, scope.report_name)] = body
    return reports


def _without_times(report: Mapping[str, Any]) -> dict[str, Any]:
    results = [{k: v for k, v in r.items() if k != "timestamp"} for r in report.get("results") or []]
    return {"scope": report.get("scope"), "results": results, "summary": report.get("summary")}


def same_report(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether a stored report says what the desired one says: only the results' timestamps may differ (a
    new timestamp alone is no reason to write)."""
    meta, wanted = current.get("metadata") or {}, desired.get("metadata") or {}
    return (
        _without_times(current) == _without_times(desired)
        and (meta.get("labels") or {}) == (wanted.get("labels") or {})
        and (meta.get("ownerReferences") or []) == (wanted.get("ownerReferences") or [])
    )


def endpoint_reports(endpoints: Iterable[EndpointState], api: ReportAPI, seconds: int) -> dict[str, dict[str, Any]]:
    """One cluster report per AzureEndpoint, scoped to it and owned by it: `pass` when it is Ready (its host
    agrees with its type and cloud), `fail` with the reason it is not."""
    kind = api.cluster
    reports: dict[str, dict[str, Any]] = {}
    for state in endpoints:
        meta = state.endpoint.metadata
        rule = APPROVED_ENDPOINT
        message = rule.passed if state.ready else f"[{state.reason}] {state.message}"
        properties = {"type": str(state.endpoint.spec.type), "cloud": str(state.endpoint.spec.cloud)}
        if state.display_host:
            properties["host"] = state.display_host
        result = {
            "source": SOURCE,
            "policy": POLICY,
            "rule": rule.name,
            "category": rule.category,
            "severity": str(rule.severity),
            "result": "pass" if state.ready else "fail",
            "scored": True,
            "message": redact_text(message)[:MAX_MESSAGE],
            "timestamp": {"seconds": seconds, "nanos": 0},
            "properties": properties,
        }
        scope = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AzureEndpoint", "name": meta.name}
        metadata: dict[str, Any] = {"name": report_name("AzureEndpoint", meta.name), "labels": dict(MANAGED_BY)}
        if meta.uid:
            scope["uid"] = meta.uid
            metadata["ownerReferences"] = [{**{k: scope[k] for k in ("apiVersion", "kind", "name")}, "uid": meta.uid}]
        body: dict[str, Any] = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata}
        if api.report_source:
            body["source"] = SOURCE
        body.update({"scope": scope, "results": [result], "summary": summary([result])})
        reports[metadata["name"]] = body
    return reports

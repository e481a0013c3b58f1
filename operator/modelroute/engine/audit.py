"""The background audit: existing pods judged as they are and counted per ModelWorkload (engine.reports
writes them as policy reports). Pure: the reconciler does the I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelroute.engine.context import PolicyContext
from modelroute.engine.evaluate import evaluate
from modelroute.engine.judgements import Judgements, content_key
from modelroute.engine.podspec import NotAPodError
from modelroute.engine.verdict import Decision, Outcome

_JUDGED = frozenset(
    {Outcome.COMPLIANT, Outcome.REWRITTEN, Outcome.WARNED, Outcome.AUDITED, Outcome.DENIED, Outcome.UNMANAGED}
)


@dataclass(frozen=True, slots=True)
class PodFinding:
    pod: Mapping[str, Any]
    namespace: str
    decision: Decision

    @property
    def compliant(self) -> bool:
        return not self.decision.violations


@dataclass
class AuditResult:
    findings: list[PodFinding] = field(default_factory=list)
    matched: Counter[tuple[str, str]] = field(default_factory=Counter)  # (namespace, workload)
    violating: Counter[tuple[str, str]] = field(default_factory=Counter)

    def pod_counts(self, namespace: str, workload: str) -> dict[str, int]:
        matched = self.matched[(namespace, workload)]
        violating = self.violating[(namespace, workload)]
        return {"matched": matched, "compliant": matched - violating, "violating": violating}

    @property
    def totals(self) -> dict[str, int]:
        compliant = sum(1 for f in self.findings if f.compliant)
        return {"compliant": compliant, "violating": len(self.findings) - compliant}


#: id(pod) -> (pod, context, decision): what an earlier audit decided about this very pod object
AuditMemo = dict[int, tuple[Mapping[str, Any], PolicyContext, Decision]]


def audit(
    pods: Iterable[Mapping[str, Any]],
    context: PolicyContext,
    *,
    as_admitted: bool = False,
    memo: AuditMemo | None = None,
    judgements: Judgements | None = None,
) -> AuditResult:
    """Judge pods as they are (running pods), or as they would be admitted (manifests not yet applied).

    With a memo, a pod object judged before against the same context is not judged again: a reconciler
    that re-audits often pays only for the pods that changed; with judgements, a pod the validating webhook
    judged as it is stored is not judged again either."""
    result = AuditResult()
    seen: AuditMemo = {}
    # the replicas of one template are judged once per pass: a ConfigMap they all read changing, or a new
    # context, would otherwise judge every replica again
    by_content: dict[bytes, Decision] = {}
    for pod in pods:
        metadata = pod.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "default")
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        known = memo.get(id(pod)) if memo is not None else None
        if known is not None and known[0] is pod and known[1] is context:
            decision = known[2]
        else:
            key = content_key(namespace, pod)
            found = by_content.get(key)
            if found is None and judgements is not None and not as_admitted:
                found = judgements.get(context, key)
            try:
                decision = evaluate(pod, context, mutate=as_admitted) if found is None else found
            except NotAPodError:
                continue
            by_content[key] = decision
        seen[id(pod)] = (pod, context, decision)
        if decision.outcome not in _JUDGED and not decision.workload:
            continue
        finding = PodFinding(pod, namespace, decision)
        result.findings.append(finding)
        if decision.workload:
            result.matched[(namespace, decision.workload)] += 1
            if not finding.compliant:
                result.violating[(namespace, decision.workload)] += 1
    if memo is not None:
        memo.clear()
        memo.update(seen)
    return result

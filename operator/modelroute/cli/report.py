"""`modelroute report`: the inventory of model-backed workloads, for auditors and data-flow records.

From a cluster, the pods that run are counted as they are (the operator's audit). From manifests
(`--from`), each Pod and pod controller is judged as it would be admitted and counted as the pods its
controller would create (`pods_created`); what admission would refuse creates no pod and is counted as
refused instead. Every cell that came from the input is made safe for where it goes: control characters
escaped in every format, and CSV cells that a spreadsheet would run as a formula neutralised.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, TextIO

from modelroute.api.kinds import POD
from modelroute.api.v1alpha1 import ModelWorkload
from modelroute.cli.manifests import EXIT_DENIED, EXIT_OK, Document, InputError
from modelroute.cli.text import printable
from modelroute.engine import (
    NotAPodError,
    Outcome,
    PolicyContext,
    audit_pods,
    judge_object,
    pod_shape,
    pods_created,
    workload_problems,
)

COLUMNS = (
    "namespace",
    "workload",
    "pods",
    "refused",
    "channel",
    "endpoint",
    "endpoint_host",
    "api_mode",
    "compliance",
    "reference",
    "cost_center",
)
HEADERS = (
    "NAMESPACE",
    "WORKLOAD",
    "PODS",
    "REFUSED",
    "CHANNEL",
    "ENDPOINT",
    "HOST",
    "API MODE",
    "COMPLIANCE",
    "REFERENCE",
    "COST CENTER",
)
UNDECLARED_WORKLOAD = "(no ModelWorkload)"
UNDECLARED_CHANNEL = "undeclared"
COMPLIANT = "compliant"
#: Shown in a table or Markdown cell for a value that is absent (null in JSON, an empty cell in CSV).
ABSENT = "-"
#: Outcomes of pods with OpenAI traffic; the others (not applicable, excluded, ungoverned) are not model-backed.
_MODEL_BACKED = frozenset(
    {Outcome.COMPLIANT, Outcome.REWRITTEN, Outcome.WARNED, Outcome.AUDITED, Outcome.DENIED, Outcome.UNMANAGED}
)


class FailOn(StrEnum):
    """What makes `report --fail-on` exit 1."""

    UNDECLARED = "undeclared"  # OpenAI traffic that no ModelWorkload declares
    VIOLATING = "violating"  # a workload with violating or refused pods, or one that cannot be satisfied


@dataclass(frozen=True, slots=True)
class Row:
    namespace: str
    workload: str
    pods: int
    channel: str
    endpoint: str | None
    endpoint_host: str | None
    api_mode: str | None
    compliance: str
    reference: str | None
    cost_center: str | None
    refused: int = 0

    @property
    def undeclared(self) -> bool:
        return self.channel == UNDECLARED_CHANNEL

    @property
    def compliant(self) -> bool:
        return self.compliance == COMPLIANT


def pods(count: int) -> str:
    return f"{count} pod" if count == 1 else f"{count} pods"


@dataclass
class Tally:
    """Pods per (namespace, workload); workload "" holds the pods with OpenAI traffic that no ModelWorkload covers."""

    matched: Counter[tuple[str, str]] = field(default_factory=Counter)
    violating: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, key: tuple[str, str], count: int, *, allowed: bool, violating: bool) -> None:
        if not allowed:
            self.refused[key] += count
            return
        self.matched[key] += count
        if violating:
            self.violating[key] += count


def _running(objects: Iterable[Mapping[str, Any]], context: PolicyContext) -> Tally:
    """A cluster's pods, judged as they run (admitted already: nothing is refused)."""
    tally = Tally()
    for finding in audit_pods(objects, context).findings:
        key = (finding.namespace, finding.decision.workload or "")
        tally.add(key, 1, allowed=True, violating=not finding.compliant)
    return tally


def _admitted(objects: Iterable[Mapping[str, Any]], context: PolicyContext) -> Tally:
    """Manifests, judged as they would be admitted and counted as the pods their controllers would create."""
    tally = Tally()
    for obj in objects:
        decision = judge_object(obj, context)
        if decision.outcome not in _MODEL_BACKED and not decision.workload:
            continue
        namespace = str((obj.get("metadata") or {}).get("namespace") or "default")
        key = (namespace, decision.workload or "")
        tally.add(key, pods_created(obj), allowed=decision.allowed, violating=bool(decision.violations))
    return tally


def _compliance(tally: Tally, key: tuple[str, str], problems: list[str]) -> str:
    if problems:
        return f"not ready: {problems[0]}"
    matched, violating, refused = tally.matched[key], tally.violating[key], tally.refused[key]
    parts = []
    if violating:
        parts.append(f"{violating}/{pods(matched)} violating")
    if refused:
        parts.append(f"{pods(refused)} refused at admission")
    return ", ".join(parts) or COMPLIANT


def inventory(
    workloads: Iterable[ModelWorkload],
    context: PolicyContext,
    objects: Iterable[Mapping[str, Any]],
    *,
    as_admitted: bool = False,
) -> list[Row]:
    """One row per ModelWorkload, then one per namespace with OpenAI traffic that none declares. `objects`
    are a cluster's pods (judged as they run), or with `as_admitted` the Pods and pod controllers of
    manifests (judged as they would be admitted, counted as the pods they would create)."""
    tally = _admitted(objects, context) if as_admitted else _running(objects, context)
    rows = []
    for workload in sorted(workloads, key=lambda w: (w.metadata.namespace or "", w.metadata.name)):
        spec, namespace = workload.spec, workload.metadata.namespace or "default"
        endpoint = context.endpoints.get(spec.endpoint_ref.name) if spec.endpoint_ref else None
        key = (namespace, workload.metadata.name)
        problems = [str(p.code) for p in workload_problems(workload, endpoint, context, namespace)]
        rows.append(
            Row(
                namespace=namespace,
                workload=workload.metadata.name,
                pods=tally.matched[key],
                refused=tally.refused[key],
                channel=str(spec.procurement.channel),
                endpoint=spec.endpoint_ref.name if spec.endpoint_ref else None,
                endpoint_host=endpoint.display_host if endpoint else None,
                api_mode=str(spec.api_mode),
                compliance=_compliance(tally, key, problems),
                reference=spec.procurement.reference,
                cost_center=spec.procurement.cost_center,
            )
        )
    undeclared = sorted({ns for ns, name in (*tally.matched, *tally.refused) if not name})
    for namespace in undeclared:
        key = (namespace, "")
        admitted, refused = tally.matched[key], tally.refused[key]
        what = f"{pods(admitted)} with undeclared OpenAI traffic"
        if refused:
            what = f"undeclared OpenAI traffic: {pods(admitted)} admitted, {pods(refused)} refused at admission"
        rows.append(
            Row(
                namespace=namespace,
                workload=UNDECLARED_WORKLOAD,
                pods=admitted,
                refused=refused,
                channel=UNDECLARED_CHANNEL,
                endpoint=None,
                endpoint_host=None,
                api_mode=None,
                compliance=what,
                reference=None,
                cost_center=None,
            )
        )
    return rows


def failing(rows: Iterable[Row], fail_on: Iterable[FailOn]) -> list[Row]:
    """The rows that make `--fail-on` exit 1."""
    wanted = {FailOn(f) for f in fail_on}
    return [
        r
        for r in rows
        if (FailOn.UNDECLARED in wanted and r.undeclared) or (FailOn.VIOLATING in wanted and not r.compliant)
    ]


# --- rendering: every cell safe for where it goes ------------------------------------------------------

#: What a spreadsheet reads as the start of a formula (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: control characters escaped, and a cell that would start a
    formula prefixed with a single quote (OWASP's CSV injection rule); absent values are empty."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return "'" + printable(text) if text.startswith(_FORMULA_STARTS) else printable(text)


def _text_cell(value: object) -> str:
    return ABSENT if value is None else printable(str(value))


def _markdown_cell(value: object) -> str:
    text = _text_cell(value)
    for char in ("\\", "|", "`", "<", ">", "*", "_", "[", "]"):
        text = text.replace(char, "\\" + char)
    return text


def render(rows: list[Row], output: str, out: TextIO) -> None:
    if output == "json":
        # json escapes control characters itself (and, with ensure_ascii, every non-ASCII one)
        json.dump({"workloads": [asdict(r) for r in rows]}, out, indent=2)
        out.write("\n")
        return
    if output == "csv":
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(COLUMNS)
        writer.writerows([csv_cell(getattr(r, c)) for c in COLUMNS] for r in rows)
        return
    if output == "markdown":
        out.write("| " + " | ".join(HEADERS) + " |\n|" + "---|" * len(HEADERS) + "\n")
        for r in rows:
            out.write("| " + " | ".join(_markdown_cell(getattr(r, c)) for c in COLUMNS) + " |\n")
        return
    cells = [[_text_cell(getattr(r, c)) for c in COLUMNS] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in cells)) if cells else len(h) for i, h in enumerate(HEADERS)]
    for line in [list(HEADERS), *cells]:
        out.write("   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n")


# --- the command ---------------------------------------------------------------------------------------


def _from_manifests(
    paths: list[str], operator_namespace: str | None
) -> tuple[list[ModelWorkload], PolicyContext, list[Mapping[str, Any]]]:
    from modelroute.cli.check import is_judged
    from modelroute.cli.manifests import build_context, read_documents

    documents = read_documents(paths)
    context = build_context(documents, "default", operator_namespace)
    workloads = [c.workload for ws in context.workloads.values() for c in ws]
    judged: list[Document] = [d for d in documents if is_judged(d)]
    for doc in judged:  # a count or a template the engine cannot read is bad input, named
        try:
            pod_shape(doc.obj)
            pods_created(doc.obj)
        except NotAPodError as error:
            raise InputError(f"{doc.where}: {doc.kind} {doc.name!r}: {error}") from error
    return workloads, context, [d.obj for d in judged]


def _from_cluster(
    kubeconfig: str | None, context_name: str | None, operator_namespace: str | None
) -> tuple[list[ModelWorkload], PolicyContext, list[Mapping[str, Any]]]:
    from modelroute.cli.live import ClusterReader
    from modelroute.cluster import WATCHED, ClusterState

    reader = ClusterReader(kubeconfig, context_name, offline_hint=", or report on manifests with --from PATH")
    state = ClusterState(operator_namespace=operator_namespace)
    for plural in WATCHED:
        state.replace_all(plural, reader.list_all(plural))
    return state.parsed(ModelWorkload.PLURAL), state.context(), list(state.raw[POD.plural].values())


def run_report(
    paths: list[str] | None,
    output: str,
    out: TextIO,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    operator_namespace: str | None = None,
    fail_on: Iterable[FailOn] = (),
) -> int:
    """Exit 0: the report is written; 1: a --fail-on condition holds (the report is written too)."""
    if paths:
        if kubeconfig or context:
            raise InputError("--kubeconfig and --context read a cluster; --from reads manifests: give one of them")
        workloads, policy, objects = _from_manifests(paths, operator_namespace)
    else:
        workloads, policy, objects = _from_cluster(kubeconfig, context, operator_namespace)
    rows = inventory(workloads, policy, objects, as_admitted=bool(paths))
    render(rows, output, out)
    return EXIT_DENIED if failing(rows, fail_on) else EXIT_OK

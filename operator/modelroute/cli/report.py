"""`modelroute report`: the inventory of model-backed workloads, for auditors and data-flow records."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from modelroute.api.v1alpha1 import ModelWorkload
from modelroute.engine.audit import AuditResult, audit
from modelroute.engine.context import PolicyContext
from modelroute.engine.evaluate import workload_problems

COLUMNS = (
    "namespace",
    "workload",
    "pods",
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
    "CHANNEL",
    "ENDPOINT",
    "HOST",
    "API MODE",
    "COMPLIANCE",
    "REFERENCE",
    "COST CENTER",
)


@dataclass(frozen=True, slots=True)
class Row:
    namespace: str
    workload: str
    pods: int
    channel: str
    endpoint: str
    endpoint_host: str
    api_mode: str
    compliance: str
    reference: str
    cost_center: str


def _compliance(violating: int, matched: int, problems: list[str]) -> str:
    if problems:
        return f"not ready: {problems[0]}"
    if violating:
        return f"{violating}/{matched} pods violating"
    return "compliant"


def inventory(
    workloads: Iterable[ModelWorkload],
    context: PolicyContext,
    pods: Iterable[Mapping[str, Any]],
    *,
    as_admitted: bool = False,
) -> list[Row]:
    result: AuditResult = audit(pods, context, as_admitted=as_admitted)
    rows = []
    for workload in sorted(workloads, key=lambda w: (w.metadata.namespace or "", w.metadata.name)):
        spec, namespace = workload.spec, workload.metadata.namespace or "default"
        endpoint = context.endpoints.get(spec.endpoint_ref.name) if spec.endpoint_ref else None
        counts = result.pod_counts(namespace, workload.metadata.name)
        problems = [str(p.code) for p in workload_problems(workload, endpoint, context, namespace)]
        rows.append(
            Row(
                namespace=namespace,
                workload=workload.metadata.name,
                pods=counts["matched"],
                channel=str(spec.procurement.channel),
                endpoint=spec.endpoint_ref.name if spec.endpoint_ref else "-",
                endpoint_host=(endpoint.display_host or "-") if endpoint else "-",
                api_mode=str(spec.api_mode),
                compliance=_compliance(counts["violating"], counts["matched"], problems),
                reference=spec.procurement.reference or "",
                cost_center=spec.procurement.cost_center or "",
            )
        )
    unmanaged: dict[str, int] = {}
    for finding in result.findings:
        if finding.decision.workload is None:
            unmanaged[finding.namespace] = unmanaged.get(finding.namespace, 0) + 1
    for namespace, count in sorted(unmanaged.items()):
        rows.append(
            Row(
                namespace,
                "(no ModelWorkload)",
                count,
                "undeclared",
                "-",
                "-",
                "-",
                f"{count} pods with undeclared OpenAI traffic",
                "",
                "",
            )
        )
    return rows


def render(rows: list[Row], output: str, out: TextIO) -> None:
    if output == "json":
        json.dump({"workloads": [asdict(r) for r in rows]}, out, indent=2)
        out.write("\n")
        return
    if output == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([getattr(r, c) for c in COLUMNS] for r in rows)
        return
    cells = [[str(getattr(r, c)) for c in COLUMNS] for r in rows]
    if output == "markdown":
        out.write("| " + " | ".join(HEADERS) + " |\n|" + "---|" * len(HEADERS) + "\n")
        for line in cells:
            out.write("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |\n")
        return
    widths = [max(len(h), *(len(line[i]) for line in cells)) if cells else len(h) for i, h in enumerate(HEADERS)]
    buffer = io.StringIO()
    for line in [list(HEADERS), *cells]:
        buffer.write("   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n")
    out.write(buffer.getvalue())

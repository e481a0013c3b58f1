"""`modelroute check` and `modelroute mutate`: the webhook's engine, run over files."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

import jsonpatch
import yaml

from modelroute.cli.manifests import Document, build_context, is_policy_object, read_documents
from modelroute.engine.context import PolicyContext
from modelroute.engine.evaluate import evaluate
from modelroute.engine.podspec import POD_TEMPLATE_PATHS
from modelroute.engine.verdict import Decision, Outcome

EXIT_OK, EXIT_DENIED, EXIT_BAD_INPUT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Judged:
    doc: Document
    namespace: str
    decision: Decision

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {
            "kind": self.doc.kind,
            "namespace": self.namespace,
            "name": self.doc.name,
            "source": self.doc.source,
            "document": self.doc.index,
            "allowed": d.allowed,
            "decision": str(d.outcome),
            "enforcement": str(d.enforcement) if d.enforcement else None,
            "workload": d.workload,
            "endpoint": d.endpoint,
            "violations": [v.to_json() for v in d.violations],
            "warnings": list(d.warnings),
            "annotations": d.annotations,
            "patch": d.patch,
        }


def judge_documents(documents: list[Document], context: PolicyContext, default_namespace: str) -> list[Judged]:
    results = []
    for doc in documents:
        if doc.kind not in POD_TEMPLATE_PATHS or is_policy_object(doc):
            continue
        from modelroute.engine.podspec import NotAPodError

        try:
            decision = evaluate(doc.obj, context, default_namespace)
        except NotAPodError as error:
            from modelroute.cli.manifests import InputError

            raise InputError(f"{doc.where}: {doc.kind} {doc.name!r}: {error}") from error
        results.append(Judged(doc, doc.namespace(default_namespace), decision))
    return results


def summary(results: Iterable[Judged], ignored: int) -> dict[str, int]:
    items = list(results)
    return {
        "judged": len(items),
        "allowed": sum(r.decision.allowed for r in items),
        "denied": sum(not r.decision.allowed for r in items),
        "warned": sum(r.decision.outcome is Outcome.WARNED for r in items),
        "audited": sum(r.decision.outcome is Outcome.AUDITED for r in items),
        "rewritten": sum(r.decision.outcome is Outcome.REWRITTEN for r in items),
        "ignored": ignored,
    }


_LABEL = {True: "ALLOW", False: "DENY "}


def _describe(j: Judged) -> str:
    d = j.decision
    head = f"{_LABEL[d.allowed]} {j.doc.kind} {j.namespace}/{j.doc.name}  {d.outcome}"
    if d.enforcement is not None and d.violations:
        head += f" [{d.enforcement}]"
    annotations = d.annotations
    if d.workload:
        channel = annotations.get("modelroute.io/procurement-channel", "?")
        route = d.endpoint or "no endpoint"
        host = annotations.get("modelroute.io/endpoint-host")
        head += f"  workload={d.workload} channel={channel} endpoint={route}" + (f" ({host})" if host else "")
    head += f"  ({j.doc.where})"
    return head


def render_text(results: list[Judged], counts: dict[str, int], out: TextIO) -> None:
    for j in results:
        out.write(_describe(j) + "\n")
        marker = "x" if not j.decision.allowed else "~"
        echoed = set()
        for v in j.decision.violations:
            where = f" at {v.field}" if v.field else ""
            out.write(f"    {marker} {v.code}{where}: {v.message}\n")
            echoed.add(f"[{v.code}] {v.message}")
        for w in j.decision.warnings:
            if w not in echoed:
                out.write(f"    ! {w}\n")
    out.write(
        f"\n{counts['judged']} judged: {counts['allowed']} allowed, {counts['denied']} denied"
        f" ({counts['warned']} warned, {counts['audited']} audited, {counts['rewritten']} rewritten,"
        f" {counts['ignored']} other objects not judged)\n"
    )


def run_check(
    paths: list[str], output: str, default_namespace: str, operator_namespace: str | None, out: TextIO
) -> int:
    documents = read_documents(paths)
    context = build_context(documents, default_namespace, operator_namespace)
    results = judge_documents(documents, context, default_namespace)
    ignored = sum(
        1
        for d in documents
        if d.kind not in POD_TEMPLATE_PATHS and not is_policy_object(d) and d.kind not in ("ConfigMap", "Namespace")
    )
    counts = summary(results, ignored)
    if output == "json":
        json.dump({"results": [r.to_json() for r in results], "summary": counts}, out, indent=2)
        out.write("\n")
    else:
        render_text(results, counts, out)
    return EXIT_DENIED if counts["denied"] else EXIT_OK


def run_mutate(paths: list[str], default_namespace: str, operator_namespace: str | None, out: TextIO) -> int:
    documents = read_documents(paths)
    context = build_context(documents, default_namespace, operator_namespace)
    patches = {id(j.doc): j.decision.patch for j in judge_documents(documents, context, default_namespace)}
    rendered = []
    for doc in documents:
        obj = doc.obj
        patch = patches.get(id(doc))
        if patch:
            obj = jsonpatch.apply_patch(copy.deepcopy(obj), patch)
        rendered.append(obj)
    yaml.safe_dump_all(rendered, out, sort_keys=False)
    return EXIT_OK

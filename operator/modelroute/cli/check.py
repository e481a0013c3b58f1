"""`modelroute check` and `modelroute mutate`: the webhook's engine, run over files.

Two passes over the input, so memory stays flat in the number of documents: the first reads the
policy context (AzureEndpoints, ModelWorkloads, RoutePolicies, ConfigMaps, Namespaces) and
validates every other document, the second judges pods and pod controllers and writes each
result as it goes. A document whose text cannot hold a kind a pass wants is not parsed in it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import jsonpatch
import orjson
import yaml

from modelroute.cli.manifests import (
    EXIT_DENIED,
    EXIT_OK,
    Document,
    InputError,
    Source,
    build_context,
    chunks,
    is_context_object,
    iter_documents,
    might_be_context,
    might_hold,
    objects,
    open_sources,
    parse,
)
from modelroute.cli.text import printable
from modelroute.engine.context import PolicyContext
from modelroute.engine.evaluate import evaluate
from modelroute.engine.podspec import POD_TEMPLATE_PATHS
from modelroute.engine.verdict import Decision, Outcome

_JUDGED_KINDS = tuple(POD_TEMPLATE_PATHS)
_might_be_judged = might_hold(_JUDGED_KINDS)


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


def is_judged(doc: Document) -> bool:
    return doc.kind in POD_TEMPLATE_PATHS and not is_context_object(doc)


def judge(doc: Document, context: PolicyContext, default_namespace: str) -> Judged:
    """The engine's decision on one pod or controller; anything it cannot judge is bad input, named."""
    try:
        decision = evaluate(doc.obj, context, default_namespace)
    except Exception as error:  # a malformed object must end as exit 2 naming it, never as a traceback
        raise InputError(f"{doc.where}: {doc.kind} {doc.name!r} cannot be judged: {error}") from error
    return Judged(doc, doc.namespace(default_namespace), decision)


def judge_documents(documents: list[Document], context: PolicyContext, default_namespace: str) -> list[Judged]:
    return [judge(doc, context, default_namespace) for doc in documents if is_judged(doc)]


def _read_context(
    sources: list[Source], default_namespace: str, operator_namespace: str | None
) -> tuple[PolicyContext, int]:
    """First pass: the policy context, plus a count of the objects neither judged nor context.

    Every document is parsed in one of the two passes: here all but those that may hold a pod or a
    controller (and those too when they may also hold context)."""
    ignored = 0
    found: list[Document] = []

    def wanted(text: str) -> bool:
        return might_be_context(text) or not _might_be_judged(text)

    for doc in iter_documents(sources, wanted):
        if is_context_object(doc):
            found.append(doc)
        elif doc.kind not in POD_TEMPLATE_PATHS:
            ignored += 1
    return build_context(found, default_namespace, operator_namespace), ignored


def _judged_stream(
    sources: list[Source], context: PolicyContext, default_namespace: str, ignored: list[int]
) -> Iterator[Judged]:
    """Second pass: judge what the first pass skipped; count the other objects of documents it did not read."""
    for source in sources:
        for chunk in chunks(source):
            if not _might_be_judged(chunk.text):
                continue
            read_before = might_be_context(chunk.text)
            for doc in objects(source, chunk, parse(source, chunk)):
                if is_judged(doc):
                    yield judge(doc, context, default_namespace)
                elif not read_before and not is_context_object(doc):
                    ignored[0] += 1


class Counts:
    __slots__ = ("allowed", "audited", "denied", "ignored", "judged", "rewritten", "warned")

    def __init__(self, ignored: int) -> None:
        self.judged = self.allowed = self.denied = self.warned = self.audited = self.rewritten = 0
        self.ignored = ignored

    def add(self, decision: Decision) -> None:
        self.judged += 1
        self.allowed += decision.allowed
        self.denied += not decision.allowed
        self.warned += decision.outcome is Outcome.WARNED
        self.audited += decision.outcome is Outcome.AUDITED
        self.rewritten += decision.outcome is Outcome.REWRITTEN

    def to_json(self) -> dict[str, int]:
        return {
            name: getattr(self, name)
            for name in ("judged", "allowed", "denied", "warned", "audited", "rewritten", "ignored")
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


def render_one(j: Judged, out: TextIO) -> None:
    """One result as text; every piece that came from the input is escaped (no control characters)."""
    lines = [_describe(j)]
    marker = "x" if not j.decision.allowed else "~"
    echoed = set()
    for v in j.decision.violations:
        where = f" at {v.field}" if v.field else ""
        lines.append(f"    {marker} {v.code}{where}: {v.message}")
        echoed.add(f"[{v.code}] {v.message}")
    lines.extend(f"    ! {w}" for w in j.decision.warnings if w not in echoed)
    out.write("".join(printable(line) + "\n" for line in lines))


def render_summary(counts: Counts, out: TextIO) -> None:
    out.write(
        f"\n{counts.judged} judged: {counts.allowed} allowed, {counts.denied} denied"
        f" ({counts.warned} warned, {counts.audited} audited, {counts.rewritten} rewritten,"
        f" {counts.ignored} other objects not judged)\n"
    )


def run_check(
    paths: list[str], output: str, default_namespace: str, operator_namespace: str | None, out: TextIO
) -> int:
    with open_sources(paths) as sources:
        context, ignored = _read_context(sources, default_namespace, operator_namespace)
        extra = [0]
        counts = Counts(ignored)
        if output == "json":
            out.write('{"results": [')
            separator = "\n"
            for judged in _judged_stream(sources, context, default_namespace, extra):
                counts.add(judged.decision)
                out.write(separator + orjson.dumps(judged.to_json(), option=orjson.OPT_INDENT_2).decode())
                separator = ",\n"
            counts.ignored += extra[0]
            out.write('\n], "summary": ' + orjson.dumps(counts.to_json()).decode() + "}\n")
        else:
            for judged in _judged_stream(sources, context, default_namespace, extra):
                counts.add(judged.decision)
                render_one(judged, out)
            counts.ignored += extra[0]
            render_summary(counts, out)
    return EXIT_DENIED if counts.denied else EXIT_OK


def run_mutate(paths: list[str], default_namespace: str, operator_namespace: str | None, out: TextIO) -> int:
    with open_sources(paths) as sources:
        context, _ = _read_context(sources, default_namespace, operator_namespace)
        for position, doc in enumerate(iter_documents(sources)):
            obj = doc.obj
            if is_judged(doc):
                patch = judge(doc, context, default_namespace).decision.patch
                if patch:
                    obj = jsonpatch.apply_patch(copy.deepcopy(obj), patch)
            yaml.safe_dump(obj, out, sort_keys=False, explicit_start=position > 0)
    return EXIT_OK

"""`modelroute check` and `modelroute mutate`: the webhook's engine, run over files.

Two passes over the input, so memory stays flat in the number of documents: the first reads the
policy context (AzureEndpoints, ModelWorkloads, RoutePolicies, ConfigMaps, Namespaces) and
validates every other document, the second judges pods and pod controllers and writes each
result as it goes. A document whose text cannot hold a kind a pass wants is not parsed in it.
"""

from __future__ import annotations

import copy
import io
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import jsonpatch
import orjson
import yaml

from modelroute.api import annotations as ann
from modelroute.cli.live import ClusterContext
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
from modelroute.engine.redaction import redact_text, redact_values
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
            "violations": [v.to_json() | {"message": redact_text(v.message)} for v in d.violations],
            "warnings": [redact_text(w) for w in d.warnings],
            "annotations": d.annotations,
            "patch": redact_values(d.patch),  # for display: `modelroute mutate` applies the real one
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
    sources: list[Source],
    default_namespace: str,
    operator_namespace: str | None,
    cluster: ClusterContext | None = None,
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
    if cluster is not None:  # the cluster's context under the input's; a third pass finds the ConfigMaps read
        judged = (doc for doc in iter_documents(sources, _might_be_judged) if is_judged(doc))
        found = cluster.documents(found, judged, default_namespace)
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

    def add(self, allowed: bool, outcome: str) -> None:
        self.judged += 1
        self.allowed += allowed
        self.denied += not allowed
        self.warned += outcome == Outcome.WARNED
        self.audited += outcome == Outcome.AUDITED
        self.rewritten += outcome == Outcome.REWRITTEN

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
        channel = annotations.get(ann.PROCUREMENT_CHANNEL, "?")
        route = d.endpoint or "no endpoint"
        host = annotations.get(ann.ENDPOINT_HOST)
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
    out.write("".join(printable(redact_text(line)) + "\n" for line in lines))


def render_summary(counts: Counts, out: TextIO) -> None:
    out.write(
        f"\n{counts.judged} judged: {counts.allowed} allowed, {counts.denied} denied"
        f" ({counts.warned} warned, {counts.audited} audited, {counts.rewritten} rewritten,"
        f" {counts.ignored} other objects not judged)\n"
    )


@dataclass(frozen=True, slots=True)
class _Job:
    context: PolicyContext
    default_namespace: str
    output: str


_JOB: _Job | None = None  # what forked workers inherit


def _render(judged: Judged, output: str) -> str:
    if output == "json":
        return orjson.dumps(judged.to_json(), option=orjson.OPT_INDENT_2).decode()
    buffer = io.StringIO()
    render_one(judged, buffer)
    return buffer.getvalue()


Rendered = tuple[str, bool, str]  # a result as output, whether it is allowed, its outcome


def _stream_source(source: Source, ignored: list[int]) -> Iterator[Rendered]:
    job = _JOB
    assert job is not None
    for judged in _judged_stream([source], job.context, job.default_namespace, ignored):
        yield _render(judged, job.output), judged.decision.allowed, str(judged.decision.outcome)


def _judge_source(source: Source) -> tuple[list[Rendered], int]:
    """One source judged in a worker: its results, and how many other objects it holds."""
    ignored = [0]
    return list(_stream_source(source, ignored)), ignored[0]


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _results(sources: list[Source], jobs: int, ignored: list[int]) -> Iterator[Rendered]:
    """Every result, in input order. One worker streams (memory flat in the number of documents);
    several judge one file at a time each, so memory follows the largest file."""
    workers = min(jobs, len(sources))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for source in sources:
            yield from _stream_source(source, ignored)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for rendered, other in pool.imap(_judge_source, sources):
            ignored[0] += other
            yield from rendered


def run_check(
    paths: list[str],
    output: str,
    default_namespace: str,
    operator_namespace: str | None,
    out: TextIO,
    jobs: int = 1,
    cluster: ClusterContext | None = None,
) -> int:
    global _JOB
    with open_sources(paths) as sources:
        context, ignored = _read_context(sources, default_namespace, operator_namespace, cluster)
        counts = Counts(ignored)
        _JOB = _Job(context, default_namespace, output)
        try:
            separator = "\n"
            if output == "json":
                out.write('{"results": [')
            ignored_here = [0]
            for rendered, allowed, outcome in _results(sources, jobs, ignored_here):
                counts.add(allowed, outcome)
                if output == "json":
                    out.write(separator + rendered)
                    separator = ",\n"
                else:
                    out.write(rendered)
            counts.ignored += ignored_here[0]
        finally:
            _JOB = None
        if output == "json":
            out.write('\n], "summary": ' + orjson.dumps(counts.to_json()).decode() + "}\n")
        else:
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

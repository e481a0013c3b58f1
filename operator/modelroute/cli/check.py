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
from modelroute.cli import formats
from modelroute.cli.kubefields import unknown_field
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
from modelroute.cli.positions import parse_field, render_field
from modelroute.cli.text import printable
from modelroute.engine import (
    POD_TEMPLATE_PATHS,
    Decision,
    Outcome,
    PolicyContext,
    judge_object,
    redact_text,
    redact_values,
)

_JUDGED_KINDS = tuple(POD_TEMPLATE_PATHS)
_might_be_judged = might_hold(_JUDGED_KINDS)


#: The version of the shape of `-o json` and `-o yaml`: raised when a field changes meaning or goes;
#: new fields may appear in any release.
SCHEMA_VERSION = 1
OUTPUTS = ("text", "json", "yaml", "sarif", "junit")
FAIL_ON = ("deny", "warn")


@dataclass(frozen=True, slots=True)
class Judged:
    doc: Document
    namespace: str
    decision: Decision
    line: int  # where the object starts (0: not known)
    violation_lines: tuple[int, ...]  # where each violation's field is, in the order of the violations

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {
            "kind": self.doc.kind,
            "namespace": self.namespace,
            "name": self.doc.name,
            "source": self.doc.source,
            "document": self.doc.index,
            "line": self.line,
            "allowed": d.allowed,
            "decision": str(d.outcome),
            "enforcement": str(d.enforcement) if d.enforcement else None,
            "workload": d.workload,
            "endpoint": d.endpoint,
            "violations": [
                v.to_json() | {"message": redact_text(v.message), "line": line}
                for v, line in zip(d.violations, self.violation_lines, strict=True)
            ],
            "warnings": [redact_text(w) for w in d.warnings],
            "annotations": d.annotations,
            "patch": redact_values(d.patch),  # for display: `modelroute mutate` applies the real one
        }


def is_judged(doc: Document) -> bool:
    return doc.kind in POD_TEMPLATE_PATHS and not is_context_object(doc)


def refuse_unknown_fields(doc: Document) -> None:
    """Exit 2 for a field the kind's schema does not have, as the API server's strict validation refuses it."""
    path = unknown_field(doc.obj)
    if path is not None:
        line = doc.line(steps=path)
        raise InputError(
            f"{doc.where}{f', line {line}' if line else ''}: {doc.kind} {doc.name!r}: unknown field "
            f"{render_field(path)!r} (the API server's strict field validation refuses it)"
        )


def judge(doc: Document, context: PolicyContext, default_namespace: str) -> Judged:
    """The engine's decision on one pod or controller; anything it cannot judge is bad input, named."""
    refuse_unknown_fields(doc)
    try:
        decision = judge_object(doc.obj, context, default_namespace)
    except Exception as error:  # a malformed object must end as exit 2 naming it, never as a traceback
        raise InputError(f"{doc.where}: {doc.kind} {doc.name!r} cannot be judged: {error}") from error
    line = doc.line()
    lines: tuple[int, ...] = ()
    if decision.violations:  # positions cost a second read of the document: only where a line is shown
        positions = doc.positions()
        lines = tuple(doc.line(positions, parse_field(v.field)) if v.field else line for v in decision.violations)
    return Judged(doc, doc.namespace(default_namespace), decision, line, lines)


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
    return head


def render_one(j: Judged, out: TextIO) -> None:
    """One result as text; every piece that came from the input is escaped (no control characters).
    Messages are redacted before positions are added to them: the redaction cache holds messages,
    which repeat across pods, not lines, which do not."""
    at = f", line {j.line}" if j.line else ""
    lines = [printable(redact_text(_describe(j))) + printable(f"  ({j.doc.where}{at})")]
    marker = "x" if not j.decision.allowed else "~"
    echoed = set()
    for v, line in zip(j.decision.violations, j.violation_lines, strict=True):
        where = (f" at {v.field}" if v.field else "") + (f" (line {line})" if line else "")
        lines.append(printable(f"    {marker} {v.code}{where}: ") + printable(redact_text(v.message)))
        echoed.add(f"[{v.code}] {v.message}")
    lines.extend(printable(redact_text(f"    ! {w}")) for w in j.decision.warnings if w not in echoed)
    out.write("".join(line + "\n" for line in lines))


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

#: one result as the output format wants it: text, or the JSON object the collecting formats build from
Piece = str | dict[str, Any]


def _yaml_item(result: dict[str, Any]) -> str:
    return yaml.dump([result], Dumper=_Dumper, sort_keys=False, allow_unicode=True)


_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _render(judged: Judged, output: str) -> Piece:
    if output == "json":
        return orjson.dumps(judged.to_json(), option=orjson.OPT_INDENT_2).decode()
    if output == "yaml":
        return _yaml_item(judged.to_json())
    if output in ("sarif", "junit"):
        return judged.to_json()
    buffer = io.StringIO()
    render_one(judged, buffer)
    return buffer.getvalue()


Rendered = tuple[Piece, bool, str]  # a result as output, whether it is allowed, its outcome


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


class _Writer:
    """Writes the results in one format: the streaming ones (text, JSON, YAML) as they come."""

    def __init__(self, output: str, out: TextIO, fail_on: str) -> None:
        self.output, self.out, self.fail_on = output, out, fail_on
        self.collected: list[dict[str, Any]] = []
        self.count = 0

    def begin(self) -> None:
        if self.output == "json":
            self.out.write('{"schemaVersion": ' + str(SCHEMA_VERSION) + ', "results": [')
        elif self.output == "yaml":
            self.out.write(yaml.dump({"schemaVersion": SCHEMA_VERSION}, Dumper=_Dumper))

    def add(self, piece: Piece) -> None:
        if isinstance(piece, dict):
            self.collected.append(piece)
        elif self.output == "json":
            self.out.write((",\n" if self.count else "\n") + piece)
        elif self.output == "yaml":
            self.out.write(("" if self.count else "results:\n") + piece)
        else:
            self.out.write(piece)
        self.count += 1

    def end(self, counts: Counts) -> None:
        summary = counts.to_json()
        if self.output == "json":
            self.out.write("\n" + '], "summary": ' + orjson.dumps(summary).decode() + "}\n")
        elif self.output == "yaml":
            empty = "" if self.count else yaml.dump({"results": []}, Dumper=_Dumper)
            self.out.write(empty + yaml.dump({"summary": summary}, Dumper=_Dumper, sort_keys=False))
        elif self.output == "sarif":
            self.out.write(formats.sarif(self.collected))
        elif self.output == "junit":
            self.out.write(formats.junit(self.collected, self.fail_on))
        else:
            render_summary(counts, self.out)


def _nothing_judged(counts: Counts) -> InputError:
    return InputError(
        f"nothing judged: the input holds no Pods or pod controllers ({counts.ignored} other objects); "
        "check the paths, or pass --allow-empty when a run with nothing to judge is expected"
    )


def run_check(
    paths: list[str],
    output: str,
    default_namespace: str,
    operator_namespace: str | None,
    out: TextIO,
    jobs: int = 1,
    cluster: ClusterContext | None = None,
    *,
    fail_on: str = "deny",
    allow_empty: bool = False,
) -> int:
    global _JOB
    with open_sources(paths) as sources:
        context, ignored = _read_context(sources, default_namespace, operator_namespace, cluster)
        counts = Counts(ignored)
        writer = _Writer(output, out, fail_on)
        _JOB = _Job(context, default_namespace, output)
        try:
            writer.begin()
            ignored_here = [0]
            for piece, allowed, outcome in _results(sources, jobs, ignored_here):
                counts.add(allowed, outcome)
                writer.add(piece)
            counts.ignored += ignored_here[0]
        finally:
            _JOB = None
        writer.end(counts)
    if counts.judged == 0 and not allow_empty:
        raise _nothing_judged(counts)
    failing = counts.denied or (fail_on == "warn" and counts.warned)
    return EXIT_DENIED if failing else EXIT_OK


def run_mutate(
    paths: list[str],
    default_namespace: str,
    operator_namespace: str | None,
    out: TextIO,
    *,
    allow_empty: bool = False,
) -> int:
    judged = 0
    with open_sources(paths) as sources:
        context, _ = _read_context(sources, default_namespace, operator_namespace)
        for position, doc in enumerate(iter_documents(sources)):
            obj = doc.obj
            if is_judged(doc):
                judged += 1
                patch = judge(doc, context, default_namespace).decision.patch
                if patch:
                    obj = jsonpatch.apply_patch(copy.deepcopy(obj), patch)
            yaml.safe_dump(obj, out, sort_keys=False, explicit_start=position > 0)
    if judged == 0 and not allow_empty:
        raise InputError(
            "nothing to mutate: the input holds no Pods or pod controllers; check the paths, or pass "
            "--allow-empty when that is expected"
        )
    return EXIT_OK

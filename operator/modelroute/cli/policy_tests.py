"""`modelroute test`: declarative policy tests, in the shape of `kyverno test` and `gator verify`.

A test file holds one or more `Test` documents (`cli.modelroute.io/v1alpha1`). Each names the files of
its policy context and of the resources to judge, and the outcome it expects for each judged object:
the decision, optionally the violation codes, annotations and the environment the webhook injects.
The objects are judged exactly as `modelroute check` judges them (the same engine and reader), so a
passing test is a statement about what the webhook will do.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO

import jsonpatch
import orjson
from pydantic import Field, ValidationError

from modelroute.api.meta import CLI_GROUP, DEFAULT_OPERATOR_NAMESPACE, WireModel
from modelroute.cli.check import Judged, is_judged, judge
from modelroute.cli.manifests import (
    EXIT_DENIED,
    EXIT_OK,
    Document,
    InputError,
    Source,
    build_context,
    chunks,
    is_context_object,
    parse,
    read_documents,
)
from modelroute.cli.text import printable
from modelroute.engine import POD_TEMPLATE_PATHS, Code, Outcome, PolicyContext, judge_object

#: Test files are read by the command line only, never served by an API server: their own group, as
#: Kyverno's `cli.kyverno.io`, keeps them apart from the cluster kinds of `modelroute.io`.
TEST_API_VERSION = f"{CLI_GROUP}/v1alpha1"
TEST_KIND = "Test"
#: What `modelroute test DIR` looks for in a directory (recursively), as `kyverno test` looks for kyverno-test.yaml.
TEST_FILE_NAMES = ("modelroute-test.yaml", "modelroute-test.yml")

NonEmpty = Annotated[str, Field(min_length=1)]
#: An expected environment variable: its literal `value`, its `valueFrom` source, or null for "not set".
ExpectedEnv = str | dict[str, Any] | None


class PolicyTestMetadata(WireModel):
    name: NonEmpty


class ExpectedResult(WireModel):
    """What one judged object must get."""

    kind: NonEmpty
    name: NonEmpty
    namespace: str | None = None  # default: the Test's namespace
    decision: Outcome
    violations: list[Code] | None = None  # the exact set of codes; not checked when absent
    annotations: dict[str, str] | None = None  # each must be written with this value; others may be too
    injected: dict[str, dict[str, ExpectedEnv]] | None = None  # container -> variable -> expected


class PolicyTest(WireModel):
    """One test: a policy context, resources, and the expected result per object."""

    api_version: Literal["cli.modelroute.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Test"]
    metadata: PolicyTestMetadata
    context: list[NonEmpty] = Field(default_factory=list)
    resources: list[NonEmpty] = Field(min_length=1)
    namespace: NonEmpty = "default"
    operator_namespace: NonEmpty = DEFAULT_OPERATOR_NAMESPACE
    results: list[ExpectedResult] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class LoadedTest:
    test: PolicyTest
    file: Path
    document: int

    @property
    def where(self) -> str:
        return f"{self.file}: document {self.document}"


@dataclass(frozen=True, slots=True)
class Checked:
    """One expected result, compared with what the engine decided."""

    test: str
    where: str
    object: str
    expected: str
    got: str
    mismatches: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches


@dataclass
class Run:
    outcomes: list[Checked] = field(default_factory=list)
    unasserted: int = 0  # judged objects no result names

    @property
    def failed(self) -> int:
        return sum(not o.passed for o in self.outcomes)


#: What `modelroute test --help` says the command does.
TEST_DESCRIPTION = (
    "Judge the resources each Test names against its policy context and compare every object with its expected "
    "result (decision, violation codes, annotations, injected env). A directory is searched recursively for "
    f"{' and '.join(TEST_FILE_NAMES)}."
)


def add_test_arguments(parser: argparse.ArgumentParser) -> None:
    """The `test` subcommand's arguments."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a test file, or a directory holding them")
    parser.add_argument("-o", "--output", choices=("text", "json", "junit"), default="text", help="output format")


# --- reading test files -------------------------------------------------------------------------------


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _explain(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = _location(tuple(p for p in item["loc"] if not _is_union_branch(p)))
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(dict.fromkeys(parts))


def _is_union_branch(part: int | str) -> bool:
    return isinstance(part, str) and (part in ("str", "none") or part.startswith("dict["))


def find_test_files(path_text: str) -> list[Path]:
    path = Path(path_text)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(
            p
            for p in path.rglob("*")
            if p.name in TEST_FILE_NAMES and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not found:
            raise InputError(f"{path_text}: no {' or '.join(TEST_FILE_NAMES)} in this directory")
        return found
    raise InputError(f"{path_text}: no such file or directory")


def load(path: Path) -> Iterator[LoadedTest]:
    source = Source(str(path), path, is_json=path.suffix.lower() == ".json")
    for chunk in chunks(source):
        value = parse(source, chunk)
        if value is None:
            continue
        where = f"{path}: document {chunk.number}"
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a {TEST_KIND} (a mapping)")
        if value.get("apiVersion") != TEST_API_VERSION or value.get("kind") != TEST_KIND:
            found = f"{value.get('apiVersion')!r} {value.get('kind')!r}"
            raise InputError(f"{where}: expected apiVersion {TEST_API_VERSION} and kind {TEST_KIND}, found {found}")
        try:
            test = PolicyTest.model_validate(value)
        except ValidationError as error:
            raise InputError(f"{where}: {_explain(error)}") from error
        yield LoadedTest(test, path, chunk.number)


# --- running one test ---------------------------------------------------------------------------------


def _read(loaded: LoadedTest, field_name: str, paths: list[str]) -> list[Document]:
    documents: list[Document] = []
    for index, path_text in enumerate(paths):
        resolved = Path(path_text) if Path(path_text).is_absolute() else loaded.file.parent / path_text
        try:
            documents.extend(read_documents([str(resolved)]))
        except InputError as error:
            raise InputError(f"{loaded.where}: {field_name}[{index}] ({path_text}): {error}") from error
    return documents


def _codes(codes: Any) -> str:
    return ", ".join(sorted({str(c) for c in codes}))


def _summary(decision: str, codes: Any) -> str:
    listed = _codes(codes)
    return f"{decision} [{listed}]" if listed else decision


def _admitted_pod(doc: Document, judged: Judged, context: PolicyContext, namespace: str) -> dict[str, Any]:
    """The pod as the webhook admits it: a Pod with its patch applied; a controller's pod template as a
    Pod of its namespace, mutated as its pods will be."""
    if doc.kind == "Pod":
        return jsonpatch.apply_patch(copy.deepcopy(doc.obj), judged.decision.patch)  # type: ignore[no-any-return]
    node: Any = doc.obj
    for step in POD_TEMPLATE_PATHS[doc.kind]:
        node = node[step]
    metadata = {**(node.get("metadata") or {}), "namespace": namespace}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": node["spec"]}
    patch = judge_object(pod, context, namespace).patch
    return jsonpatch.apply_patch(copy.deepcopy(pod), patch)  # type: ignore[no-any-return]


def _env_mismatches(pod: Mapping[str, Any], expected: dict[str, dict[str, ExpectedEnv]]) -> list[str]:
    spec = pod.get("spec") or {}
    containers = {
        c.get("name"): c
        for name in ("initContainers", "containers")
        for c in spec.get(name) or []
        if isinstance(c, dict)
    }
    problems = []
    for container_name, variables in expected.items():
        container = containers.get(container_name)
        if container is None:
            problems.append(f"injected: no container {container_name!r}")
            continue
        env = {e.get("name"): e for e in container.get("env") or []}  # a later entry wins, as in Kubernetes
        for variable, want in variables.items():
            entry = env.get(variable)
            if want is None:
                got: ExpectedEnv = None if entry is None else entry.get("value", entry.get("valueFrom"))
            elif isinstance(want, str):
                got = None if entry is None else entry.get("value")
            else:
                got = None if entry is None else entry.get("valueFrom")
            if got != want:
                problems.append(f"injected {container_name}.{variable}: expected {_show(want)}, got {_show(got)}")
    return problems


def _show(value: ExpectedEnv) -> str:
    return "not set" if value is None else orjson.dumps(value).decode()


def _compare(
    expected: ExpectedResult, doc: Document, judged: Judged, context: PolicyContext, namespace: str
) -> list[str]:
    decision = judged.decision
    got_codes = {str(v.code) for v in decision.violations}
    problems = []
    if decision.outcome != expected.decision:
        problems.append(f"decision: expected {expected.decision}, got {decision.outcome}")
    if expected.violations is not None and {str(c) for c in expected.violations} != got_codes:
        problems.append(f"violations: expected [{_codes(expected.violations)}], got [{_codes(got_codes)}]")
    for key, value in (expected.annotations or {}).items():
        got = decision.annotations.get(key)
        if got != value:
            problems.append(f"annotation {key}: expected {value!r}, got {'not written' if got is None else repr(got)}")
    if expected.injected:
        problems.extend(_env_mismatches(_admitted_pod(doc, judged, context, namespace), expected.injected))
    return problems


def run_one(loaded: LoadedTest, run: Run) -> None:
    test = loaded.test
    context_docs = [d for d in _read(loaded, "context", test.context) if is_context_object(d)]
    resources = _read(loaded, "resources", test.resources)
    context = build_context(
        [*context_docs, *(d for d in resources if is_context_object(d))], test.namespace, test.operator_namespace
    )
    judged: dict[tuple[str, str, str], list[tuple[Document, Judged]]] = {}
    for doc in resources:
        if is_judged(doc):
            key = (doc.kind, doc.namespace(test.namespace), doc.name)
            judged.setdefault(key, []).append((doc, judge(doc, context, test.namespace)))
    asserted: set[tuple[str, str, str]] = set()
    for index, expected in enumerate(test.results):
        namespace = expected.namespace or test.namespace
        key = (expected.kind, namespace, expected.name)
        found = judged.get(key, [])
        name = f"{expected.kind} {namespace}/{expected.name}"
        if len(found) != 1:
            why = "no such object among the resources" if not found else f"{len(found)} objects have this name"
            raise InputError(f"{loaded.where}: results[{index}]: {name}: {why}")
        asserted.add(key)
        doc, result = found[0]
        want = _summary(str(expected.decision), expected.violations or ())
        got = _summary(str(result.decision.outcome), (v.code for v in result.decision.violations))
        mismatches = tuple(_compare(expected, doc, result, context, namespace))
        run.outcomes.append(
            Checked(test.metadata.name, f"{loaded.where}: results[{index}]", name, want, got, mismatches)
        )
    run.unasserted += sum(len(v) for k, v in judged.items() if k not in asserted)


def run_tests(paths: list[str], output: str, out: TextIO) -> int:
    """Exit 0: every expected result holds; 1: some do not; bad test files raise InputError (exit 2)."""
    run = Run()
    for path_text in paths:
        for path in find_test_files(path_text):
            for loaded in load(path):
                run_one(loaded, run)
    if output == "junit":
        render_junit(run, out)
    elif output == "json":
        render_json(run, out)
    else:
        render_table(run, out)
    return EXIT_DENIED if run.failed else EXIT_OK


# --- output -------------------------------------------------------------------------------------------


def render_table(run: Run, out: TextIO) -> None:
    headers = ("RESULT", "TEST", "OBJECT", "EXPECTED", "GOT")
    rows = [
        ("PASS" if o.passed else "FAIL", printable(o.test), printable(o.object), o.expected, o.got)
        for o in run.outcomes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    details = {index: o for index, o in enumerate(run.outcomes) if not o.passed}
    for index, line in enumerate([headers, *rows]):
        out.write("   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n")
        failed = details.get(index - 1)
        if failed is not None:
            out.write("".join(f"    x {printable(m)}\n" for m in failed.mismatches))
            out.write(f"      ({printable(failed.where)})\n")
    passed = len(run.outcomes) - run.failed
    tail = f", {run.unasserted} judged objects without an expected result" if run.unasserted else ""
    out.write(f"\n{passed} passed, {run.failed} failed{tail}\n")


def render_json(run: Run, out: TextIO) -> None:
    body = {
        "results": [
            {
                "test": o.test,
                "object": o.object,
                "passed": o.passed,
                "expected": o.expected,
                "got": o.got,
                "mismatches": list(o.mismatches),
                "where": o.where,
            }
            for o in run.outcomes
        ],
        "summary": {"passed": len(run.outcomes) - run.failed, "failed": run.failed, "unasserted": run.unasserted},
    }
    out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")


def render_junit(run: Run, out: TextIO) -> None:
    """One <testsuite> per Test, one <testcase> per expected result, a <failure> for each mismatch, written
    by junitparser; text from the input is escaped first (XML 1.0 cannot hold control characters)."""
    from junitparser import Failure, JUnitXml, TestCase, TestSuite

    xml = JUnitXml("modelroute test")
    suites: dict[str, TestSuite] = {}
    for o in run.outcomes:
        suite = suites.get(o.test)
        if suite is None:
            suite = suites[o.test] = TestSuite(printable(o.test))
            xml.add_testsuite(suite)
        case = TestCase(printable(o.object), f"modelroute.{printable(o.test)}", 0.0)
        if not o.passed:
            failure = Failure(printable("; ".join(o.mismatches)), "mismatch")
            failure.text = printable(f"{o.where}: expected {o.expected}, got {o.got}")
            case.result = [failure]
        suite.add_testcase(case)
    for suite in suites.values():
        suite.update_statistics()  # type: ignore[no-untyped-call]
    xml.update_statistics()  # type: ignore[no-untyped-call]
    # without an XML declaration, as check's JUnit: text output that any parser reads as a string too
    text = xml.tostring()  # type: ignore[no-untyped-call]
    out.write((text.decode() if isinstance(text, bytes) else str(text)) + "\n")

"""`modelroute check`'s reports for CI systems: SARIF 2.1.0 for code scanning, JUnit XML for test reports.

Both are built from the results `-o json` prints (one per judged object) with a serialiser library:
SARIF with sarif-pydantic (pydantic models of the SARIF 2.1.0 object model, so a field name or a
type cannot drift from the standard), JUnit with junitparser (the reader and writer most CI plugins'
Python users rely on). Neither format can be written before the last result (SARIF lists its rules
up front, a JUnit suite its counts), so these two hold the results in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

import junitparser
from sarif_pydantic import (
    ArtifactLocation,
    Level,
    Location,
    Message,
    PhysicalLocation,
    Region,
    ReportingConfiguration,
    ReportingDescriptor,
    Result,
    Run,
    Sarif,
    Tool,
    ToolDriver,
)

from modelroute import __version__
from modelroute.cli.manifests import STDIN
from modelroute.cli.text import printable
from modelroute.engine import CODE_HELP, Code, Outcome

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL = "modelroute"
_RULES = tuple(Code)
_RULE_INDEX = {str(code): index for index, code in enumerate(_RULES)}


def failed(result: dict[str, Any], fail_on: str) -> bool:
    """Whether a result fails the run: denied, or admitted with a warning under `--fail-on warn`."""
    return not result["allowed"] or (fail_on == "warn" and result["decision"] == Outcome.WARNED)


def _level(result: dict[str, Any]) -> Level:
    if not result["allowed"]:
        return Level.ERROR
    return Level.WARNING if result["decision"] == Outcome.WARNED else Level.NOTE


def artifact_uri(source: str) -> str:
    """A source as a SARIF artifact URI: relative paths stay relative (code scanning resolves them against
    the repository's root), absolute ones become file: URIs."""
    if source == STDIN:
        return "stdin"
    path = PurePath(source)
    return path.as_uri() if path.is_absolute() else quote(path.as_posix())


def _rule(code: Code) -> ReportingDescriptor:
    text = CODE_HELP[code]
    return ReportingDescriptor(
        id=str(code),
        name=str(code),
        short_description=Message(text=text),
        full_description=Message(text=text),
        help=Message(
            text=f"{text} Under Enforce this denies the object; under Warn it is admitted with a warning; "
            "under Audit it is admitted and recorded."
        ),
        default_configuration=ReportingConfiguration(level=Level.ERROR),
    )


def _sarif_results(result: dict[str, Any]) -> list[Result]:
    subject = f"{result['kind']} {result['namespace']}/{result['name']}"
    found = []
    for violation in result["violations"]:
        line = violation.get("line") or result.get("line") or 0
        region = Region(start_line=line) if line > 0 else None
        where = f" at {violation['field']}" if violation.get("field") else ""
        found.append(
            Result(
                rule_id=violation["code"],
                rule_index=_RULE_INDEX.get(violation["code"]),
                level=_level(result),
                message=Message(text=f"{subject} ({result['decision']}){where}: {violation['message']}"),
                locations=[
                    Location(
                        physical_location=PhysicalLocation(
                            artifact_location=ArtifactLocation(uri=artifact_uri(result["source"])), region=region
                        )
                    )
                ],
                properties={
                    "kind": result["kind"],
                    "namespace": result["namespace"],
                    "name": result["name"],
                    "document": result["document"],
                    "decision": result["decision"],
                },
            )
        )
    return found


def sarif(results: Sequence[dict[str, Any]]) -> str:
    """One SARIF 2.1.0 log: every violation code as a rule, one result per violation, at its line."""
    log = Sarif(
        schema_uri=SARIF_SCHEMA,
        version="2.1.0",
        runs=[
            Run(
                tool=Tool(
                    driver=ToolDriver(
                        name=TOOL,
                        version=__version__,
                        semantic_version=__version__,
                        rules=[_rule(code) for code in _RULES],
                    )
                ),
                results=[found for result in results for found in _sarif_results(result)],
            )
        ],
    )
    return str(log.model_dump_json(by_alias=True, exclude_none=True, indent=2)) + "\n"


class _ManifestCase(junitparser.TestCase):
    """A test case with the `file` and `line` attributes GitLab and Jenkins show beside a failure."""

    file = junitparser.Attr()
    line = junitparser.IntAttr()


def _case(result: dict[str, Any], fail_on: str) -> junitparser.TestCase:
    """Text from the input is escaped first: XML 1.0 cannot hold control characters."""
    source = printable(result["source"])
    case = _ManifestCase(printable(f"{result['kind']} {result['namespace']}/{result['name']}"), classname=source)
    case.file = source
    if result.get("line"):
        case.line = result["line"]
    details = [
        printable(
            f"{v['code']}"
            + (f" at {v['field']}" if v.get("field") else "")
            + (f" (line {v['line']})" if v.get("line") else "")
            + f": {v['message']}"
        )
        for v in result["violations"]
    ]
    if failed(result, fail_on):
        codes = ", ".join(dict.fromkeys(v["code"] for v in result["violations"])) or result["decision"]
        failure = junitparser.Failure(f"{result['decision']}: {codes}", type_=result["decision"])
        failure.text = "\n".join(details)
        case.result = [failure]
    warnings = [printable(w) for w in result["warnings"]]
    notes = [*details, *warnings] if not failed(result, fail_on) else warnings
    if notes:
        case.system_out = "\n".join(notes)
    return case


def junit(results: Sequence[dict[str, Any]], fail_on: str) -> str:
    """One JUnit XML report: a suite for the run, a test case per judged object, failed when it fails the run."""
    suite = junitparser.TestSuite(f"{TOOL} check")
    for result in results:
        suite.add_testcase(_case(result, fail_on))
    suite.update_statistics()  # type: ignore[no-untyped-call]
    report = junitparser.JUnitXml(TOOL)
    report.add_testsuite(suite)
    report.update_statistics()  # type: ignore[no-untyped-call]
    text = report.tostring()  # type: ignore[no-untyped-call]
    return (text.decode() if isinstance(text, bytes) else str(text)) + "\n"

"""`modelroute check`'s output for CI systems, read by the consumers' own schemas and parsers: SARIF 2.1.0
against the OASIS JSON schema, JUnit XML through junitparser, YAML and JSON with a schemaVersion and
the line of every violation's field."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import junitparser
import pytest
import yaml
from tests.unit.command_line import modelroute

from modelroute.engine.verdict import CODE_HELP, Code

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SARIF_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text())


def check(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return modelroute("check", *args, cwd=cwd)


def line_of(path: Path, text: str, after: int = 0) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if n > after and text in line)


@pytest.fixture(scope="module")
def sarif() -> dict[str, Any]:
    result = check("examples", "-o", "sarif")
    assert result.returncode == 1, result.stderr
    log: dict[str, Any] = json.loads(result.stdout)
    return log


def test_sarif_is_valid_against_the_published_schema(sarif: dict[str, Any]) -> None:
    jsonschema.Draft4Validator.check_schema(SARIF_SCHEMA)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    assert sarif["version"] == "2.1.0"


def test_sarif_has_one_rule_per_violation_code_with_its_help(sarif: dict[str, Any]) -> None:
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [str(code) for code in Code]
    for rule, code in zip(rules, Code, strict=True):
        assert rule["shortDescription"]["text"] == CODE_HELP[code]
        assert CODE_HELP[code] in rule["help"]["text"]


def test_sarif_results_point_at_the_file_and_line_of_the_field(sarif: dict[str, Any]) -> None:
    results = sarif["runs"][0]["results"]
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    violations = EXAMPLES / "50-violations.yaml"
    reindex = next(r for r in results if "rag/reindex" in r["message"]["text"])
    location = reindex["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "examples/50-violations.yaml"
    # the Job's first env entry: `- name: OPENAI_API_BASE`
    assert location["region"]["startLine"] == line_of(violations, "name: OPENAI_API_BASE")
    assert (reindex["ruleId"], reindex["level"]) == ("EndpointNotApproved", "error")
    assert rules[reindex["ruleIndex"]]["id"] == reindex["ruleId"]
    warned = next(r for r in results if "sandbox/notebook" in r["message"]["text"])
    assert warned["level"] == "warning"
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] > 0 for r in results)


def test_every_violation_code_is_in_the_concepts_table() -> None:
    concepts = (ROOT / "docs" / "concepts.md").read_text()
    for code in Code:
        assert f"`{code}`" in concepts, code


def test_junit_has_one_test_case_per_judged_object_and_fails_the_denied() -> None:
    result = check("examples", "-o", "junit")
    assert result.returncode == 1, result.stderr
    report = junitparser.JUnitXml.fromstring(result.stdout)
    suites = list(report) if isinstance(report, junitparser.JUnitXml) else [report]
    cases = [case for suite in suites for case in suite]
    assert len(cases) == 9
    failed = {case.name for case in cases if not case.is_passed}
    assert failed == {
        "Pod chat/legacy-bot",
        "Job rag/reindex",
        "CronJob web/nightly-summary",
        "Deployment chat/bedrock-bridge",
    }
    reindex = next(case for case in cases if case.name == "Job rag/reindex")
    (failure,) = reindex.result
    assert isinstance(failure, junitparser.Failure)
    assert "EndpointNotApproved" in failure.message
    assert reindex.classname == "examples/50-violations.yaml"
    assert sum(suite.failures for suite in suites) == 4
    assert sum(suite.tests for suite in suites) == 9


def test_junit_with_fail_on_warn_fails_the_warned_too() -> None:
    result = check("examples", "-o", "junit", "--fail-on", "warn")
    cases = [case for suite in junitparser.JUnitXml.fromstring(result.stdout) for case in suite]
    assert "Pod sandbox/notebook" in {case.name for case in cases if not case.is_passed}


def test_junit_escapes_control_characters_from_the_input(tmp_path: Path) -> None:
    # XML 1.0 cannot hold them: written raw they would make junitparser refuse the report (an internal error)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bot\x1f\x1b[2J"},
        "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "OPENAI_API_KEY", "value": "k"}]}]},
    }
    (tmp_path / "pod.json").write_text(json.dumps(pod))
    result = check(str(tmp_path / "pod.json"), "-o", "junit", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # no policy: admitted with a warning
    (case,) = [case for suite in junitparser.JUnitXml.fromstring(result.stdout) for case in suite]
    assert case.name == "Pod default/bot\\x1f\\x1b[2J"
    assert "UnmanagedOpenAITraffic" in case.system_out


def test_fail_on_warn_turns_a_warned_result_into_a_failing_exit() -> None:
    compliant_but_warned = ["examples/00-namespaces.yaml", "examples/10-azure-endpoints.yaml"]
    compliant_but_warned += ["examples/20-route-policies.yaml", "examples/30-model-workloads.yaml"]
    # the sandbox notebook alone: admitted with a warning under the sandbox's Warn policy
    notebook = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys,yaml; d=list(yaml.safe_load_all(open(sys.argv[1]))); "
            "print(yaml.safe_dump(next(x for x in d if x and x['metadata']['name'] == 'notebook')))",
            str(EXAMPLES / "50-violations.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    args = [*compliant_but_warned, "-"]
    plain = modelroute("check", *args, stdin=notebook, cwd=ROOT)
    strict = modelroute("check", *args, "--fail-on", "warn", stdin=notebook, cwd=ROOT)
    assert (plain.returncode, strict.returncode) == (0, 1), (plain.stdout, strict.stdout)


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_json_and_yaml_carry_a_schema_version_and_the_lines_of_fields(output: str) -> None:
    result = check("examples", "-o", output)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout) if output == "json" else yaml.safe_load(result.stdout)
    assert report["schemaVersion"] == 1
    assert report["summary"]["judged"] == len(report["results"]) == 9
    violations = EXAMPLES / "50-violations.yaml"
    bridge = next(r for r in report["results"] if r["name"] == "bedrock-bridge")
    assert bridge["line"] == line_of(violations, "apiVersion: apps/v1")
    by_field = {v["field"]: v["line"] for v in bridge["violations"]}
    start = line_of(violations, "name: bedrock-bridge")
    assert by_field["spec.template.spec.containers[0].env[0]"] == line_of(violations, "name: OPENAI_API_TYPE", start)
    assert by_field["spec.template.spec.containers[0].env[1]"] == line_of(
        violations, "name: AWS_BEDROCK_BASE_URL", start
    )


def test_yaml_of_an_empty_run_is_still_a_report(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "10-azure-endpoints.yaml", tmp_path / "e.yaml")
    result = check("e.yaml", "-o", "yaml", "--allow-empty", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["results"] == []


def test_json_list_items_get_their_own_lines(tmp_path: Path) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}}
    path = tmp_path / "list.json"
    path.write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod, pod | {"metadata": {"name": "q"}}]}, indent=2)
    )
    result = check(str(path), "-o", "json")
    lines = [r["line"] for r in json.loads(result.stdout)["results"]]
    text = path.read_text().splitlines()
    assert [text[line - 1].strip() for line in lines] == ["{", "{"]
    assert lines[0] < lines[1]

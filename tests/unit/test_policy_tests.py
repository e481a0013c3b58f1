"""`modelroute test`: the shipped test of examples/ passes, a wrong expectation fails with exit 1 and says
what differs, a bad test file is exit 2 naming the file, document and field, and -o junit is JUnit XML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import Failure, JUnitXml
from test_cli import EXAMPLES, ROOT, modelroute

SHIPPED = ROOT / "tests" / "policy"
SHIPPED_FILE = SHIPPED / "modelroute-test.yaml"


def shipped() -> dict[str, Any]:
    test = yaml.safe_load(SHIPPED_FILE.read_text())
    test["context"] = [str(EXAMPLES / Path(p).name) for p in test["context"]]
    test["resources"] = [str(EXAMPLES / Path(p).name) for p in test["resources"]]
    return dict(test)


def write_test(tmp_path: Path, *tests: dict[str, Any] | str, name: str = "modelroute-test.yaml") -> Path:
    path = tmp_path / name
    path.write_text("---\n".join(t if isinstance(t, str) else yaml.safe_dump(t, sort_keys=False) for t in tests))
    return path


def result(test: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(next(r for r in test["results"] if r["name"] == name))


def test_the_shipped_test_of_the_examples_passes() -> None:
    run = modelroute("test", str(SHIPPED))
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["RESULT", "TEST", "OBJECT", "EXPECTED", "GOT"]
    assert sum(line.startswith("PASS") for line in lines) == 9
    assert "9 passed, 0 failed" in run.stdout


@pytest.mark.parametrize(
    ("name", "change", "said"),
    [
        ("legacy-bot", {"decision": "warned"}, "decision: expected warned, got denied"),
        ("reindex", {"violations": ["NonAzureProvider"]}, "violations: expected [NonAzureProvider]"),
        (
            "chat-api",
            {"annotations": {"modelroute.io/procurement-channel": "OpenAI"}},
            "annotation modelroute.io/procurement-channel: expected 'OpenAI', got 'Microsoft'",
        ),
        (
            "chat-api",
            {"injected": {"app": {"OPENAI_BASE_URL": "https://api.openai.com/v1"}}},
            'injected app.OPENAI_BASE_URL: expected "https://api.openai.com/v1", got '
            '"https://contoso-eastus.openai.azure.com/openai/v1"',
        ),
        ("static-site", {"injected": {"sidecar": {"X": None}}}, "injected: no container 'sidecar'"),
        (
            "chat-api",
            {"injected": {"app": {"OPENAI_API_KEY": None}}},
            "injected app.OPENAI_API_KEY: expected not set",
        ),
    ],
)
def test_a_wrong_expectation_fails_with_exit_1_and_says_what_differs(
    tmp_path: Path, name: str, change: dict[str, Any], said: str
) -> None:
    test = shipped()
    result(test, name)  # the object is in the shipped test
    test["results"] = [{**r, **change} if r["name"] == name else r for r in test["results"]]
    run = modelroute("test", str(write_test(tmp_path, test)))
    assert run.returncode == 1, run.stdout + run.stderr
    failing = [line for line in run.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1
    assert name in failing[0]
    assert said in run.stdout
    assert "8 passed, 1 failed" in run.stdout


def test_junit_output_is_read_by_a_junit_parser(tmp_path: Path) -> None:
    test = shipped()
    test["results"][4] = {**test["results"][4], "decision": "compliant"}
    run = modelroute("test", str(write_test(tmp_path, test)), "-o", "junit")
    assert run.returncode == 1, run.stderr
    xml = JUnitXml.fromstring(run.stdout)
    (suite,) = list(xml)
    assert (suite.name, suite.tests, suite.failures) == ("examples", 9, 1)
    cases = {case.name: case for case in suite}
    assert cases["Pod chat/legacy-bot"].is_failure
    (failure,) = cases["Pod chat/legacy-bot"].result
    assert isinstance(failure, Failure)
    assert "decision: expected compliant, got denied" in (failure.message or "")
    assert all(case.is_passed for name, case in cases.items() if name != "Pod chat/legacy-bot")


def test_several_tests_in_one_file_and_several_files_in_a_directory(tmp_path: Path) -> None:
    first, second = shipped(), shipped()
    second["metadata"] = {"name": "again"}
    write_test(tmp_path, first, second)
    (tmp_path / "nested").mkdir()
    write_test(tmp_path / "nested", shipped(), name="modelroute-test.yml")
    (tmp_path / "unrelated.yaml").write_text("not: a test\n")
    run = modelroute("test", str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "27 passed, 0 failed" in run.stdout


def test_judged_objects_without_an_expected_result_are_counted(tmp_path: Path) -> None:
    test = shipped()
    test["results"] = test["results"][:2]
    run = modelroute("test", str(write_test(tmp_path, test)))
    assert run.returncode == 0
    assert "2 passed, 0 failed, 7 judged objects without an expected result" in run.stdout


def _bad(tmp_path: Path, change: dict[str, Any] | str) -> str:
    test: dict[str, Any] | str = change if isinstance(change, str) else {**shipped(), **change}
    path = write_test(tmp_path, shipped(), test)
    run = modelroute("test", str(path))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert f"{path}: document 2: " in run.stderr
    return run.stderr


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"apiVersion": "modelroute.io/v1alpha1"}, "expected apiVersion cli.modelroute.io/v1alpha1 and kind Test"),
        ({"kind": "Tset"}, "expected apiVersion cli.modelroute.io/v1alpha1 and kind Test"),
        ({"resources": []}, "resources: List should have at least 1 item"),
        ({"results": [{"kind": "Pod", "name": "x", "decision": "maybe"}]}, "results[0].decision: Input should be"),
        (
            {"results": [{"kind": "Pod", "name": "x", "decision": "denied", "violations": ["NoSuchCode"]}]},
            "results[0].violations[0]: Input should be",
        ),
        ({"results": [{"kind": "Pod", "name": "x", "decison": "denied"}]}, "results[0].decison: Extra inputs"),
        ({"resources": ["missing.yaml"]}, "resources[0] (missing.yaml): "),
        ({"context": ["../nowhere/"]}, "context[0] (../nowhere/): "),
        (
            {"results": [{"kind": "Pod", "namespace": "chat", "name": "ghost", "decision": "denied"}]},
            "results[0]: Pod chat/ghost: no such object among the resources",
        ),
        ("- just\n- a list\n", "expected a Test (a mapping)"),
    ],
)
def test_a_bad_test_file_is_exit_2_naming_the_file_document_and_field(
    tmp_path: Path, change: dict[str, Any] | str, said: str
) -> None:
    assert said in _bad(tmp_path, change)


def test_invalid_yaml_in_a_test_file_names_the_line(tmp_path: Path) -> None:
    path = write_test(tmp_path, "apiVersion: cli.modelroute.io/v1alpha1\nkind: [Test\n")
    run = modelroute("test", str(path))
    assert run.returncode == 2
    assert f"{path}: document 1: invalid YAML" in run.stderr


def test_a_directory_without_test_files_is_exit_2(tmp_path: Path) -> None:
    run = modelroute("test", str(tmp_path))
    assert run.returncode == 2
    assert "no modelroute-test.yaml or modelroute-test.yml" in run.stderr


def test_input_text_is_escaped_in_the_table(tmp_path: Path) -> None:
    test = shipped()
    test["metadata"] = {"name": "evil\x1b[2J"}
    run = modelroute("test", str(write_test(tmp_path, test)))
    assert run.returncode == 0
    assert "\x1b" not in run.stdout
    assert "evil\\x1b[2J" in run.stdout


def test_the_test_api_version_is_declared_once() -> None:
    from typing import get_args

    from modelroute.cli.policy_tests import TEST_API_VERSION, PolicyTest

    assert get_args(PolicyTest.model_fields["api_version"].annotation) == (TEST_API_VERSION,)
    assert TEST_API_VERSION == "cli.modelroute.io/v1alpha1"

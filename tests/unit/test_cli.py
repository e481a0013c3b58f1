"""The `modelroute` console script: exit codes, JSON shape, and errors that say where."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def modelroute(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    script = shutil.which("modelroute", path=str(Path(sys.executable).parent)) or shutil.which("modelroute")
    assert script, "the modelroute console script is not installed (pip install .)"
    return subprocess.run([script, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_version() -> None:
    result = modelroute("version")
    assert result.returncode == 0
    assert result.stdout.startswith("modelroute 0.")


def test_check_examples_tells_the_story_and_exits_1() -> None:
    result = modelroute("check", str(EXAMPLES))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    verdicts = {line.split()[2]: line.split()[0] for line in lines if line.startswith(("ALLOW", "DENY"))}
    assert verdicts == {
        "chat/chat-api": "ALLOW",
        "rag/rag-worker": "ALLOW",
        "web/web-assistant": "ALLOW",
        "web/static-site": "ALLOW",
        "chat/legacy-bot": "DENY",
        "rag/reindex": "DENY",
        "web/nightly-summary": "DENY",
        "chat/bedrock-bridge": "DENY",
        "sandbox/notebook": "ALLOW",
    }
    assert "9 judged: 5 allowed, 4 denied" in result.stdout


def test_check_json_matches_the_contract() -> None:
    result = modelroute("check", str(EXAMPLES), "-o", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert set(report) == {"schemaVersion", "results", "summary"}
    assert report["schemaVersion"] == 1
    first = report["results"][0]
    for key in (
        "kind",
        "namespace",
        "name",
        "allowed",
        "enforcement",
        "violations",
        "warnings",
        "annotations",
        "patch",
    ):
        assert key in first
    denied = [r for r in report["results"] if not r["allowed"]]
    assert {v["code"] for r in denied for v in r["violations"]} >= {
        "UnmanagedOpenAITraffic",
        "EndpointNotApproved",
        "NonAzureProvider",
    }
    assert all("message" in v for r in denied for v in r["violations"])
    assert report["summary"]["denied"] == 4


def test_check_exits_0_when_nothing_is_denied() -> None:
    result = modelroute(
        "check",
        str(EXAMPLES / "40-compliant.yaml"),
        str(EXAMPLES / "30-model-workloads.yaml"),
        str(EXAMPLES / "10-azure-endpoints.yaml"),
        str(EXAMPLES / "00-namespaces.yaml"),
        str(EXAMPLES / "20-route-policies.yaml"),
    )
    assert result.returncode == 0, result.stdout


def test_check_reads_stdin_multi_document_yaml_and_lists() -> None:
    pod_list = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "a"},
                "spec": {
                    "containers": [{"name": "c", "image": "i", "env": [{"name": "OPENAI_API_KEY", "value": "k"}]}]
                },
            },
        ],
    }
    policy = {"apiVersion": "modelroute.io/v1alpha1", "kind": "RoutePolicy", "metadata": {"name": "p"}}
    result = modelroute("check", "-", "-o", "json", stdin=yaml.safe_dump_all([policy, pod_list]))
    assert result.returncode == 1
    (only,) = json.loads(result.stdout)["results"]
    assert (only["name"], only["document"]) == ("a", "2.items[0]")


def test_mutate_prints_the_admitted_manifests() -> None:
    result = modelroute("mutate", str(EXAMPLES))
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    static = next(d for d in docs if d["metadata"]["name"] == "static-site")
    assert "annotations" not in static["metadata"]
    chat = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "chat-api")
    assert "env" not in chat["spec"]["template"]["spec"]["containers"][0]  # controllers are never mutated


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("broken.yaml", "apiVersion: v1\nkind: Pod\n---\nkind: [unclosed\n", "broken.yaml: document 2: invalid YAML"),
        (
            "scalar.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n---\n- a\n- b\n",
            "scalar.yaml: document 2: expected a Kubernetes object (a mapping), got a list",
        ),
        ("nokind.yaml", "apiVersion: v1\nmetadata: {name: a}\n", "nokind.yaml: document 1: has no kind"),
        ("bad.json", '{"kind": ', "bad.json: document 1: invalid JSON"),
        ("notes.txt", "hello", "unsupported file type '.txt'"),
        (
            "badcr.yaml",
            "apiVersion: modelroute.io/v1alpha1\nkind: AzureEndpoint\nmetadata: {name: e}\n"
            "spec: {url: 'http://x.openai.azure.com'}\n",
            "badcr.yaml: document 1: AzureEndpoint 'e': spec.url",
        ),
        (
            "nospec.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n",
            "nospec.yaml: document 1: Deployment 'd'",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_file_and_document(tmp_path: Path, name: str, text: str, expected: str) -> None:
    result = modelroute("check", str(write(tmp_path, name, text)))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_path_exits_2() -> None:
    result = modelroute("check", "/no/such/place")
    assert (result.returncode, "no such file or directory" in result.stderr) == (2, True)


def test_usage_errors_exit_2() -> None:
    assert modelroute("check").returncode == 2
    assert modelroute("frobnicate").returncode == 2

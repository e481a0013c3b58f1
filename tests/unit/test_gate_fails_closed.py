"""`modelroute check` is a security control: what it cannot read or does not understand is exit 2, never a pass.

The first five specs are the inputs that used to pass the gate by mistake, tried on copies of `examples/`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.unit.command_line import modelroute

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def refused(result: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout[-800:], result.stderr)
    assert result.stderr.startswith("modelroute: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in result.stderr, result.stderr


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy)
    return copy


@pytest.mark.parametrize(
    ("file", "right", "misspelt", "where", "message"),
    [
        (
            "20-route-policies.yaml",
            "modelroute.io/v1alpha1",
            "modelroutes.io/v1alpha1",
            "20-route-policies.yaml: document 1, line ",
            "unknown API group modelroutes.io; did you mean modelroute.io?",
        ),
        (
            "10-azure-endpoints.yaml",
            "kind: AzureEndpoint",
            "kind: AzureEndpiont",
            "10-azure-endpoints.yaml: document 1",
            "no kind AzureEndpiont in modelroute.io/v1alpha1; did you mean AzureEndpoint?",
        ),
    ],
    ids=["a misspelt group", "a misspelt kind of ours"],
)
def test_a_misspelling_in_the_examples_is_refused_with_a_suggestion(
    examples: Path, file: str, right: str, misspelt: str, where: str, message: str
) -> None:
    manifest = examples / file
    manifest.write_text(manifest.read_text().replace(right, misspelt))
    refused(modelroute("check", str(examples)), where, message)


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        (
            "pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containerz:\n    - name: app\n"
            "      image: registry.example.com/app:1\n      env: [{name: OPENAI_API_KEY, value: k}]\n",
            "pod.yaml: document 1, line 6: Pod 'p': unknown field 'spec.containerz'",
        ),
        (
            "pod.json",
            '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},\n'
            ' "spec": {"containers": [{"name": "a",\n  "image": "i", "name": "b"}]}}\n',
            "pod.json: document 1, line 3: duplicate field spec.containers[0].name",
        ),
        (
            "pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n  containers: []\n",
            "pod.yaml: document 1, line 6: duplicate field spec.containers",
        ),
    ],
    ids=[
        "an unknown field, as strict field validation refuses it",
        "a field given twice in JSON, with its path and line",
        "a field given twice in YAML",
    ],
)
def test_a_pod_with_a_field_the_api_server_would_refuse_is_refused_saying_where(
    tmp_path: Path, file: str, text: str, message: str
) -> None:
    path = tmp_path / file
    path.write_text(text)
    refused(modelroute("check", str(path)), message)


def test_a_run_with_nothing_to_judge_is_refused_unless_allowed() -> None:
    context = [str(EXAMPLES / "10-azure-endpoints.yaml"), str(EXAMPLES / "20-route-policies.yaml")]
    refused(modelroute("check", *context), "nothing judged", "--allow-empty")
    assert modelroute("check", *context, "--allow-empty").returncode == 0


def test_a_closed_output_pipe_keeps_the_verdicts_exit_code(tmp_path: Path) -> None:
    # Enough denied pods that the output outgrows the pipe's buffer long before the run ends.
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": "chat"},
            "spec": {"containers": [{"name": "a", "image": "i", "env": [{"name": "OPENAI_API_KEY", "value": "k"}]}]},
        }
        for i in range(1500)
    ]
    (tmp_path / "pods.yaml").write_text(yaml.safe_dump_all(pods))
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    for output in ("text", "json"):
        script = f"set -o pipefail; {sys.executable} -m modelroute.main check examples pods.yaml -o {output} | head -1"
        result = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 1, (output, result.stderr)
        assert "Traceback" not in result.stderr
        assert "BrokenPipe" not in result.stderr


@pytest.mark.parametrize(
    ("api_version", "kind", "message"),
    [
        ("ModelRoute.io/v1alpha1", "RoutePolicy", "unknown API group ModelRoute.io; did you mean modelroute.io?"),
        ("modelroute.io/v1", "RoutePolicy", "modelroute.io has no version v1; RoutePolicy is modelroute.io/v1alpha1"),
        ("v1", "ModelWorkload", "ModelWorkload is a modelroute.io/v1alpha1 kind, not v1"),
        (
            "modelroute.io/v1alpha1",
            "Widget",
            "no kind Widget in modelroute.io/v1alpha1; its kinds are AzureEndpoint, ModelWorkload, RoutePolicy",
        ),
        ("apps/v1", "Deploymnet", "no kind Deploymnet in apps/v1; did you mean Deployment?"),
        ("v1", "pod", "no kind pod in v1; did you mean Pod?"),
    ],
)
def test_look_alikes_of_what_the_gate_reads_are_refused(
    tmp_path: Path, api_version: str, kind: str, message: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}))
    refused(modelroute("check", str(path)), "x.yaml: document 1, line 1: " + message)


def test_other_groups_and_kinds_are_still_other_objects(tmp_path: Path) -> None:
    others = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "m"}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "b"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}},
    ]
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump_all(others))
    result = modelroute("check", str(path), "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["ignored"] == 3


def test_a_policy_test_file_beside_the_manifests_is_another_object_not_a_misspelt_group() -> None:
    # cli.modelroute.io is as near to modelroute.io as a one-letter typo, but it is `modelroute test`'s own group
    result = modelroute("check", str(EXAMPLES), str(ROOT / "tests" / "policy" / "modelroute-test.yaml"), "-o", "json")
    assert result.returncode == 1, result.stderr  # the examples' denials, not a refusal of the input
    assert json.loads(result.stdout)["summary"]["ignored"] >= 1


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        (
            {
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "metadata": {"name": "d"},
                "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "a", "envv": []}]}}},
            },
            "spec.template.spec.containers[0].envv",
        ),
        (
            {
                "kind": "CronJob",
                "apiVersion": "batch/v1",
                "metadata": {"name": "c"},
                "spec": {
                    "schedule": "* * * * *",
                    "jobTemplate": {
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {"name": "a", "env": [{"name": "X", "valueFrom": {"secretRef": {}}}]}
                                    ]
                                }
                            }
                        }
                    },
                },
            },
            "spec.jobTemplate.spec.template.spec.containers[0].env[0].valueFrom.secretRef",
        ),
        (
            {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {"name": "p", "labelz": {}},
                "spec": {"containers": [{"name": "a"}]},
            },
            "metadata.labelz",
        ),
    ],
)
def test_unknown_fields_are_named_by_their_path_in_every_judged_kind(
    tmp_path: Path, obj: dict[str, object], field: str
) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps(obj, indent=1))
    refused(modelroute("check", str(path)), f"unknown field '{field}'")
    refused(modelroute("mutate", str(path)), f"unknown field '{field}'")


def test_mutate_with_nothing_to_mutate_is_refused_unless_allowed() -> None:
    refused(modelroute("mutate", str(EXAMPLES / "10-azure-endpoints.yaml")), "nothing to mutate")
    assert modelroute("mutate", str(EXAMPLES / "10-azure-endpoints.yaml"), "--allow-empty").returncode == 0


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    result = modelroute("check", str(EXAMPLES), str(EXAMPLES / "30-model-workloads.yaml"), "-o", "json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["summary"]["judged"] == 9
    assert not any(
        v["code"] == "AmbiguousWorkload" for r in json.loads(result.stdout)["results"] for v in r["violations"]
    )


def test_the_fast_path_does_not_import_the_kubernetes_client() -> None:
    code = (
        "import sys; from modelroute.main import main; main(['check', sys.argv[1]]); print('kubernetes' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ | {"PYTHONWARNINGS": "ignore"},
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr

"""`modelroute report`: the pods controllers would create, what admission would refuse, cells safe in every
format, `--fail-on`, and a clear exit 2 when there is no cluster to read."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_cli import EXAMPLES, modelroute

from modelroute.engine.podspec import NotAPodError, pods_created

POLICY = """
apiVersion: modelroute.io/v1alpha1
kind: AzureEndpoint
metadata: {name: approved}
spec: {url: "https://contoso.openai.azure.com"}
---
apiVersion: modelroute.io/v1alpha1
kind: RoutePolicy
metadata: {name: strict}
spec: {enforcement: Enforce, unmanaged: Deny}
---
apiVersion: modelroute.io/v1alpha1
kind: ModelWorkload
metadata: {name: chat, namespace: apps}
spec:
  selector: {matchLabels: {app: chat}}
  endpointRef: {name: approved}
  procurement: {channel: Microsoft, costCenter: COST_CENTER, reference: REFERENCE}
"""
DIRECT = [{"name": "OPENAI_BASE_URL", "value": "https://api.openai.com/v1"}]


def _template(env: list[dict[str, str]] | None = None, app: str = "chat") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "app:1"}
    if env:
        container["env"] = env
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [container]}}


def controller(kind: str, name: str, spec: dict[str, Any], env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    template = _template(env)
    body = {**spec, "jobTemplate": {"spec": {**spec.get("jobTemplate", {}), "template": template}}}
    if kind != "CronJob":
        body = {**spec, "template": template}
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "apps"}, "spec": body}


def manifests(tmp_path: Path, *objects: dict[str, Any], cost_center: str = "CC-1", reference: str = "PO-1") -> Path:
    policy = POLICY.replace("COST_CENTER", json.dumps(cost_center)).replace("REFERENCE", json.dumps(reference))
    path = tmp_path / "manifests.yaml"
    path.write_text(policy + "".join("---\n" + yaml.safe_dump(o) for o in objects))
    return path


def report(path: Path, *args: str) -> tuple[int, str, str]:
    result = modelroute("report", "--from", str(path), *args)
    return result.returncode, result.stdout, result.stderr


def rows(path: Path, *args: str) -> dict[str, dict[str, Any]]:
    code, out, err = report(path, "-o", "json", *args)
    assert code == 0, err
    return {r["workload"]: r for r in json.loads(out)["workloads"]}


# --- the pods controllers would create ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        ("Deployment", {"replicas": 3}, 3),
        ("Deployment", {}, 1),
        ("Deployment", {"replicas": 0}, 0),
        ("StatefulSet", {"replicas": 2}, 2),
        ("ReplicaSet", {"replicas": 4}, 4),
        ("Job", {}, 1),
        ("Job", {"parallelism": 3, "completions": 10}, 3),
        ("Job", {"parallelism": 5, "completions": 2}, 2),
        ("Job", {"parallelism": 4}, 4),
        ("Job", {"parallelism": 4, "suspend": True}, 0),
        ("CronJob", {"jobTemplate": {"parallelism": 2}}, 2),
        ("CronJob", {"suspend": True}, 0),
        ("DaemonSet", {}, 1),
    ],
)
def test_report_from_manifests_counts_the_pods_each_controller_would_create(
    tmp_path: Path, kind: str, spec: dict[str, Any], expected: int
) -> None:
    path = manifests(tmp_path, controller(kind, "chat", spec))
    assert rows(path)["chat"]["pods"] == expected


def test_a_pod_template_creates_no_pods_and_a_pod_is_one() -> None:
    assert pods_created({"kind": "PodTemplate", "template": {}}) == 0
    assert pods_created({"kind": "Pod"}) == 1


@pytest.mark.parametrize("replicas", ["three", -1, True, 1.5])
def test_a_replica_count_that_is_not_a_whole_number_is_bad_input_named(tmp_path: Path, replicas: object) -> None:
    with pytest.raises(NotAPodError, match=r"spec\.replicas"):
        pods_created({"kind": "Deployment", "spec": {"replicas": replicas}})
    path = manifests(tmp_path, controller("Deployment", "chat", {"replicas": replicas}))
    code, _, err = report(path)
    assert code == 2
    assert "document 4" in err
    assert "spec.replicas" in err


def test_what_admission_would_refuse_is_counted_as_refused_not_as_pods(tmp_path: Path) -> None:
    path = manifests(
        tmp_path,
        controller("Deployment", "chat", {"replicas": 2}),
        controller("Deployment", "chat-direct", {"replicas": 3}, env=DIRECT),
    )
    row = rows(path)["chat"]
    assert (row["pods"], row["refused"]) == (2, 3)
    assert row["compliance"] == "3 pods refused at admission"


def test_undeclared_traffic_gets_a_row_that_says_how_much_was_refused(tmp_path: Path) -> None:
    stray = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stray", "namespace": "apps", "labels": {"app": "other"}},
        "spec": {"containers": [{"name": "bot", "image": "bot:1", "env": DIRECT}]},
    }
    row = rows(manifests(tmp_path, stray))["(no ModelWorkload)"]
    assert (row["pods"], row["refused"], row["channel"]) == (0, 1, "undeclared")
    assert row["compliance"] == "undeclared OpenAI traffic: 0 pods admitted, 1 pod refused at admission"


def test_the_report_says_1_pod_not_1_pods() -> None:
    code, out, _ = report(EXAMPLES)
    assert code == 0
    assert "1 pods" not in out
    assert "1 pod refused at admission" in out


def test_report_from_examples_counts_deployment_replicas() -> None:
    by_workload = rows(EXAMPLES)
    assert by_workload["rag-worker"]["pods"] == 2  # replicas: 2; it was 0 when only bare Pods were counted
    assert by_workload["chat-api"]["pods"] == 1


# --- --fail-on -------------------------------------------------------------------------------------------


def test_fail_on_undeclared_exits_1_after_writing_the_report() -> None:
    code, out, _ = report(EXAMPLES, "--fail-on", "undeclared")
    assert code == 1
    assert "(no ModelWorkload)" in out


def test_fail_on_violating_exits_1_when_a_workload_has_refused_pods() -> None:
    assert report(EXAMPLES, "--fail-on", "violating")[0] == 1


def test_fail_on_passes_a_clean_inventory(tmp_path: Path) -> None:
    path = manifests(tmp_path, controller("Deployment", "chat", {"replicas": 2}))
    code, _, err = report(path, "--fail-on", "undeclared", "--fail-on", "violating")
    assert code == 0, err


def test_fail_on_violating_catches_a_workload_that_cannot_be_satisfied(tmp_path: Path) -> None:
    path = manifests(tmp_path, controller("Deployment", "chat", {}))
    path.write_text(path.read_text().replace("name: approved}", "name: missing}", 1))
    assert report(path, "--fail-on", "undeclared")[0] == 0
    assert report(path, "--fail-on", "violating")[0] == 1


# --- cells safe in every format --------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("https://evil.example","click")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_cells_that_would_run_as_a_formula_are_neutralised(tmp_path: Path, formula: str) -> None:
    path = manifests(tmp_path, controller("Deployment", "chat", {}), cost_center=formula)
    code, out, err = report(path, "-o", "csv")
    assert code == 0, err
    (record,) = list(csv.DictReader(io.StringIO(out)))
    assert record["cost_center"].startswith("'")
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in record.values())


def test_csv_keeps_harmless_cells_and_leaves_absent_ones_empty(tmp_path: Path) -> None:
    path = manifests(tmp_path, controller("Deployment", "chat", {}), reference="PO-2026-1")
    (record,) = list(csv.DictReader(io.StringIO(report(path, "-o", "csv")[1])))
    assert (record["reference"], record["pods"], record["cost_center"]) == ("PO-2026-1", "1", "CC-1")
    stray_free = manifests(tmp_path, controller("Deployment", "chat", {}))
    stray_free.write_text(stray_free.read_text().replace("name: approved}", "name: missing}", 1))
    (record,) = list(csv.DictReader(io.StringIO(report(stray_free, "-o", "csv")[1])))
    assert record["endpoint_host"] == ""


HOSTILE = "CC-1\x1b[31m\u202ered\nnext|row"


@pytest.mark.parametrize("output", ["table", "markdown", "csv"])
def test_control_characters_and_newlines_are_escaped_in_every_text_format(tmp_path: Path, output: str) -> None:
    path = manifests(tmp_path, controller("Deployment", "chat", {}), cost_center=HOSTILE)
    code, out, err = report(path, "-o", output)
    assert code == 0, err
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert "\\x1b" in out
    header = 2 if output == "markdown" else 1
    assert len(out.splitlines()) == header + 1  # one row: the newline in the value did not start another
    if output == "markdown":
        assert "next\\|row" in out


def test_json_escapes_control_characters_and_keeps_the_value(tmp_path: Path) -> None:
    path = manifests(tmp_path, controller("Deployment", "chat", {}), cost_center=HOSTILE)
    code, out, _ = report(path, "-o", "json")
    assert code == 0
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert json.loads(out)["workloads"][0]["cost_center"] == HOSTILE


# --- no cluster to read -----------------------------------------------------------------------------------


def test_a_missing_kubeconfig_is_exit_2_with_what_to_do(tmp_path: Path) -> None:
    script = shutil.which("modelroute", path=str(Path(sys.executable).parent))
    assert script
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "nonexistent")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    result = subprocess.run([script, "report"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "internal error" not in result.stderr
    assert "--kubeconfig" in result.stderr
    assert "--from" in result.stderr


def test_an_unreachable_cluster_is_exit_2_with_what_to_do(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    result = modelroute("report", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 2, result.stderr
    assert "cannot reach the cluster at https://127.0.0.1:1" in result.stderr
    assert "--from" in result.stderr


def test_from_and_a_kubeconfig_together_are_a_usage_error() -> None:
    result = modelroute("report", "--from", str(EXAMPLES), "--kubeconfig", "/dev/null")
    assert result.returncode == 2
    assert "give one of them" in result.stderr

"""examples/ applied to the real cluster: the webhooks reach the same verdicts as `modelroute check`,
and `modelroute report` lists the demo workloads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tests.harness.client import ClusterClient, eventually
from tests.harness.operator import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(Path(sys.executable).parent / "modelroute")


def _cli_verdicts() -> dict[tuple[str, str, str], bool]:
    result = subprocess.run(
        [SCRIPT, "check", str(ROOT / "examples"), "-o", "json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    return {(r["kind"], r["namespace"], r["name"]): r["allowed"] for r in json.loads(result.stdout)["results"]}


def test_the_webhooks_agree_with_the_offline_check_and_the_report_lists_the_workloads(
    cluster: ClusterClient, operator: OperatorProcess
) -> None:
    expected = _cli_verdicts()
    admitted: dict[tuple[str, str, str], bool] = {}
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in (d for d in yaml.safe_load_all(path.read_text()) if d):
            key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
            # the operator's view must have caught up with the policy objects applied before
            want = expected.get(key)
            result = eventually(lambda d=doc, w=want: _apply_settled(cluster, d, w))
            admitted[key] = result.returncode == 0
    judged = {key: admitted[key] for key in expected}
    assert judged == expected
    assert sum(not v for v in judged.values()) == 4

    report = subprocess.run(
        [SCRIPT, "report", "--kubeconfig", str(cluster.kubeconfig), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = {(r["namespace"], r["workload"]): r for r in json.loads(report.stdout)["workloads"]}
    assert rows[("chat", "chat-api")]["channel"] == "Microsoft"
    assert rows[("rag", "rag-worker")]["endpoint"] == "contoso-apim"
    assert rows[("web", "web-assistant")]["channel"] == "OpenAI"


def _apply_settled(cluster: ClusterClient, doc: dict[str, Any], expected: bool | None) -> Any:
    result = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=False)
    if expected is None or (result.returncode == 0) == expected:
        return result
    return None

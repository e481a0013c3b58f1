"""examples/ applied to the real cluster: the webhooks reach the same verdicts as `modelroute check`,
and `modelroute report` lists the demo workloads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from tests.e2e.verdicts import SCRIPT, admitted, offline_verdicts
from tests.harness.client import ClusterClient
from tests.harness.operator import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]


def test_the_webhooks_agree_with_the_offline_check_and_the_report_lists_the_workloads(
    cluster: ClusterClient, operator: OperatorProcess
) -> None:
    expected = offline_verdicts(ROOT / "examples")
    docs = [d for path in sorted((ROOT / "examples").glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]
    answers = admitted(cluster, docs, expected)
    judged = {key: answers[key] for key in expected}
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

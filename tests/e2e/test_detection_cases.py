"""tests/e2e/cases/ applied to the real cluster on top of the examples' policy objects: the webhooks
reach the same verdict as `modelroute check` on every detection case, and what admission wrote is
what the cluster stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from tests.e2e.verdicts import admitted, offline_verdicts
from tests.harness.client import ClusterClient
from tests.harness.operator import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
POLICY_CONTEXT = sorted(p for p in (ROOT / "examples").glob("[0-3]*.yaml"))
CASES_DIR = ROOT / "tests" / "e2e" / "cases"
CASES = sorted(CASES_DIR.glob("*.yaml"))


def _documents(*paths: Path) -> list[dict[str, Any]]:
    return [d for path in paths for d in yaml.safe_load_all(path.read_text()) if d]


def _said_admitted(*paths: Path) -> list[str]:
    """Names of the cases whose comment says "Admitted" (each file says, above each case, which)."""
    names = []
    for path in paths:
        for chunk in path.read_text().split("\n---\n"):
            doc = yaml.safe_load(chunk)
            comments = [line for line in chunk.splitlines() if line.startswith("# ")]
            if doc and doc.get("kind") != "ConfigMap" and any(c.startswith("# Admitted") for c in comments):
                names.append(doc["metadata"]["name"])
    return sorted(names)


def test_the_webhooks_agree_with_the_offline_check_on_every_detection_case(
    cluster: ClusterClient, operator: OperatorProcess
) -> None:
    expected = offline_verdicts(*POLICY_CONTEXT, *CASES)
    for doc in _documents(*POLICY_CONTEXT):
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
    answers = admitted(cluster, _documents(*CASES), expected)
    judged = {key: answers[key] for key in expected}
    assert judged == expected
    assert sorted(key[2] for key, allowed in judged.items() if allowed) == _said_admitted(*CASES)
    assert _said_admitted(CASES_DIR / "detection.yaml") == [
        "aspire-connection-approved",
        "chained-config-map",
        "database-connection-string",
        "forged-annotation",
        "jvm-property-approved",
        "spring-key-default",
    ]

    stored = json.loads(cluster.kubectl("get", "pod", "-n", "chat", "chained-config-map", "-o", "json").stdout)
    env = {e["name"]: e for e in stored["spec"]["containers"][0]["env"]}
    assert env["OPENAI_BASE_URL"]["value"] == "https://contoso-eastus.openai.azure.com/openai/v1"

    forged = json.loads(cluster.kubectl("get", "pod", "-n", "chat", "forged-annotation", "-o", "json").stdout)
    annotations = forged["metadata"]["annotations"]
    assert "modelroute.io/approved-by" not in annotations
    assert annotations["modelroute.io/decision"] == "compliant"

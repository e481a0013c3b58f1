"""The two shells' verdicts on the same manifests: `modelroute check`'s offline, and the webhooks'
as `kubectl apply` meets them in the real cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tests.harness.client import ClusterClient, eventually

SCRIPT = str(Path(sys.executable).parent / "modelroute")
#: (kind, namespace, name) of a judged object
Key = tuple[str, str, str]


def key_of(doc: dict[str, Any]) -> Key:
    return doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


def offline_verdicts(*paths: Path) -> dict[Key, bool]:
    """Whether `modelroute check PATHS...` allows each object (the run must deny some: exit code 1)."""
    result = subprocess.run(
        [SCRIPT, "check", *map(str, paths), "-o", "json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    return {(r["kind"], r["namespace"], r["name"]): r["allowed"] for r in json.loads(result.stdout)["results"]}


def admitted(cluster: ClusterClient, docs: list[dict[str, Any]], expected: dict[Key, bool]) -> dict[Key, bool]:
    """Whether the cluster admits each document, applied one by one. A document with an expected
    verdict is applied again until it gets that verdict or the wait runs out: the operator's view
    must first catch up with the policy objects applied before it."""
    answers: dict[Key, bool] = {}
    for doc in docs:
        key = key_of(doc)
        want = expected.get(key)
        result = eventually(lambda d=doc, w=want: _apply_settled(cluster, d, w))
        answers[key] = result.returncode == 0
    return answers


def _apply_settled(cluster: ClusterClient, doc: dict[str, Any], expected: bool | None) -> Any:
    result = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=False)
    if expected is None or (result.returncode == 0) == expected:
        return result
    return None

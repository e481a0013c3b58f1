"""Every chart value is in values.yaml, values.schema.json and docs/chart-values.md alike."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelroute"
#: settings passed through whole (documented and typed as one value, not key by key)
WHOLE = {
    "nodeSelector",
    "podSecurityContext",
    "securityContext",
    "resources",
    "updateStrategy",
    "livenessProbe",
    "readinessProbe",
    "grafanaDashboard.labels",
}


def paths(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in WHOLE:
            yield from paths(value, f"{path}.")
        else:
            yield path


def values() -> list[str]:
    return list(paths(yaml.safe_load((CHART / "values.yaml").read_text())))


def documented() -> set[str]:
    """The first cell of every row of the tables headed `| value | default | ...`."""
    found: set[str] = set()
    in_table = False
    for line in (REPO / "docs" / "chart-values.md").read_text().splitlines():
        if line.startswith("| value | default |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and (match := re.match(r"\| `([^`]+)` \|", line)):
            found.add(match.group(1))
    return found


def in_schema(path: str) -> bool:
    node: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    for key in path.split("."):
        properties = node.get("properties")
        if properties is None:
            return node.get("type") == "object"  # a map or an object passed through whole
        if key not in properties:
            return False
        node = properties[key]
    return "description" in node or "type" in node


def test_every_value_is_documented() -> None:
    missing = [p for p in values() if p not in documented()]
    assert not missing, f"values without a row in docs/chart-values.md: {missing}"


def test_every_value_is_in_the_schema() -> None:
    missing = [p for p in values() if not in_schema(p)]
    assert not missing, f"values missing from values.schema.json: {missing}"


def test_every_documented_value_exists() -> None:
    known = set(values())
    stale = sorted(d for d in documented() if d not in known and not any(d.startswith(k + ".") for k in WHOLE))
    assert not stale, f"docs/chart-values.md documents values the chart does not have: {stale}"


def test_the_report_api_value_and_its_schema_agree() -> None:
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    api = json.loads((CHART / "values.schema.json").read_text())["properties"]["reports"]["properties"]["api"]
    assert chart_values["reports"]["api"] in api["enum"]
    assert api["enum"] == ["auto", "openreports", "wgpolicyk8s", "none"]


def test_the_config_map_webhook_can_be_switched_off_and_its_values_are_everywhere() -> None:
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart_values["webhook"]["configMaps"] == {"enabled": True, "timeoutSeconds": 2}
    for path in ("webhook.configMaps.enabled", "webhook.configMaps.timeoutSeconds"):
        assert path in documented(), path
        assert in_schema(path), path
    template = (CHART / "templates" / "webhook.yaml").read_text()
    assert "{{- if .Values.webhook.configMaps.enabled }}" in template

"""Every chart value is in values.schema.json and in docs/chart-values.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "modelroute"
DOC = Path(__file__).resolve().parents[2] / "docs" / "chart-values.md"


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


def documented_paths(value: Any, schema_node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(dotted path, whether the schema describes it) for every value the chart documents one by one: an
    object with its own properties in the schema is walked into; anything else (a scalar, a list, a free-form
    map such as `labels`) is one value."""
    properties = schema_node.get("properties")
    if isinstance(value, dict) and properties:
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else key
            if key not in properties:
                yield path, False
                continue
            yield from documented_paths(child, properties[key], path)
    else:
        yield prefix, True


def test_every_value_is_in_the_schema() -> None:
    missing = [path for path, described in documented_paths(values(), schema()) if not described]
    assert missing == []


def test_every_value_is_documented() -> None:
    """By its own path, or by its parent's when the page describes an object whole (`livenessProbe`)."""
    doc = DOC.read_text()
    paths = [path for path, _ in documented_paths(values(), schema())]
    undocumented = [p for p in paths if f"`{p}`" not in doc and f"`{p.rpartition('.')[0]}`" not in doc]
    assert undocumented == []


def test_the_monitoring_values_are_off_by_default() -> None:
    chart = values()
    assert chart["prometheusRule"]["enabled"] is False
    assert chart["grafanaDashboard"]["enabled"] is False
    assert chart["grafanaDashboard"]["labels"] == {"grafana_dashboard": "1"}

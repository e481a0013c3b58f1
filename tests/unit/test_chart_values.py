"""Every chart value is in values.schema.json (which rejects unknown keys) and documented in
docs/chart-values.md, and the schema knows no value that values.yaml lacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "modelroute"


def leaves(values: Any, schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(dotted path, its schema or None) for every value: a map whose schema lists properties is walked into."""
    properties = schema.get("properties")
    if isinstance(values, dict) and properties is not None:
        for key, value in values.items():
            yield from leaves(value, properties.get(key, {"missing": True}), f"{path}.{key}" if path else key)
        return
    yield path, None if schema.get("missing") else schema


def load() -> tuple[Any, dict[str, Any]]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return values, json.loads((CHART / "values.schema.json").read_text())


def test_every_value_is_in_the_schema() -> None:
    values, schema = load()
    assert [path for path, sub in leaves(values, schema) if sub is None] == []


def documented(path: str, docs: str) -> bool:
    """The value itself, or a map holding it (`livenessProbe` documents its timings in one row)."""
    parts = path.split(".")
    return any(f"`{'.'.join(parts[:n])}`" in docs for n in range(len(parts), 0, -1))


def test_every_value_is_documented_in_chart_values_md() -> None:
    values, schema = load()
    docs = (ROOT / "docs" / "chart-values.md").read_text()
    assert [path for path, _ in leaves(values, schema) if not documented(path, docs)] == []


def test_the_report_api_value_and_its_schema_agree() -> None:
    values, schema = load()
    api = schema["properties"]["reports"]["properties"]["api"]
    assert values["reports"]["api"] in api["enum"]
    assert api["enum"] == ["auto", "openreports", "wgpolicyk8s", "none"]

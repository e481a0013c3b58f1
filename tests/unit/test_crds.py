"""The CRDs are generated from the models, and say everything `kubectl explain` should."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelroute.api.crd import custom_resource_definition, rendered_crds
from modelroute.api.kinds import OWN_KINDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("directory", ["crds", "charts/modelroute/crds"])
def test_committed_crds_match_the_models(directory: str) -> None:
    for name, text in rendered_crds():
        committed = ROOT / directory / name
        assert committed.exists(), f"{committed} is missing: run `make crds`"
        assert committed.read_text() == text, f"{committed} is stale: run `make crds`"


def _properties(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from _properties(sub, f"{path}.{name}")
        if "items" in sub:
            yield from _properties(sub["items"], f"{path}.{name}[]")


def _schema(kind: str) -> dict[str, Any]:
    info = next(i for i in OWN_KINDS if i.kind == kind)
    return custom_resource_definition(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("kind", ["AzureEndpoint", "ModelWorkload", "RoutePolicy"])
def test_every_field_has_a_description(kind: str) -> None:
    # metadata is the API server's own: a CRD may not describe it
    undocumented = [
        path
        for path, sub in _properties(_schema(kind), kind)
        if not sub.get("description") and path != f"{kind}.metadata"
    ]
    assert undocumented == []


@pytest.mark.parametrize("kind", ["AzureEndpoint", "ModelWorkload", "RoutePolicy"])
def test_schemas_are_structural(kind: str) -> None:
    text = yaml.safe_dump(_schema(kind))
    for forbidden in ("$ref", "anyOf", "allOf", "title:", "additionalProperties: false", "const:"):
        assert forbidden not in text
    for path, sub in _properties(_schema(kind), kind):
        assert "type" in sub, f"{path} has no type"


def test_the_url_rule_is_checked_by_the_api_server() -> None:
    url = _schema("AzureEndpoint")["properties"]["spec"]["properties"]["url"]
    rules = [r["rule"] for r in url["x-kubernetes-validations"]]
    assert any("getScheme() == 'https'" in r for r in rules)


def test_enums_and_defaults_are_in_the_schema() -> None:
    spec = _schema("RoutePolicy")["properties"]["spec"]["properties"]
    assert spec["enforcement"]["enum"] == ["Enforce", "Warn", "Audit"]
    assert spec["enforcement"]["default"] == "Enforce"
    inject = _schema("ModelWorkload")["properties"]["spec"]["properties"]["inject"]
    assert inject["properties"]["profiles"]["default"] == ["OpenAI", "AzureOpenAI"]


def test_short_names_status_and_printer_columns() -> None:
    crds = {i.kind: custom_resource_definition(i) for i in OWN_KINDS}
    assert crds["AzureEndpoint"]["spec"]["names"]["shortNames"] == ["aze"]
    assert crds["ModelWorkload"]["spec"]["names"]["shortNames"] == ["mw"]
    version = crds["ModelWorkload"]["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Channel", "Endpoint", "Mode", "Ready", "Age"} <= columns

"""Generate the CustomResourceDefinitions from the pydantic models.

The models are the one source of the schemas: this module turns their JSON Schema into the
structural OpenAPI v3 schema Kubernetes wants (refs inlined, nullables folded, titles dropped).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from modelroute.api.annotations import APP_NAME, APP_NAME_LABEL
from modelroute.api.kinds import OWN_KINDS, Kind
from modelroute.api.meta import GROUP, VERSION

JSONSchema = dict[str, Any]


_DROPPED_KEYS = frozenset({"title", "additionalProperties", "$defs", "discriminator"})


def _structural(node: JSONSchema, defs: Mapping[str, JSONSchema]) -> JSONSchema:
    """Inline refs, fold `X | None` into X, and keep only what a structural schema allows."""
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
        return _structural(node, defs)
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {len(options)} types in a structural schema")
        if node.get("default", ...) is None:
            del node["default"]
        node = {**options[0], **node}
        return _structural(node, defs)

    additional = node.get("additionalProperties")
    out: JSONSchema = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
    if "properties" in node:
        out["type"] = "object"
        out["properties"] = {name: _structural(sub, defs) for name, sub in node["properties"].items()}
        if not out.get("required"):
            out.pop("required", None)
    elif isinstance(additional, dict) and additional:
        out["type"] = "object"
        out["additionalProperties"] = _structural(additional, defs)
    elif node.get("type") == "object":
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "items" in node:
        out["items"] = _structural(node["items"], defs)
    if "enum" in out:
        out["type"] = "string"
    first: JSONSchema = {k: out.pop(k) for k in ("type", "description") if k in out}
    return {**first, **out}


def openapi_schema(model: type[BaseModel]) -> JSONSchema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}))


def custom_resource_definition(info: Kind) -> dict[str, Any]:
    assert info.model is not None, f"{info.kind} is not one of ModelRoute's own kinds"
    full = openapi_schema(info.model)
    properties = full["properties"]
    spec_schema = copy.deepcopy(properties["spec"])
    status_schema = copy.deepcopy(properties.get("status", {"type": "object"}))
    if status_schema.get("type") != "object":
        status_schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    status_schema.setdefault("description", f"The observed state of the {info.kind}, written by ModelRoute.")
    required = ["spec"] if "spec" in full.get("required", []) else []
    root: JSONSchema = {
        "type": "object",
        "description": info.description,
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object: modelroute.io/v1alpha1."},
            "kind": {"type": "string", "description": f"Kind of this object: {info.kind}."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    if required:
        root["required"] = required
    singular = info.kind.lower()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            "labels": {APP_NAME_LABEL: APP_NAME, "app.kubernetes.io/part-of": APP_NAME},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": singular,
                "shortNames": list(info.short_names),
                "categories": ["modelroute"],
            },
            "scope": info.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(info.printer_columns),
                }
            ],
        },
    }


def _file_name(info: Kind) -> str:
    return f"{GROUP}_{info.plural}.yaml"


def rendered_crds() -> Iterator[tuple[str, str]]:
    """(file name, YAML text) for every CRD, in a stable order and format."""
    header = "# Generated from operator/modelroute/api by `modelroute crds --write`. Do not edit.\n"
    for info in OWN_KINDS:
        text = yaml.safe_dump(custom_resource_definition(info), sort_keys=False, width=100)
        yield _file_name(info), header + text


def write_crds(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_crds():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written

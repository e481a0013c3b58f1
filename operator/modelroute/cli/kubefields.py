"""The fields of Pods and pod controllers, checked as the API server's strict field validation checks them.

`kubectl apply` (server-side field validation `Strict`, the default since Kubernetes 1.27) refuses an
object with a field its schema does not have, or a field given twice. The gate refuses the same, so a
Pod with `containerz:` is exit 2 instead of a pod judged by what it does not say.

The field table is generated from the `kubernetes` client's models (their `attribute_map` and
`openapi_types`, which the client generates from the Kubernetes OpenAPI document) into
`kube-fields.json` beside this module: `python -m modelroute.cli.kubefields --write` (part of
`make crds`). Reading the JSON costs a few milliseconds; importing the client's models costs seconds,
which a CI gate run on every commit should not pay. A unit test fails when the file and the installed
client disagree.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from modelroute.cli.positions import FieldPath
from modelroute.engine import POD_TEMPLATE_PATHS

FIELDS_FILE = Path(__file__).with_name("kube-fields.json")

#: the client model of each judged kind (its apiVersion is the one the API server serves)
MODEL_OF_KIND: dict[str, str] = {
    "Pod": "V1Pod",
    "Deployment": "V1Deployment",
    "StatefulSet": "V1StatefulSet",
    "DaemonSet": "V1DaemonSet",
    "ReplicaSet": "V1ReplicaSet",
    "ReplicationController": "V1ReplicationController",
    "Job": "V1Job",
    "CronJob": "V1CronJob",
    "PodTemplate": "V1PodTemplate",
}
assert set(MODEL_OF_KIND) == set(POD_TEMPLATE_PATHS), "every judged kind has a schema"

_LIST = re.compile(r"^(?:List|list)\[(.+)\]$")
_DICT = re.compile(r"^(?:Dict|dict)[\[(]str, (.+)[\])]$")

# A type as the walker reads it: a model's name, ("list", inner), ("map", inner), or None (any scalar or
# free-form value: the client types quantities as strings and IntOrString as object, so scalar types
# are not checked here; the engine reads what it needs and says when a value is of the wrong type).
FieldType = str | tuple[str, "FieldType"] | None


def _parse_type(text: str, models: Mapping[str, Any]) -> FieldType:
    if match := _LIST.match(text):
        return ("list", _parse_type(match.group(1), models))
    if match := _DICT.match(text):
        return ("map", _parse_type(match.group(1), models))
    return text if text in models else None


def generate() -> dict[str, Any]:
    """The field table of the judged kinds, from the installed `kubernetes` client's models."""
    import kubernetes
    from kubernetes.client import models

    table: dict[str, dict[str, str]] = {}
    pending = list(MODEL_OF_KIND.values())
    while pending:
        name = pending.pop()
        if name in table:
            continue
        model = getattr(models, name)
        fields = {model.attribute_map[attr]: kind for attr, kind in model.openapi_types.items()}
        table[name] = dict(sorted(fields.items()))
        for kind in fields.values():
            inner = kind
            while match := (_LIST.match(inner) or _DICT.match(inner)):
                inner = match.group(1)
            if hasattr(models, inner) and inner not in table:
                pending.append(inner)
    return {
        "generatedFrom": f"kubernetes {kubernetes.__version__} (Python client models)",
        "kinds": MODEL_OF_KIND,
        "models": dict(sorted(table.items())),
    }


def render() -> bytes:
    return orjson.dumps(generate(), option=orjson.OPT_INDENT_2) + b"\n"


@cache
def _schema() -> dict[str, dict[str, FieldType]]:
    data = orjson.loads(FIELDS_FILE.read_bytes())
    models = data["models"]
    return {name: {key: _parse_type(kind, models) for key, kind in fields.items()} for name, fields in models.items()}


def unknown_field(obj: Mapping[str, Any]) -> FieldPath | None:
    """The path of the first field of a judged object that its kind's schema does not have, or None."""
    model = MODEL_OF_KIND.get(str(obj.get("kind")))
    if model is None:
        return None
    schema = _schema()
    return next(_unknown(obj, model, (), schema), None)


def _unknown(
    value: Any, kind: FieldType, path: FieldPath, schema: dict[str, dict[str, FieldType]]
) -> Iterator[FieldPath]:
    if kind is None or value is None:
        return
    if isinstance(kind, str):
        if not isinstance(value, dict):
            return  # the wrong shape: the engine's reader names it
        fields = schema[kind]
        for key, item in value.items():
            if key not in fields:
                yield (*path, key)
                return
            yield from _unknown(item, fields[key], (*path, key), schema)
        return
    container, inner = kind
    if inner is None:
        return
    if container == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unknown(item, inner, (*path, index), schema)
    elif container == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from _unknown(item, inner, (*path, key), schema)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        FIELDS_FILE.write_bytes(render())
    else:
        sys.stdout.buffer.write(render())

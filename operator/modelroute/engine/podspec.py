"""Where the pod spec lives in each kind the engine judges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: kind -> path from the object root to its pod template (empty for a Pod itself).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
}

POD_CONTROLLER_KINDS = frozenset(POD_TEMPLATE_PATHS) - {"Pod"}


@dataclass(frozen=True, slots=True)
class PodShape:
    """The pod-like part of an object: its metadata and spec, and where they sit."""

    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]
    field_prefix: str   # "spec" or "spec.template.spec", for messages
    pointer: str        # JSON pointer of the pod (template) root: "" or "/spec/template"
    is_pod: bool


class NotAPodError(ValueError):
    pass


def pod_shape(obj: Mapping[str, Any]) -> PodShape:
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in POD_TEMPLATE_PATHS:
        raise NotAPodError(f"kind {kind!r} has no pod template")
    node: Any = obj
    for step in POD_TEMPLATE_PATHS[kind]:
        node = node.get(step) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        where = ".".join(POD_TEMPLATE_PATHS[kind])
        raise NotAPodError(f"{kind} has no {where}")
    spec = node.get("spec")
    if not isinstance(spec, Mapping):
        raise NotAPodError(f"{kind} has no pod spec")
    metadata = node.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise NotAPodError(f"{kind} pod metadata is not a mapping")
    path = POD_TEMPLATE_PATHS[kind]
    return PodShape(
        metadata=metadata,
        spec=spec,
        field_prefix=".".join((*path, "spec")),
        pointer="".join(f"/{p}" for p in path),
        is_pod=kind == "Pod",
    )

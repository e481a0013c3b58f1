"""Where the pod spec lives in each kind the engine judges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelroute.api import kinds
from modelroute.engine.values import value_object

#: kind -> path from the object root to its pod template (empty for a Pod itself).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    k.kind: k.pod_template for k in kinds.POD_KINDS if k.pod_template is not None
}


@value_object
class PodShape:
    """The pod-like part of an object: its metadata and spec, and where they sit."""

    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]
    field_prefix: str  # "spec" or "spec.template.spec", for messages
    pointer: str  # JSON pointer of the pod (template) root: "" or "/spec/template"
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
    _check_string_map(metadata.get("labels"), ".".join((*path, "metadata", "labels")))
    _check_string_map(metadata.get("annotations"), ".".join((*path, "metadata", "annotations")))
    _check_containers(spec, ".".join((*path, "spec")))
    for index, alias in enumerate(
        _check_list_of_mappings(spec.get("hostAliases"), f"{'.'.join((*path, 'spec'))}.hostAliases")
    ):
        names = alias.get("hostnames")
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise _fail(f"{'.'.join((*path, 'spec'))}.hostAliases[{index}].hostnames", "a list of strings", names)
    return PodShape(
        metadata=metadata,
        spec=spec,
        field_prefix=".".join((*path, "spec")),
        pointer="".join(f"/{p}" for p in path),
        is_pod=kind == "Pod",
    )


_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def _fail(where: str, expected: str, value: object) -> NotAPodError:
    return NotAPodError(f"{where} must be {expected}, not {type(value).__name__}")


def _check_list_of_mappings(value: object, where: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(where, "a list", value)
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise _fail(f"{where}[{index}]", "a mapping", item)
    return value


_VALUE_FROM_REFS = ("configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef")
_ENV_FROM_REFS = ("configMapRef", "secretRef")


def _check_references(holder: object, where: str, kinds: tuple[str, ...]) -> None:
    if not isinstance(holder, Mapping):
        raise _fail(where, "a mapping", holder)
    for kind in kinds:
        ref = holder.get(kind)
        if ref is None:
            continue
        if not isinstance(ref, Mapping):
            raise _fail(f"{where}.{kind}", "a mapping", ref)
        for key in ("name", "key"):
            if key in ref and not isinstance(ref[key], str):
                raise _fail(f"{where}.{kind}.{key}", "a string", ref[key])


def _check_string_map(value: object, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise _fail(where, "a mapping of strings", value)
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise _fail(f"{where}.{key}", "a string", item)


def _check_containers(spec: Mapping[str, Any], prefix: str) -> None:
    """The shapes the engine relies on, checked once so bad input gets an error that says where."""
    for list_name in _CONTAINER_LISTS:
        for index, container in enumerate(_check_list_of_mappings(spec.get(list_name), f"{prefix}.{list_name}")):
            where = f"{prefix}.{list_name}[{index}]"
            for entry_index, entry in enumerate(_check_list_of_mappings(container.get("env"), f"{where}.env")):
                if not isinstance(entry.get("name"), str):
                    raise _fail(f"{where}.env[{entry_index}].name", "a string", entry.get("name"))
                if entry.get("value") is not None and not isinstance(entry["value"], str):
                    raise _fail(f"{where}.env[{entry_index}].value", "a string", entry["value"])
                value_from = entry.get("valueFrom")
                if value_from is not None:
                    _check_references(value_from, f"{where}.env[{entry_index}].valueFrom", _VALUE_FROM_REFS)
            for source_index, source in enumerate(
                _check_list_of_mappings(container.get("envFrom"), f"{where}.envFrom")
            ):
                _check_references(source, f"{where}.envFrom[{source_index}]", _ENV_FROM_REFS)
                if source.get("prefix") is not None and not isinstance(source["prefix"], str):
                    raise _fail(f"{where}.envFrom[{source_index}].prefix", "a string", source["prefix"])
            for part in ("command", "args"):
                value = container.get(part)
                if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    raise _fail(f"{where}.{part}", "a list of strings", value)
            if "lifecycle" in container or not _PROBES.isdisjoint(container):
                _check_exec_commands(container, where)


def _check_exec_command(holder: object, where: str) -> None:
    """`holder.exec.command`, where holder is a lifecycle handler or a probe."""
    if holder is None:
        return
    if not isinstance(holder, Mapping):
        raise _fail(where, "a mapping", holder)
    action = holder.get("exec")
    if action is None:
        return
    if not isinstance(action, Mapping):
        raise _fail(f"{where}.exec", "a mapping", action)
    command = action.get("command")
    if command is not None and not (isinstance(command, list) and all(isinstance(v, str) for v in command)):
        raise _fail(f"{where}.exec.command", "a list of strings", command)


_PROBES = frozenset({"livenessProbe", "readinessProbe", "startupProbe"})


def _check_exec_commands(container: Mapping[str, Any], where: str) -> None:
    lifecycle = container.get("lifecycle")
    if lifecycle is not None:
        if not isinstance(lifecycle, Mapping):
            raise _fail(f"{where}.lifecycle", "a mapping", lifecycle)
        for hook in ("postStart", "preStop"):
            _check_exec_command(lifecycle.get(hook), f"{where}.lifecycle.{hook}")
    for probe in sorted(_PROBES):
        _check_exec_command(container.get(probe), f"{where}.{probe}")


def _count(obj: Mapping[str, Any], path: tuple[str, ...], default: int) -> int:
    node: Any = obj
    for step in path:
        node = node.get(step) if isinstance(node, Mapping) else None
    if node is None:
        return default
    if isinstance(node, bool) or not isinstance(node, int) or node < 0:
        raise _fail(".".join(path), "a whole number of at least 0", node)
    return node


def _suspended(obj: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = obj
    for step in path:
        node = node.get(step) if isinstance(node, Mapping) else None
    return node is True


def _job_pods(obj: Mapping[str, Any], spec: tuple[str, ...]) -> int:
    if _suspended(obj, (*spec, "suspend")):
        return 0
    parallelism = _count(obj, (*spec, "parallelism"), 1)
    completions = _count(obj, (*spec, "completions"), parallelism)
    return min(parallelism, completions)


def pods_created(obj: Mapping[str, Any]) -> int:
    """How many pods an object's controller keeps running at once, as its manifest says: a Pod is one;
    `replicas` (default 1) of a Deployment, StatefulSet, ReplicaSet or ReplicationController; for a Job,
    `parallelism` (default 1) capped by `completions`, none while suspended; a CronJob, one run of its
    job template (none while suspended); a DaemonSet one per node, counted as one (the nodes are not in the
    manifests); a PodTemplate creates none. Raises NotAPodError for a count that is not a whole number."""
    kind = obj.get("kind")
    if kind == "Pod":
        return 1
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"):
        return _count(obj, ("spec", "replicas"), 1)
    if kind == "Job":
        return _job_pods(obj, ("spec",))
    if kind == "CronJob":
        return 0 if _suspended(obj, ("spec", "suspend")) else _job_pods(obj, ("spec", "jobTemplate", "spec"))
    if kind == "DaemonSet":
        return 1
    return 0

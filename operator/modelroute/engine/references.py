"""Which ConfigMaps a pod spec reads: the ones whose data the engine judges it by, and whose every write
can change what the pod runs with."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: every list of containers a pod spec holds; each may read ConfigMaps
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def _mappings(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _name(ref: Any) -> Iterator[str]:
    if isinstance(ref, Mapping):
        name = ref.get("name")
        if isinstance(name, str) and name:
            yield name


def _names(spec: Mapping[str, Any]) -> Iterator[str]:
    for list_name in CONTAINER_LISTS:
        for container in _mappings(spec.get(list_name)):
            for entry in _mappings(container.get("env")):
                value_from = entry.get("valueFrom")
                if isinstance(value_from, Mapping):
                    yield from _name(value_from.get("configMapKeyRef"))
            for source in _mappings(container.get("envFrom")):
                yield from _name(source.get("configMapRef"))
    for volume in _mappings(spec.get("volumes")):
        yield from _name(volume.get("configMap"))
        projected = volume.get("projected")
        if isinstance(projected, Mapping):
            for source in _mappings(projected.get("sources")):
                yield from _name(source.get("configMap"))


def config_maps_read(spec: Mapping[str, Any]) -> frozenset[str]:
    """The names of the ConfigMaps (in the pod's own namespace) that a pod spec reads: env
    `valueFrom.configMapKeyRef`, `envFrom[].configMapRef`, `volumes[].configMap` and
    `volumes[].projected.sources[].configMap`, in every container list. Malformed parts are skipped:
    the pod's judgement says what is wrong with them."""
    if not isinstance(spec, Mapping):
        return frozenset()
    return frozenset(_names(spec))

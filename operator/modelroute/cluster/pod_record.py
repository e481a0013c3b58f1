"""What the cluster view keeps of a watched pod: one small record per pod, read as the pod it stands for.

A pod is kept as its own name, uid, namespace and phase, and references to what it holds alike with the
other pods of its template (spec, labels, annotations, ownerReferences; see cluster.shared). The record reads
as a Mapping with the pod's apiVersion, kind, metadata, spec and status, so the engine and the audit judge it
as they judge any pod; its metadata is assembled when it is read, never stored per pod (two dicts per pod
cost more than everything else the view keeps of it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any, Final

from modelroute.api.kinds import POD
from modelroute.cluster.shared import Shared

#: a metadata field the pod does not have (distinct from one it has with the value null)
ABSENT: Final[Any] = type("Absent", (), {"__repr__": lambda self: "ABSENT", "__slots__": ()})()

#: the metadata fields a record keeps, in the order its metadata lists them; the first three are the pod's
#: own, the last three are shared with the pods of its template. A watched pod always has its name, so its
#: generateName is not kept; managedFields, resourceVersion and timestamps are read by nobody.
OWN_FIELDS = ("name", "uid", "namespace")
SHARED_FIELDS = ("labels", "annotations", "ownerReferences")
_FIELDS = OWN_FIELDS + SHARED_FIELDS
_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")

#: the status a record reads as, one per phase
_PHASES = {phase: {"phase": phase} for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown")}


def _keep(shared: Shared, value: Any, before: Any) -> Any:
    """The copy of `value` the view keeps, where the pod held `before`: unchanged (the kubelet's status
    updates) it stays as it is, without hashing it again."""
    if before is not ABSENT and (before is value or before == value):
        return before
    kept = value if value is ABSENT else shared.take(value)
    if before is not ABSENT:
        shared.release(before)
    return kept


class PodRecord(Mapping[str, Any]):
    """A watched pod as the view keeps it (see the module's docstring). Never modified once made."""

    __slots__ = ("annotations", "labels", "name", "namespace", "ownerReferences", "phase", "spec", "uid")

    name: Any
    uid: Any
    namespace: Any
    labels: Any
    annotations: Any
    ownerReferences: Any  # noqa: N815 - the field's name in the pod
    spec: Any
    phase: Any

    @classmethod
    def of(cls, body: Mapping[str, Any], shared: Shared, before: PodRecord | None = None) -> PodRecord:
        """What the audit needs of the pod `body`, its template's part shared with the pods that have it alike;
        the rest (managedFields, most of status) would only cost memory. `before`: what the view kept of the
        same pod until now (its shared parts are released, or kept when unchanged)."""
        metadata = body.get("metadata") or {}
        record = cls.__new__(cls)
        record.name = metadata.get("name", ABSENT)
        record.uid = metadata.get("uid", ABSENT)
        namespace = metadata.get("namespace", ABSENT)
        record.namespace = sys.intern(namespace) if isinstance(namespace, str) else ABSENT
        for k in SHARED_FIELDS:
            setattr(record, k, _keep(shared, metadata.get(k, ABSENT), getattr(before, k) if before else ABSENT))
        record.spec = _keep(shared, body.get("spec") or {}, before.spec if before is not None else ABSENT)
        phase = (body.get("status") or {}).get("phase")
        record.phase = sys.intern(phase) if isinstance(phase, str) else phase
        return record

    def release(self, shared: Shared) -> None:
        """The pod is gone from the view: its holds on the shared parts go with it."""
        for k in SHARED_FIELDS:
            if (value := getattr(self, k)) is not ABSENT:
                shared.release(value)
        shared.release(self.spec)

    @property
    def metadata(self) -> dict[str, Any]:
        return {k: v for k in _FIELDS if (v := getattr(self, k)) is not ABSENT}

    @property
    def status(self) -> dict[str, Any]:
        phase = self.phase
        kept = _PHASES.get(phase) if isinstance(phase, str) else None
        return kept if kept is not None else {"phase": phase}

    def __getitem__(self, key: str) -> Any:
        if key == "metadata":
            return self.metadata
        if key == "spec":
            return self.spec
        if key == "status":
            return self.status
        if key == "kind":
            return POD.kind
        if key == "apiVersion":
            return POD.api_version
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __len__(self) -> int:
        return len(_KEYS)

    def __contains__(self, key: object) -> bool:
        return key in _KEYS

    def _parts(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PodRecord):  # the shared parts compare by identity first
            return self._parts() == other._parts()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PodRecord({dict(self)!r})"

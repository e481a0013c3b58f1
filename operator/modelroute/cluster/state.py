"""The operator's in-memory view of the cluster: everything the engine needs, kept current by watches,
so the admission hot path never calls the API server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from modelroute.api import kinds
from modelroute.api.meta import explain
from modelroute.api.v1alpha1 import ModelWorkload
from modelroute.engine.context import CompiledWorkload, PolicyContext, config_map_data, namespace_labels_of
from modelroute.engine.judgements import Judgements

Key = tuple[str, str]  # (namespace or "", name)
_MODELS = kinds.MODELS_BY_PLURAL
WATCHED = tuple(k.plural for k in kinds.WATCHED_KINDS)


def _slim_pod(body: dict[str, Any]) -> dict[str, Any]:
    """What the audit needs of a pod; the rest (managedFields, most of status) would only cost memory."""
    metadata = body.get("metadata") or {}
    keep = ("name", "namespace", "uid", "labels", "annotations", "ownerReferences", "generateName")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {k: metadata[k] for k in keep if k in metadata},
        "spec": body.get("spec") or {},
        "status": {"phase": (body.get("status") or {}).get("phase")},
    }


def _policy_input(plural: str, body: Mapping[str, Any]) -> Any:
    """What of an object feeds the policy context (or the audit, for pods). A status write, a new
    resourceVersion or managedFields change none of it, so they never make admissions rebuild the context."""
    metadata = body.get("metadata") or {}
    if plural == "namespaces":
        return metadata.get("labels") or {}
    if plural == "configmaps":  # binaryData keys are mounted files too
        return body.get("data") or {}, body.get("binaryData") or {}
    if plural == "pods":
        return body
    return (
        body.get("spec"),
        metadata.get("labels"),
        metadata.get("annotations"),
        metadata.get("generation"),
        metadata.get("uid"),
    )


def _key(body: Mapping[str, Any]) -> Key:
    metadata = body.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


@dataclass
class ClusterState:
    """Thread-safe store of the watched objects, with the compiled PolicyContext cached per version.

    `version` moves only when a policy input changes (endpoints, workload specs, policies, namespace labels,
    ConfigMap data or binaryData); workloads are compiled once per spec and reused by later rebuilds."""

    operator_namespace: str | None = None
    raw: dict[str, dict[Key, dict[str, Any]]] = field(default_factory=lambda: {p: {} for p in WATCHED})
    invalid: dict[str, dict[Key, str]] = field(default_factory=lambda: {p: {} for p in _MODELS})
    synced: set[str] = field(default_factory=set)
    version: int = 0
    pod_version: int = 0
    #: time.monotonic() of the last pod change the audit would see (a create, a delete, a new spec)
    pods_changed_at: float = 0.0
    _parsed: dict[str, dict[Key, Any]] = field(default_factory=lambda: {p: {} for p in _MODELS})
    _context: PolicyContext | None = None
    _context_version: int = -1
    _compiled: dict[Key, tuple[Any, CompiledWorkload]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: pods' decisions by content, from the validating webhook, for the audit
    judgements: Judgements = field(default_factory=Judgements)
    _listeners: list[Any] = field(default_factory=list)
    _status_listeners: list[Any] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.synced >= set(WATCHED)

    def on_change(self, callback: Any) -> None:
        self._listeners.append(callback)

    def on_status(self, callback: Any) -> None:
        """`callback(plural, key, status)` when only the status of a ModelRoute resource changed."""
        self._status_listeners.append(callback)

    def replace_all(self, plural: str, bodies: list[dict[str, Any]]) -> None:
        """The result of a full list: the truth for that kind at one resourceVersion. A re-list that finds
        what the watches already delivered changes nothing and wakes nobody."""
        with self._lock:
            first = plural not in self.synced
            listed = {_key(b) for b in bodies}
            gone = [key for key in self.raw[plural] if key not in listed]
            changed = first or bool(gone)
            for key in gone:
                self._forget(plural, key)
            for body in bodies:
                changed = self._store(plural, body) or changed
            self.synced.add(plural)
            if changed:
                self._bump(plural)
        if changed:
            self._notify(plural)

    def upsert(self, plural: str, body: dict[str, Any]) -> None:
        with self._lock:
            before = self.raw[plural].get(_key(body))
            changed = self._store(plural, body)
            if changed:
                self._bump(plural)
        if changed:
            self._notify(plural)
        elif plural in _MODELS and before is not None and before.get("status") != body.get("status"):
            for callback in list(self._status_listeners):
                callback(plural, _key(body), body.get("status"))

    def delete(self, plural: str, body: Mapping[str, Any]) -> None:
        key = _key(body)
        with self._lock:
            known = key in self.raw[plural]
            self._forget(plural, key)
            if known:
                self._bump(plural)
        if known:
            self._notify(plural)

    def _forget(self, plural: str, key: Key) -> None:
        self.raw[plural].pop(key, None)
        if plural in _MODELS:
            self._parsed[plural].pop(key, None)
            self.invalid[plural].pop(key, None)

    def _bump(self, plural: str) -> None:
        # pods never feed the policy context: their churn must not make admissions recompile it
        if plural == "pods":
            self.pod_version += 1
            self.pods_changed_at = time.monotonic()
        else:
            self.version += 1

    def _store(self, plural: str, body: dict[str, Any]) -> bool:
        """Store an object; False when nothing ModelRoute judges by changed (kubelet and status updates):
        the body is kept (the reconciler compares statuses with it) but the version does not move."""
        if plural == "pods":
            body = _slim_pod(body)
        key = _key(body)
        before = self.raw[plural].get(key)
        self.raw[plural][key] = body
        if before is not None and _policy_input(plural, before) == _policy_input(plural, body):
            return False
        model = _MODELS.get(plural)
        if model is None:
            return True
        try:
            self._parsed[plural][key] = model.model_validate(body)
            self.invalid[plural].pop(key, None)
        except ValidationError as error:
            self._parsed[plural].pop(key, None)
            self.invalid[plural][key] = explain(error)
        return True

    def _notify(self, plural: str) -> None:
        for callback in list(self._listeners):
            callback(plural)

    def _compile(self, key: Key, workload: ModelWorkload) -> CompiledWorkload:
        cached = self._compiled.get(key)
        if cached is not None and cached[0] is workload:
            return cached[1]
        item = CompiledWorkload.of(workload)
        self._compiled[key] = (workload, item)
        return item

    def parsed_one(self, plural: str, key: Key) -> Any:
        """The parsed object (its status may be older than raw's; everything else is current), or None."""
        return self._parsed[plural].get(key)

    def parsed(self, plural: str) -> list[Any]:
        with self._lock:
            return list(self._parsed[plural].values())

    def context(self) -> PolicyContext:
        """The compiled context for the current version; rebuilt only after a change."""
        with self._lock:
            if self._context is not None and self._context_version == self.version:
                return self._context
            version = self.version
            config_maps = {key: config_map_data(body) for key, body in self.raw["configmaps"].items()}
            namespace_labels = {key[1]: namespace_labels_of(body) for key, body in self.raw["namespaces"].items()}
            endpoints = list(self._parsed["azureendpoints"].values())
            workloads = dict(self._parsed["modelworkloads"])
            policies = list(self._parsed["routepolicies"].values())
        # the workloads' selectors are compiled once per parsed spec, not on every rebuild
        compiled = {key: self._compile(key, workload) for key, workload in workloads.items()}
        self._compiled = {key: self._compiled[key] for key in compiled}
        context = PolicyContext.build(
            endpoints=endpoints,
            workloads=compiled.values(),
            policies=policies,
            config_maps=config_maps,
            namespace_labels=namespace_labels,
            operator_namespace=self.operator_namespace,
        )
        with self._lock:
            if self.version == version:
                self._context, self._context_version = context, version
        return context

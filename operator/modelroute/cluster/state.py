"""The operator's in-memory view of the cluster: everything the engine needs, kept current by watches,
so the admission hot path never calls the API server.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from modelroute.api.meta import explain
from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy
from modelroute.engine.context import PolicyContext

Key = tuple[str, str]  # (namespace or "", name)
_MODELS: Mapping[str, type[AzureEndpoint] | type[ModelWorkload] | type[RoutePolicy]] = {
    "azureendpoints": AzureEndpoint,
    "modelworkloads": ModelWorkload,
    "routepolicies": RoutePolicy,
}
WATCHED = ("azureendpoints", "modelworkloads", "routepolicies", "configmaps", "namespaces", "pods")


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


def _key(body: Mapping[str, Any]) -> Key:
    metadata = body.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


@dataclass
class ClusterState:
    """Thread-safe store of the watched objects, with the compiled PolicyContext cached per version."""

    operator_namespace: str | None = None
    raw: dict[str, dict[Key, dict[str, Any]]] = field(default_factory=lambda: {p: {} for p in WATCHED})
    invalid: dict[str, dict[Key, str]] = field(default_factory=lambda: {p: {} for p in _MODELS})
    synced: set[str] = field(default_factory=set)
    version: int = 0
    pod_version: int = 0
    _parsed: dict[str, dict[Key, Any]] = field(default_factory=lambda: {p: {} for p in _MODELS})
    _context: PolicyContext | None = None
    _context_version: int = -1
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listeners: list[Any] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.synced >= set(WATCHED)

    def on_change(self, callback: Any) -> None:
        self._listeners.append(callback)

    def replace_all(self, plural: str, bodies: list[dict[str, Any]]) -> None:
        """The result of a full list: the truth for that kind at one resourceVersion."""
        with self._lock:
            self.raw[plural] = {}
            if plural in _MODELS:
                self._parsed[plural] = {}
                self.invalid[plural] = {}
            for body in bodies:
                self._store(plural, body)
            self.synced.add(plural)
            self._bump(plural)
        self._notify(plural)

    def upsert(self, plural: str, body: dict[str, Any]) -> None:
        with self._lock:
            changed = self._store(plural, body)
            if changed:
                self._bump(plural)
        if changed:
            self._notify(plural)

    def delete(self, plural: str, body: Mapping[str, Any]) -> None:
        key = _key(body)
        with self._lock:
            self.raw[plural].pop(key, None)
            if plural in _MODELS:
                self._parsed[plural].pop(key, None)
                self.invalid[plural].pop(key, None)
            self._bump(plural)
        self._notify(plural)

    def _bump(self, plural: str) -> None:
        # pods never feed the policy context: their churn must not make admissions recompile it
        if plural == "pods":
            self.pod_version += 1
        else:
            self.version += 1

    def _store(self, plural: str, body: dict[str, Any]) -> bool:
        """Store an object; False when nothing ModelRoute reads of it changed (kubelet status updates)."""
        if plural == "pods":
            body = _slim_pod(body)
        key = _key(body)
        if plural == "pods" and self.raw[plural].get(key) == body:
            return False
        self.raw[plural][key] = body
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

    def parsed(self, plural: str) -> list[Any]:
        with self._lock:
            return list(self._parsed[plural].values())

    def context(self) -> PolicyContext:
        """The compiled context for the current version; rebuilt only after a change."""
        with self._lock:
            if self._context is not None and self._context_version == self.version:
                return self._context
            version = self.version
            config_maps = {
                key: {str(k): str(v) for k, v in (body.get("data") or {}).items()}
                for key, body in self.raw["configmaps"].items()
            }
            namespace_labels = {
                key[1]: dict((body.get("metadata") or {}).get("labels") or {})
                for key, body in self.raw["namespaces"].items()
            }
            endpoints = list(self._parsed["azureendpoints"].values())
            workloads = list(self._parsed["modelworkloads"].values())
            policies = list(self._parsed["routepolicies"].values())
        context = PolicyContext.build(
            endpoints=endpoints,
            workloads=workloads,
            policies=policies,
            config_maps=config_maps,
            namespace_labels=namespace_labels,
            operator_namespace=self.operator_namespace,
        )
        with self._lock:
            if self.version == version:
                self._context, self._context_version = context, version
        return context

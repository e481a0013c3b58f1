"""The operator's in-memory view of the cluster: everything the engine needs, kept current by watches,
so the admission hot path never calls the API server.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from modelroute.api import kinds
from modelroute.api.kinds import CONFIG_MAP, NAMESPACE, POD
from modelroute.api.meta import explain
from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy
from modelroute.cluster.pod_record import PodRecord
from modelroute.cluster.shared import Shared
from modelroute.engine import (
    CompiledWorkload,
    Judgements,
    PolicyContext,
    config_map_data,
    config_maps_read,
    namespace_labels_of,
)

Key = tuple[str, str]  # (namespace or "", name)
_MODELS = kinds.MODELS_BY_PLURAL
WATCHED = tuple(k.plural for k in kinds.WATCHED_KINDS)
#: how many ConfigMap changes the view remembers for config_maps_changed_since; an older version gets None
CONFIG_MAP_LOG_SIZE = 1024
ConfigMapListener = Callable[[frozenset[Key]], None]


def _policy_input(plural: str, body: Mapping[str, Any]) -> Any:
    """What of an object feeds the policy context. A status write, a new resourceVersion or managedFields
    change none of it, so they never make admissions rebuild the context. (A pod is compared as the record
    the view keeps of it.)"""
    metadata = body.get("metadata") or {}
    if plural == NAMESPACE.plural:
        return metadata.get("labels") or {}
    if plural == CONFIG_MAP.plural:  # binaryData keys are mounted files too
        return body.get("data") or {}, body.get("binaryData") or {}
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
    raw: dict[str, dict[Key, Mapping[str, Any]]] = field(default_factory=lambda: {p: {} for p in WATCHED})
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
    _config_map_listeners: list[ConfigMapListener] = field(default_factory=list)
    #: (namespace, ConfigMap name) -> the keys of the pods that read it, and each pod's reads
    _readers: dict[Key, set[Key]] = field(default_factory=dict)
    _reads: dict[Key, frozenset[Key]] = field(default_factory=dict)
    #: what pods hold alike (a template's spec, labels, annotations, owner, ConfigMap reads), kept once
    _shared: Shared = field(default_factory=Shared)
    #: (version, ConfigMaps changed by that bump), the last CONFIG_MAP_LOG_SIZE of them
    _config_map_log: deque[tuple[int, frozenset[Key]]] = field(
        default_factory=lambda: deque(maxlen=CONFIG_MAP_LOG_SIZE)
    )
    #: the last version moved by anything but a ConfigMap
    _other_input_version: int = 0
    #: the newest version whose ConfigMap changes the log has dropped
    _forgotten_through: int = 0

    @property
    def ready(self) -> bool:
        return self.synced >= set(WATCHED)

    def on_change(self, callback: Any) -> None:
        self._listeners.append(callback)

    def on_config_maps(self, callback: ConfigMapListener) -> None:
        """`callback(keys)` with the (namespace, name) of the ConfigMaps whose data changed (or that appeared or
        went): the audit re-judges only the pods that read them."""
        self._config_map_listeners.append(callback)

    def readers_of(self, namespace: str, name: str) -> frozenset[Key]:
        """The keys of the watched pods that read ConfigMap namespace/name (env, envFrom or a volume): a dict
        lookup, so a write to a ConfigMap no pod reads costs nothing more."""
        with self._lock:
            return frozenset(self._readers.get((namespace, name), ()))

    def config_maps_changed_since(self, version: int) -> frozenset[Key] | None:
        """The ConfigMaps changed after `version`; None when anything else that feeds the policy context changed
        since then too (or the change is older than the view remembers): then every pod may judge differently."""
        changed, others = self.config_map_changes_since(version)
        return None if others else changed

    def config_map_changes_since(self, version: int) -> tuple[frozenset[Key] | None, bool]:
        """(the ConfigMaps changed after `version`, None when the view no longer remembers them all; whether
        anything else that feeds the policy context changed since then too)."""
        with self._lock:
            if version >= self.version:
                return frozenset(), False
            others = self._other_input_version > version
            if version < self._forgotten_through:
                return None, others
            changed = frozenset().union(*(keys for at, keys in self._config_map_log if at > version))
            return changed, others

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
            touched = set(gone)
            for key in gone:
                self._forget(plural, key)
            for body in bodies:
                if self._store(plural, body):
                    touched.add(_key(body))
            self.synced.add(plural)
            changed = first or bool(touched)
            if changed:
                # the first list is everything at once: no pod was judged by the ConfigMaps before it
                self._bump(plural, None if first else frozenset(touched))
        if changed:
            self._notify(plural, frozenset(touched))

    def upsert(self, plural: str, body: dict[str, Any]) -> None:
        with self._lock:
            before = self.raw[plural].get(_key(body))
            changed = self._store(plural, body)
            if changed:
                self._bump(plural, frozenset({_key(body)}))
        if changed:
            self._notify(plural, frozenset({_key(body)}))
        elif plural in _MODELS and before is not None and before.get("status") != body.get("status"):
            for callback in list(self._status_listeners):
                callback(plural, _key(body), body.get("status"))

    def delete(self, plural: str, body: Mapping[str, Any]) -> None:
        key = _key(body)
        with self._lock:
            known = key in self.raw[plural]
            self._forget(plural, key)
            if known:
                self._bump(plural, frozenset({key}))
        if known:
            self._notify(plural, frozenset({key}))

    def _forget(self, plural: str, key: Key) -> None:
        body = self.raw[plural].pop(key, None)
        if plural == POD.plural:
            self._index(key, frozenset())
            if isinstance(body, PodRecord):
                body.release(self._shared)
        if plural in _MODELS:
            self._parsed[plural].pop(key, None)
            self.invalid[plural].pop(key, None)

    def _index(self, pod: Key, reads: frozenset[Key]) -> None:
        before = self._reads.get(pod, frozenset())
        if reads == before:
            return
        for config_map in before - reads:
            readers = self._readers.get(config_map)
            if readers is not None:
                readers.discard(pod)
                if not readers:
                    del self._readers[config_map]
        for config_map in reads - before:
            self._readers.setdefault(config_map, set()).add(pod)
        if reads:
            self._reads[pod] = self._shared.take(reads)
        else:
            self._reads.pop(pod, None)
        self._shared.release(before)

    def _bump(self, plural: str, config_maps: frozenset[Key] | None = None) -> None:
        """Move the version; `config_maps` names the ConfigMaps a ConfigMap bump changed (None: unknown)."""
        # pods never feed the policy context: their churn must not make admissions recompile it
        if plural == POD.plural:
            self.pod_version += 1
            self.pods_changed_at = time.monotonic()
            return
        self.version += 1
        if plural == CONFIG_MAP.plural and config_maps is not None:
            if len(self._config_map_log) == self._config_map_log.maxlen:
                self._forgotten_through = self._config_map_log[0][0]
            self._config_map_log.append((self.version, config_maps))
        else:
            # the first list of ConfigMaps names no change: everything is new
            self._other_input_version = self.version

    def _store(self, plural: str, body: dict[str, Any]) -> bool:
        """Store an object; False when nothing ModelRoute judges by changed (kubelet and status updates):
        the body is kept (the reconciler compares statuses with it) but the version does not move."""
        key = _key(body)
        before = self.raw[plural].get(key)
        if plural == POD.plural:
            record = PodRecord.of(body, self._shared, before if isinstance(before, PodRecord) else None)
            self.raw[plural][key] = record
            if record == before:
                return False
            self._index(key, frozenset((key[0], name) for name in config_maps_read(record.spec)))
            return True
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

    def _notify(self, plural: str, keys: frozenset[Key] = frozenset()) -> None:
        for callback in list(self._listeners):
            callback(plural)
        if plural == CONFIG_MAP.plural and keys:
            for listener in list(self._config_map_listeners):
                listener(keys)

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
            config_maps = {key: config_map_data(body) for key, body in self.raw[CONFIG_MAP.plural].items()}
            namespace_labels = {key[1]: namespace_labels_of(body) for key, body in self.raw[NAMESPACE.plural].items()}
            endpoints = list(self._parsed[AzureEndpoint.PLURAL].values())
            workloads = dict(self._parsed[ModelWorkload.PLURAL])
            policies = list(self._parsed[RoutePolicy.PLURAL].values())
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

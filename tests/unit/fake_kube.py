"""An in-memory stand-in for the API client (`Kube`), for unit tests of the stateful shells: it keeps
what was written, answers reads from it, and records every call. It is no API server (no admission,
no validation, no RBAC): the e2e suite proves those against a real one."""

from __future__ import annotations

import copy
from typing import Any

from modelroute.api.kinds import Kind
from modelroute.cluster.client import Kube

ObjectKey = tuple[str, str, str]  # (plural, namespace or "", name)


def _matches(labels: dict[str, str], selector: str) -> bool:
    wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
    return all(labels.get(k) == v for k, v in wanted.items())


class FakeKube(Kube):
    def __init__(self, *, crds: tuple[str, ...] = (), forbidden: tuple[str, ...] = ()) -> None:
        # no ApiClient: every method a shell calls is answered here
        self.crds = set(crds)
        self.forbidden = set(forbidden)  # plurals this identity may not create
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self.statuses: dict[ObjectKey, dict[str, Any]] = {}
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.calls: list[str] = []

    def patch_status(self, plural: str, namespace: str | None, name: str, status: dict[str, Any]) -> None:
        self.calls.append("patch_status")
        self.statuses[(plural, namespace or "", name)] = copy.deepcopy(status)

    def read_namespace(self, name: str) -> dict[str, Any] | None:
        self.calls.append("read_namespace")
        return copy.deepcopy(self.namespaces.get(name))

    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        self.calls.append("create_event")
        self.events.append(copy.deepcopy(body))

    def has_crd(self, name: str, max_age_seconds: float = 10.0) -> bool:
        return name in self.crds

    def serves(self, kind: Kind, max_age_seconds: float = 10.0) -> bool:
        return f"{kind.plural}.{kind.group}" in self.crds

    def may_create(self, group: str, plural: str, max_age_seconds: float = 60.0) -> bool:
        return plural not in self.forbidden

    def list_labelled(self, group: str, version: str, plural: str, selector: str) -> list[dict[str, Any]]:
        self.calls.append(f"list {plural}")
        return [
            copy.deepcopy(body)
            for (p, _, _), body in sorted(self.objects.items())
            if p == plural and _matches((body.get("metadata") or {}).get("labels") or {}, selector)
        ]

    def upsert(self, group: str, version: str, plural: str, body: dict[str, Any]) -> bool:
        meta = body["metadata"]
        key = (plural, meta["namespace"], meta["name"])
        if self.objects.get(key) == body:
            return False
        self.calls.append(f"upsert {plural}")
        self.objects[key] = copy.deepcopy(body)
        return True

    def apply_cluster_object(
        self, group: str, version: str, plural: str, body: dict[str, Any], *, strict: bool = False
    ) -> None:
        self.calls.append(f"apply {plural}")
        self.objects[(plural, "", body["metadata"]["name"])] = copy.deepcopy(body)

    def delete_cluster_object(self, group: str, version: str, plural: str, name: str) -> None:
        self.calls.append(f"delete {plural}")
        self.objects.pop((plural, "", name), None)

    def delete(self, group: str, version: str, plural: str, namespace: str, name: str) -> None:
        self.calls.append(f"delete {plural}")
        self.objects.pop((plural, namespace, name), None)

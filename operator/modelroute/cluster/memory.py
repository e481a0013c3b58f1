"""An in-memory cluster that satisfies every seam (cluster/seams.py), for tests of the stateful objects.

It keeps what was written and answers reads from it, records every call in `calls`, serves lists and watch
streams that a test scripts, and raises a given error from any call a test tells it to fail. It is no API
server (no admission, no validation, no RBAC, no watch of its own writes): the e2e suite proves those against a
real one. It imports nothing of the Kubernetes client.
"""

from __future__ import annotations

import copy
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from modelroute.api.kinds import Kind
from modelroute.cluster.seams import DryRun, WatchStream

if TYPE_CHECKING:
    from modelroute.cluster import seams

#: (plural, namespace or "", name)
ObjectKey = tuple[str, str, str]


def _matches(labels: dict[str, str], selector: str) -> bool:
    wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
    return all(labels.get(k) == v for k, v in wanted.items())


class MemoryStream:
    """A watch response as the watch reads it: the events as JSON lines, in chunks that split lines anywhere."""

    def __init__(self, events: Iterable[dict[str, Any]], chunk: int = 7) -> None:
        data = b"".join(orjson.dumps(e) + b"\n" for e in events)
        self.chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.released = False
        #: urllib3's connection under the response (its `sock` is what the watch looks at); none here
        self.connection: Any = None

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        yield from self.chunks

    def release_conn(self) -> None:
        self.released = True


class MemoryKube:
    """The cluster's objects in dicts; `crds` it has, plurals it `forbidden`s this identity to create."""

    def __init__(self, *, crds: Iterable[str] = (), forbidden: Iterable[str] = ()) -> None:
        self.crds = set(crds)
        self.forbidden = set(forbidden)
        #: owned and listed objects of any kind
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        #: the last status written to each object, and every status write in order
        self.statuses: dict[ObjectKey, dict[str, Any]] = {}
        self.patches: list[ObjectKey] = []
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.webhook_configurations: dict[tuple[str, str], dict[str, Any]] = {}
        #: what a watch's list answers (objects and resourceVersion) and its watch streams, popped in order
        self.listings: defaultdict[str, list[tuple[list[dict[str, Any]], str]]] = defaultdict(list)
        self.streams: defaultdict[str, list[WatchStream | BaseException]] = defaultdict(list)
        #: the answer to a dry-run create of each kind (admitted when not given)
        self.dry_runs: dict[str, DryRun] = {}
        #: the error each named call raises, until removed
        self.failures: dict[str, BaseException] = {}
        self.calls: list[str] = []
        #: set on every write, for a test that waits on another thread's write
        self.written = threading.Event()

    def fail(self, call: str, error: BaseException) -> None:
        """Make every later `call` (a method's name) raise `error`."""
        self.failures[call] = error

    def _call(self, method: str, record: str | None = None) -> None:
        if record is not None:
            self.calls.append(record)
        failure = self.failures.get(method)
        if failure is not None:
            raise failure

    def _wrote(self) -> None:
        self.written.set()

    # Lister, Watcher
    def list_all(self, plural: str) -> list[dict[str, Any]]:
        self._call("list_all", f"list {plural}")
        return [copy.deepcopy(body) for (p, _, _), body in sorted(self.objects.items()) if p == plural]

    def list_with_version(self, plural: str) -> tuple[list[dict[str, Any]], str]:
        self._call("list_with_version", f"list {plural}")
        if self.listings[plural]:
            return self.listings[plural].pop(0)
        return [copy.deepcopy(b) for (p, _, _), b in sorted(self.objects.items()) if p == plural], "1"

    def watch(self, plural: str, resource_version: str, timeout_seconds: int) -> WatchStream:
        self._call("watch", f"watch {plural} from {resource_version}")
        item = self.streams[plural].pop(0) if self.streams[plural] else MemoryStream(())
        if isinstance(item, BaseException):
            raise item
        return item

    # NamespaceReader
    def read_namespace(self, name: str) -> dict[str, Any] | None:
        self._call("read_namespace", "read_namespace")
        return copy.deepcopy(self.namespaces.get(name))

    # StatusWriter
    def patch_status(self, plural: str, namespace: str | None, name: str, status: dict[str, Any]) -> None:
        self._call("patch_status", "patch_status")
        key = (plural, namespace or "", name)
        self.statuses[key] = copy.deepcopy(status)
        self.patches.append(key)
        self._wrote()

    # OwnedObjects
    def has_crd(self, name: str) -> bool:
        self._call("has_crd")
        return name in self.crds

    def serves(self, kind: Kind) -> bool:
        self._call("serves")
        return f"{kind.plural}.{kind.group}" in self.crds

    def may_create(self, group: str, plural: str) -> bool:
        self._call("may_create")
        return plural not in self.forbidden

    def list_labelled(self, group: str, version: str, plural: str, selector: str) -> list[dict[str, Any]]:
        self._call("list_labelled", f"list {plural}")
        return [
            copy.deepcopy(body)
            for (p, _, _), body in sorted(self.objects.items())
            if p == plural and _matches((body.get("metadata") or {}).get("labels") or {}, selector)
        ]

    def upsert(self, group: str, version: str, plural: str, body: dict[str, Any]) -> bool:
        self._call("upsert")
        meta = body["metadata"]
        key = (plural, meta["namespace"], meta["name"])
        if self.objects.get(key) == body:
            return False
        self.calls.append(f"upsert {plural}")
        self.objects[key] = copy.deepcopy(body)
        self._wrote()
        return True

    def delete(self, group: str, version: str, plural: str, namespace: str, name: str) -> None:
        self._call("delete", f"delete {plural}")
        self.objects.pop((plural, namespace, name), None)
        self._wrote()

    def apply_cluster_object(
        self, group: str, version: str, plural: str, body: dict[str, Any], *, strict: bool = False
    ) -> None:
        self._call("apply_cluster_object", f"apply {plural}")
        self.objects[(plural, "", body["metadata"]["name"])] = copy.deepcopy(body)
        self._wrote()

    def delete_cluster_object(self, group: str, version: str, plural: str, name: str) -> None:
        self._call("delete_cluster_object", f"delete {plural}")
        self.objects.pop((plural, "", name), None)
        self._wrote()

    # EventSink
    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        self._call("create_event", "create_event")
        self.events.append(copy.deepcopy(body))
        self._wrote()

    # LeaseStore: a create or replace loses to a write that came first, as the API server's 409 says
    def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("read_lease", "read_lease")
        return copy.deepcopy(self.leases.get((namespace, name)))

    def create_lease(self, body: dict[str, Any]) -> bool:
        self._call("create_lease", "create_lease")
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if key in self.leases:
            return False
        self.leases[key] = _versioned(body, 1)
        self._wrote()
        return True

    def replace_lease(self, body: dict[str, Any]) -> bool:
        self._call("replace_lease", "replace_lease")
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        current = self.leases.get(key)
        version = int((current or {}).get("metadata", {}).get("resourceVersion") or 0)
        if current is None or str(body["metadata"].get("resourceVersion")) != str(version):
            return False
        self.leases[key] = _versioned(body, version + 1)
        self._wrote()
        return True

    # WebhookConfigurations
    def apply_webhook_configuration(self, body: dict[str, Any]) -> None:
        self._call("apply_webhook_configuration", f"apply {body['kind']}")
        self.webhook_configurations[(body["kind"], body["metadata"]["name"])] = copy.deepcopy(body)
        self._wrote()

    def delete_webhook_configuration(self, kind: str, name: str) -> None:
        self._call("delete_webhook_configuration", f"delete {kind}")
        self.webhook_configurations.pop((kind, name), None)
        self._wrote()

    # DryRuns
    def dry_run(self, kind: str, namespace: str, body: dict[str, Any]) -> DryRun:
        self._call("dry_run", f"dry run {kind}")
        return self.dry_runs.get(kind, DryRun(allowed=True, status=201, message=""))


def _versioned(body: dict[str, Any], version: int) -> dict[str, Any]:
    stored = copy.deepcopy(body)
    stored["metadata"]["resourceVersion"] = str(version)
    return stored


if TYPE_CHECKING:
    # mypy checks that MemoryKube satisfies every seam, as Kube does (cluster/client.py)
    def _every_seam(kube: MemoryKube) -> seams.Cluster:
        return kube

"""What each stateful object asks of the Kubernetes API, one small Protocol per need.

`Kube` (cluster/client.py, over the Kubernetes client) satisfies every one of them, and so does `MemoryKube`
(cluster/memory.py), the in-memory cluster the unit tests use; mypy checks both structurally. Each object takes
the narrowest seam it needs, so that its tests, and a reader, see at once what it may do to the cluster. This
module imports nothing of the Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

from modelroute.api.kinds import Kind


class DryRun(NamedTuple):
    """What the API server answered a dry-run create: admitted, or refused with a status code and message."""

    allowed: bool
    status: int
    message: str


class WatchStream(Protocol):
    """An open watch response (urllib3's): newline-separated JSON events in chunks, then the connection released."""

    def stream(self, amt: int | None = ..., decode_content: bool | None = ...) -> Iterator[bytes]: ...

    def release_conn(self) -> None: ...


class Lister(Protocol):
    """Reads every object of a watched kind, as plain dicts."""

    def list_all(self, plural: str) -> list[dict[str, Any]]: ...


class Watcher(Protocol):
    """Lists a watched kind with the snapshot's resourceVersion and follows its watch stream from there."""

    def list_with_version(self, plural: str) -> tuple[list[dict[str, Any]], str]: ...

    def watch(self, plural: str, resource_version: str, timeout_seconds: int) -> WatchStream: ...


class NamespaceReader(Protocol):
    """Reads one Namespace (None when there is none)."""

    def read_namespace(self, name: str) -> dict[str, Any] | None: ...


class StatusWriter(Protocol):
    """Writes the status subresource of ModelRoute's own objects."""

    def patch_status(self, plural: str, namespace: str | None, name: str, status: dict[str, Any]) -> None: ...


class OwnedObjects(Protocol):
    """Keeps the objects ModelRoute owns (egress policies, policy reports) and asks whether it may and can."""

    def has_crd(self, name: str) -> bool: ...

    def serves(self, kind: Kind) -> bool: ...

    def may_create(self, group: str, plural: str) -> bool: ...

    def list_labelled(self, group: str, version: str, plural: str, selector: str) -> list[dict[str, Any]]: ...

    def upsert(self, group: str, version: str, plural: str, body: dict[str, Any]) -> bool: ...

    def delete(self, group: str, version: str, plural: str, namespace: str, name: str) -> None: ...

    def apply_cluster_object(
        self, group: str, version: str, plural: str, body: dict[str, Any], *, strict: bool = ...
    ) -> None: ...

    def delete_cluster_object(self, group: str, version: str, plural: str, name: str) -> None: ...


class Reconciled(StatusWriter, OwnedObjects, Protocol):
    """What the reconciler writes: statuses and the objects it owns."""


class EventSink(Protocol):
    """Posts one Kubernetes Event."""

    def create_event(self, namespace: str, body: dict[str, Any]) -> None: ...


class LeaseStore(Protocol):
    """Reads and writes the leader Lease; a create or replace that lost the race answers False."""

    def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create_lease(self, body: dict[str, Any]) -> bool: ...

    def replace_lease(self, body: dict[str, Any]) -> bool: ...


class WebhookConfigurations(Protocol):
    """Registers and removes the webhook configurations (local mode registers its own)."""

    def apply_webhook_configuration(self, body: dict[str, Any]) -> None: ...

    def delete_webhook_configuration(self, kind: str, name: str) -> None: ...


class DryRuns(Protocol):
    """Sends a dry-run create and reports what the API server's admission chain answered."""

    def dry_run(self, kind: str, namespace: str, body: dict[str, Any]) -> DryRun: ...


class Cluster(
    Reconciled, Lister, Watcher, NamespaceReader, EventSink, LeaseStore, WebhookConfigurations, DryRuns, Protocol
):
    """Every seam at once: what the real client (`Kube`) and the in-memory one (`MemoryKube`) both are."""

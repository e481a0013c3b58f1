"""The cluster layer's front door: everything the shells (admission, cli, controllers, operator, main) may use.

The cluster view the webhooks judge by (`ClusterState`), the watches that keep it current (`KindWatch`), the
Events posted off the admission path (`EventRecorder`), the serving certificates, the API client (`Kube`) and
the seams each stateful object takes instead of it (cluster/seams.py), with `MemoryKube`, an in-memory cluster
that satisfies them all. An import contract keeps the shells from reaching past this door.

Names are loaded on first use (PEP 562): `modelroute check` reads a ClusterState without ever importing the
Kubernetes client, which only `Kube` and `KindWatch` need.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelroute.cluster.certs import (
        ServingFiles,
        certificate_not_after,
        generate_serving_files,
        renew_serving_cert,
    )
    from modelroute.cluster.client import RESOURCES, Kube, load_config, replace_crd, unless_absent
    from modelroute.cluster.events import EventRecorder, event_body
    from modelroute.cluster.memory import MemoryKube, MemoryStream
    from modelroute.cluster.seams import (
        DryRun,
        DryRuns,
        EventSink,
        LeaseStore,
        Lister,
        NamespaceReader,
        OwnedObjects,
        Reconciled,
        StatusWriter,
        Watcher,
        WatchStream,
        WebhookConfigurations,
    )
    from modelroute.cluster.state import CONFIG_MAP_LOG_SIZE, WATCHED, ClusterState, Key
    from modelroute.cluster.watch import KindWatch, ResourceVersionGoneError, RetryBackoffs

#: each exported name -> the module behind the door that defines it
_HOMES = {
    "certs": ("ServingFiles", "certificate_not_after", "generate_serving_files", "renew_serving_cert"),
    "client": ("RESOURCES", "Kube", "load_config", "replace_crd", "unless_absent"),
    "events": ("EventRecorder", "event_body"),
    "memory": ("MemoryKube", "MemoryStream"),
    "seams": (
        "DryRun",
        "DryRuns",
        "EventSink",
        "LeaseStore",
        "Lister",
        "NamespaceReader",
        "OwnedObjects",
        "Reconciled",
        "StatusWriter",
        "WatchStream",
        "Watcher",
        "WebhookConfigurations",
    ),
    "state": ("CONFIG_MAP_LOG_SIZE", "WATCHED", "ClusterState", "Key"),
    "watch": ("KindWatch", "ResourceVersionGoneError", "RetryBackoffs"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "CONFIG_MAP_LOG_SIZE",
    "RESOURCES",
    "WATCHED",
    "ClusterState",
    "DryRun",
    "DryRuns",
    "EventRecorder",
    "EventSink",
    "Key",
    "KindWatch",
    "Kube",
    "LeaseStore",
    "Lister",
    "MemoryKube",
    "MemoryStream",
    "NamespaceReader",
    "OwnedObjects",
    "Reconciled",
    "ResourceVersionGoneError",
    "RetryBackoffs",
    "ServingFiles",
    "StatusWriter",
    "WatchStream",
    "Watcher",
    "WebhookConfigurations",
    "certificate_not_after",
    "event_body",
    "generate_serving_files",
    "load_config",
    "renew_serving_cert",
    "replace_crd",
    "unless_absent",
]


if not TYPE_CHECKING:  # mypy sees the imports above; a name outside __all__ stays an error to it

    def __getattr__(name: str) -> Any:
        """An exported name, importing only the module that defines it (and remembering it here)."""
        module = _HOME.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})

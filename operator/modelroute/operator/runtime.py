"""What `modelroute run` is given (RunOptions) and what it holds while it runs (Runtime)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelroute.api.kinds import CONFIG_MAP, NAMESPACE
from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload
from modelroute.cluster import ClusterState, EventRecorder, KindWatch, Kube, generate_serving_files
from modelroute.controllers.status_sync import StatusSync
from modelroute.observability import OTHER, HealthServer, Metrics
from modelroute.operator.options import RunOptions

if TYPE_CHECKING:
    from modelroute.admission.server import WebhookServer

log = logging.getLogger("modelroute")
NAMESPACE_READ_SECONDS = 2.0


@dataclass
class Runtime:
    options: RunOptions
    state: ClusterState
    kube: Kube
    metrics: Metrics = field(default_factory=Metrics)
    recorder: EventRecorder | None = None
    status_sync: StatusSync | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    leader_tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    serving: tuple[Path, Path, Path | None] | None = None
    health: HealthServer | None = None
    webhook: WebhookServer | None = None
    watches: list[KindWatch] = field(default_factory=list)
    shutdown_seconds: float = 10.0
    #: every probe of operator/enforcement.py was refused as it must be (set once, at start-up)
    enforced: bool = False

    def ready(self) -> bool:
        """/readyz: the cluster has been read and the webhooks and guards are in force."""
        return self.state.ready and self.enforced

    async def start_reconcilers(self) -> None:
        self.status_sync = StatusSync(
            self.state,
            self.kube,
            self.metrics,
            resync_seconds=self.options.resync_seconds,
            report_choice=self.options.report_api,
            recorder=lambda: self.recorder,
        )
        self.leader_tasks.append(asyncio.create_task(self.status_sync.run(), name="modelroute-reconcile"))
        self.metrics.leader.set(1)

    async def stop_reconcilers(self) -> None:
        for task in self.leader_tasks:
            task.cancel()
        self.leader_tasks.clear()
        self.status_sync = None
        self.metrics.leader.set(0)
        self.metrics.audited_workloads.replace(())  # the new leader's audit is the one to read

    async def read_namespace(self, name: str) -> dict[str, Any] | None:
        """The one read a review may wait for, bounded well inside the webhooks' timeout."""
        return await asyncio.wait_for(asyncio.to_thread(self.kube.read_namespace, name), NAMESPACE_READ_SECONDS)

    async def unregister_bounded(self, unregister: Callable[[Runtime], None]) -> None:
        """Remove what local mode registered, but never hang a shutdown on an API server that does not answer."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def work() -> None:
            try:
                unregister(self)
            except Exception as error:
                loop.call_soon_threadsafe(_settle, done, error)
            else:
                loop.call_soon_threadsafe(_settle, done, None)

        # a daemon thread: a call the API server never answers must not keep the process from exiting
        threading.Thread(target=work, name="modelroute-unregister", daemon=True).start()
        try:
            await asyncio.wait_for(done, timeout=self.shutdown_seconds)
        except Exception as error:  # the next start removes what is left (wiring.run unregisters first)
            log.warning("could not remove the webhook configurations within %ss: %s", self.shutdown_seconds, error)

    def forget_deleted_series(self) -> int:
        """Drop the decision series of namespaces, ModelWorkloads and AzureEndpoints no longer in the view."""
        raw = self.state.raw

        def present(namespace: str, workload: str, endpoint: str) -> bool:
            if namespace == OTHER:
                return True
            if workload and (namespace, workload) not in raw[ModelWorkload.PLURAL]:
                return False
            if not workload and ("", namespace) not in raw[NAMESPACE.plural]:
                return False
            return not endpoint or endpoint == OTHER or ("", endpoint) in raw[AzureEndpoint.PLURAL]

        return self.metrics.forget(present)

    def poke(self, plural: str) -> None:
        # ConfigMaps come through config_maps_changed, which knows which ones
        if self.status_sync is not None and plural != CONFIG_MAP.plural:
            self.status_sync.poke(plural)

    def config_maps_changed(self, keys: frozenset[tuple[str, str]]) -> None:
        """A ConfigMap that running pods read changed: the audit judges those pods again now. One no pod reads
        asks for nothing (the next pass carries every decision over)."""
        if self.status_sync is not None and any(self.state.readers_of(*key) for key in keys):
            self.status_sync.poke(CONFIG_MAP.plural)


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def serving_files(options: RunOptions) -> tuple[Path, Path, Path | None]:
    if options.tls_cert_file and options.tls_key_file:
        return options.tls_cert_file, options.tls_key_file, options.tls_ca_file
    directory = options.cert_dir or Path(tempfile.mkdtemp(prefix="modelroute-webhook-"))
    existing = (directory / "tls.crt", directory / "tls.key", directory / "ca.crt")
    if all(p.exists() for p in existing):
        return existing
    hosts = [
        options.webhook_host or "127.0.0.1",
        "localhost",
        "127.0.0.1",
        f"modelroute-webhook.{options.namespace}.svc",
        f"modelroute-webhook.{options.namespace}.svc.cluster.local",
    ]
    files = generate_serving_files(directory, dict.fromkeys(hosts))
    log.info("generated a webhook serving certificate in %s", directory)
    return files.cert_file, files.key_file, files.ca_file

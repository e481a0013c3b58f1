"""`modelroute run`: the kopf operator. Wires the cluster view, the webhooks, the reconcilers and
Events together; every decision comes from the engine."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import kubernetes.client

from modelroute.admission.server import WebhookServer
from modelroute.admission.webhooks import AdmissionService
from modelroute.api.kinds import POD
from modelroute.api.v1alpha1 import ModelWorkload
from modelroute.cluster import (
    RESOURCES,
    WATCHED,
    ClusterState,
    EventRecorder,
    KindWatch,
    Kube,
    RetryBackoffs,
    load_config,
)
from modelroute.controllers.leader import LeaderElector, LeaseTerms
from modelroute.observability import HealthServer
from modelroute.operator.enforcement import establish
from modelroute.operator.local import register_when_serving, unregister
from modelroute.operator.options import RunOptions
from modelroute.operator.runtime import Runtime, serving_files

log = logging.getLogger("modelroute")
GIL_SWITCH_SECONDS = 0.0005
#: how long an exit waits for calls still in flight once everything is cleaned up
STUCK_CALLS_SECONDS = 5.0
CALL_THREAD_PREFIX = "modelroute-call"
#: what comes in volume, pods and the ModelWorkloads whose statuses the reconciler keeps writing (one echo
#: per write), comes through a lean watch of our own (cluster/watch.py); the rest through kopf
LEAN_WATCHED = (POD.plural, ModelWorkload.PLURAL)
KOPF_WATCHED = tuple(p for p in WATCHED if p not in LEAN_WATCHED)


def build_registry(runtime: Runtime) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    state = runtime.state
    options = runtime.options

    for plural in KOPF_WATCHED:
        group, version, _ = RESOURCES[plural]

        def make(plural: str) -> Any:
            async def watch(event: Mapping[str, Any], **_: Any) -> None:
                body = dict(event.get("object") or {})
                if event.get("type") == "DELETED":
                    state.delete(plural, body)
                else:
                    state.upsert(plural, body)

            return watch

        kopf.on.event(group, version, plural, id=f"watch-{plural}", registry=registry)(make(plural))

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        cert, key, _ca = runtime.serving = serving_files(options)
        # reviews are served by a lean route on this loop, not by kopf's admission machinery (see docs/performance.md)
        settings.admission.server = None
        settings.admission.managed = None
        runtime.webhook = WebhookServer(
            AdmissionService(
                state,
                runtime.metrics,
                lambda: runtime.recorder,
                runtime.read_namespace,
                rewrite_events=options.rewrite_events,
            ),
            addr=options.webhook_addr,
            port=options.webhook_port,
            cert=cert,
            key=key,
            client_ca=options.tls_client_ca_file,
            metrics=runtime.metrics,
        )
        if options.register_webhooks:
            # a configuration left by a process that was killed points at a server that is gone and, failing
            # closed, blocks every governed create until this one registers: remove it first
            await runtime.unregister_bounded(unregister)
        await runtime.webhook.start()
        # after an API server restart, watches and lists retry within seconds, for as long as it takes
        settings.networking.error_backoffs = RetryBackoffs()
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.watching.server_timeout = 270
        settings.watching.client_timeout = 300
        settings.watching.connect_timeout = 30
        settings.posting.level = logging.WARNING
        for plural in KOPF_WATCHED:
            try:
                bodies = await asyncio.to_thread(runtime.kube.list_all, plural)
            except Exception as error:
                # one line that says what and where, then kopf retries the start-up
                host = runtime.kube.api.configuration.host
                raise kopf.TemporaryError(f"cannot list {plural} from {host}: {error}", delay=5) from None
            state.replace_all(plural, bodies)
        for plural in LEAN_WATCHED:
            watch = KindWatch(runtime.kube, state, plural)
            watch.start()
            runtime.watches.append(watch)
        log.info("cluster view primed: %s", {p: len(state.raw[p]) for p in KOPF_WATCHED})
        runtime.recorder = EventRecorder(runtime.kube, count=runtime.metrics.event)
        runtime.tasks.append(asyncio.create_task(runtime.recorder.run(), name="modelroute-events"))
        if options.metrics_bind_address:
            runtime.health = HealthServer(runtime.metrics, runtime.ready, options.metrics_bind_address)
            await runtime.health.start()
        state.on_change(runtime.poke)
        state.on_config_maps(runtime.config_maps_changed)
        if options.reconcile and options.leader_elect:
            terms = LeaseTerms(namespace=options.leader_election_namespace or options.namespace)
            elector = LeaderElector(
                runtime.kube,
                terms,
                f"{socket.gethostname()}-{os.getpid()}",
                runtime.start_reconcilers,
                runtime.stop_reconcilers,
            )
            runtime.tasks.append(asyncio.create_task(elector.run(), name="modelroute-leader-election"))
        elif options.reconcile:
            await runtime.start_reconcilers()
        runtime.tasks.append(asyncio.create_task(_relist_forever(runtime), name="modelroute-relist"))
        runtime.tasks.append(asyncio.create_task(_establish_enforcement(runtime), name="modelroute-enforcement"))

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        # the configurations go first and the webhooks keep answering until then: no window in which the
        # API server admits without a judgement
        if options.register_webhooks:
            await runtime.unregister_bounded(unregister)
        if runtime.webhook is not None:
            await runtime.webhook.stop()
        await runtime.stop_reconcilers()
        for watch in runtime.watches:
            watch.stop()
        for task in runtime.tasks:
            task.cancel()
        if runtime.health is not None:
            await runtime.health.stop()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # the same credentials as the kubernetes client: the kubeconfig given (any auth it supports) or in-cluster
        load_config(options.kubeconfig, options.context)
        config = kubernetes.client.Configuration.get_default_copy()
        header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix("authorization")
        scheme, _space, token = (header or "").rpartition(" ")
        return kopf.ConnectionInfo(
            server=config.host,
            ca_path=config.ssl_ca_cert,
            insecure=not config.verify_ssl,
            username=config.username or None,
            password=config.password or None,
            scheme=scheme or None,
            token=token or None,
            certificate_path=config.cert_file,
            private_key_path=config.key_file,
        )

    @kopf.on.probe(id="synced", registry=registry)
    def synced(**_: Any) -> bool:
        return state.ready

    @kopf.on.probe(id="enforced", registry=registry)
    def enforced(**_: Any) -> bool:
        return runtime.enforced

    return registry


class NoDiffBase(kopf.DiffBaseStorage):
    """ModelRoute registers no create/update/resume handlers, so kopf's diff base (a deep copy of every
    watched object on every event, pods included) is never read: this one keeps nothing."""

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return {}

    def fetch(self, *, body: Any) -> Any:
        return None

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        return None


async def _establish_enforcement(runtime: Runtime) -> None:
    """Ready means enforced: local mode registers its configurations, then (in every mode) readiness waits until
    the API server refuses the probes of everything that must be in force (operator/enforcement.py)."""
    if runtime.options.register_webhooks:
        await register_when_serving(runtime)
    while not runtime.state.ready:
        await asyncio.sleep(0.1)
    probes = runtime.options.enforcement_probes()
    if probes:
        await establish(runtime.kube, probes)
    runtime.enforced = True


async def _relist_forever(runtime: Runtime) -> None:
    """Every replica re-lists what it watches now and then: a watch that was re-established replays live
    objects but never the deletions it missed, and a deleted endpoint must not stay approved."""
    while True:
        await asyncio.sleep(runtime.options.resync_seconds)
        for plural in KOPF_WATCHED:
            try:
                bodies = await asyncio.to_thread(runtime.kube.list_all, plural)
            except Exception as error:  # the watch still runs; try again next round
                log.warning("re-list of %s failed: %s", plural, error)
                continue
            runtime.state.replace_all(plural, bodies)
        runtime.forget_deleted_series()


def run(options: RunOptions) -> None:
    api = load_config(options.kubeconfig, options.context)
    runtime = Runtime(options=options, state=ClusterState(operator_namespace=options.namespace), kube=Kube(api))
    registry = build_registry(runtime)
    # the reconciler's passes run in a worker thread; a short GIL switch interval keeps them from holding
    # the admission loop for the default 5 ms at a time
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    log.info("starting ModelRoute on %s (operator namespace %s)", socket.gethostname(), options.namespace)
    loop = new_event_loop()
    executor = ThreadPoolExecutor(thread_name_prefix=CALL_THREAD_PREFIX)
    loop.set_default_executor(executor)
    kopf.run(
        loop=loop, registry=registry, clusterwide=True, standalone=True, liveness_endpoint=options.liveness_endpoint
    )
    _exit_without_waiting_for_stuck_calls(executor, STUCK_CALLS_SECONDS)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: its TLS transport and HTTP serving cost about half of asyncio's per
    admission call (docs/performance.md); the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:  # not on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _exit_without_waiting_for_stuck_calls(executor: ThreadPoolExecutor, timeout: float) -> None:
    """Worker threads still blocked in a call to an API server that does not answer would hold the exit for as
    long as the connection stays open (asyncio and the interpreter both join them): wait a bounded time, then
    leave without them. Everything the operator owns has been cleaned up, or given up on, by then."""
    executor.shutdown(wait=False, cancel_futures=True)  # idle workers leave at once
    deadline = time.monotonic() + timeout
    workers = [t for t in threading.enumerate() if t.name.startswith(CALL_THREAD_PREFIX)]
    for thread in workers:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in workers if t.is_alive()]
    if stuck:
        log.warning("calls to the API server still pending after %ss (%s); exiting without them", timeout, stuck)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

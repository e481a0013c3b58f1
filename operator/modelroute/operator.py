"""`modelroute run`: the kopf operator. Wires the cluster view, the webhooks, the reconcilers and
Events together; every decision comes from the engine."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
import kopf
import kubernetes.client

from modelroute.admission import configurations as cfg
from modelroute.admission.resources import validate_resource
from modelroute.admission.review import NOT_SYNCED, Answer, mutate, needs_event, validate
from modelroute.api.meta import GROUP, VERSION
from modelroute.cluster.certs import generate_serving_files
from modelroute.cluster.client import RESOURCES, Kube, load_config
from modelroute.cluster.events import EventRecorder
from modelroute.cluster.state import WATCHED, ClusterState
from modelroute.controllers.leader import LeaderElector, LeaseTerms
from modelroute.controllers.status_sync import StatusSync
from modelroute.engine.verdict import Outcome
from modelroute.observability import HealthServer, Metrics

log = logging.getLogger("modelroute")


@dataclass(frozen=True)
class RunOptions:
    namespace: str = "modelroute-system"
    kubeconfig: str | None = None
    context: str | None = None
    webhook_addr: str = "0.0.0.0"
    webhook_port: int = 9443
    webhook_host: str | None = None  # the host the API server uses to reach us (local mode)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None
    cert_dir: Path | None = None
    register_webhooks: bool = False
    failure_policy: str = "Fail"
    webhook_timeout_seconds: int = 5
    webhook_configuration_name: str = "modelroute"
    liveness_endpoint: str | None = None
    resync_seconds: float = 300.0
    reconcile: bool = True
    leader_elect: bool = False
    leader_election_namespace: str | None = None
    metrics_bind_address: str | None = None


class NamespacedWebhookServer(kopf.WebhookServer):
    """kopf's server, plus one fix: an object's namespace is taken from the AdmissionReview request when
    the object itself does not carry it (objects created in a namespace given on the command line)."""

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        async def with_namespace(
            request: Any,
            *,
            webhook: str | None = None,
            headers: dict[str, str] | None = None,
            sslpeer: dict[str, Any] | None = None,
        ) -> Any:
            review: Any = request.get("request") if isinstance(request, dict) else None
            if isinstance(review, dict) and review.get("namespace"):
                for key in ("object", "oldObject"):
                    obj = review.get(key)
                    if isinstance(obj, dict):
                        metadata = obj.setdefault("metadata", {})
                        if isinstance(metadata, dict) and not metadata.get("namespace"):
                            metadata["namespace"] = review["namespace"]
            return await fn(request, webhook=webhook, headers=headers, sslpeer=sslpeer)

        async for client_config in super().__call__(with_namespace):
            yield client_config


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

    async def start_reconcilers(self) -> None:
        self.status_sync = StatusSync(self.state, self.kube, self.metrics, resync_seconds=self.options.resync_seconds)
        self.leader_tasks.append(asyncio.create_task(self.status_sync.run(), name="modelroute-reconcile"))
        self.metrics.leader.set(1)

    async def stop_reconcilers(self) -> None:
        for task in self.leader_tasks:
            task.cancel()
        self.leader_tasks.clear()
        self.status_sync = None
        self.metrics.leader.set(0)

    def poke(self, plural: str) -> None:
        if self.status_sync is not None and plural != "configmaps":
            self.status_sync.poke(plural)


def _serving_files(options: RunOptions) -> tuple[Path, Path, Path | None]:
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


def _event_for(answer: Answer, body: Mapping[str, Any], runtime: Runtime, dryrun: bool) -> None:
    if dryrun or runtime.recorder is None or not needs_event(answer.decision):
        return
    decision = answer.decision
    assert decision is not None
    namespace = str((body.get("metadata") or {}).get("namespace") or "default")
    if decision.outcome is Outcome.DENIED:
        message = "; ".join(f"[{v.code}] {v.message}" for v in decision.violations)
        runtime.recorder.record(body, namespace, "Warning", "RouteDenied", message)
    elif decision.outcome is Outcome.WARNED:
        runtime.recorder.record(body, namespace, "Warning", "RouteViolation", "; ".join(decision.warnings))
    elif decision.outcome is Outcome.REWRITTEN:
        runtime.recorder.record(
            body,
            namespace,
            "Normal",
            "RouteRewritten",
            f"endpoint settings rewritten to AzureEndpoint {decision.endpoint}",
        )


def build_registry(runtime: Runtime) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    state = runtime.state
    options = runtime.options

    for plural in WATCHED:
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

    metrics = runtime.metrics

    @kopf.on.mutate("", "v1", "pods", id=cfg.MUTATE_PODS, operations=["CREATE"], registry=registry)
    def mutate_pod(body: Mapping[str, Any], patch: kopf.Patch, dryrun: bool, **_: Any) -> None:
        if not state.ready:
            metrics.admission_requests.labels(cfg.MUTATE_PODS, "not-synced").inc()
            return
        with metrics.admission_seconds.labels(cfg.MUTATE_PODS).time():
            answer = mutate(dict(body), state.context())
        metrics.admission_requests.labels(cfg.MUTATE_PODS, "patched" if answer.patch else "unchanged").inc()
        if answer.patch:
            ops = answer.patch
            patch.fns.append(lambda target: jsonpatch.apply_patch(target, ops, in_place=True))
        if answer.decision is not None and answer.decision.outcome is Outcome.REWRITTEN:
            _event_for(answer, body, runtime, dryrun)

    def judge(webhook: str, body: Mapping[str, Any], warnings: list[str], dryrun: bool) -> None:
        if not state.ready:
            metrics.admission_requests.labels(webhook, "not-synced").inc()
            raise kopf.AdmissionError(NOT_SYNCED, code=503)
        with metrics.admission_seconds.labels(webhook).time():
            answer = validate(dict(body), state.context())
        decision = answer.decision
        result = "denied" if not answer.allowed else (str(decision.outcome) if decision else "allowed")
        metrics.admission_requests.labels(webhook, result).inc()
        for violation in decision.violations if decision else ():
            metrics.admission_violations.labels(webhook, str(violation.code)).inc()
        warnings.extend(answer.warnings)
        if answer.decision is None or answer.decision.outcome is not Outcome.REWRITTEN:
            _event_for(answer, body, runtime, dryrun)
        if not answer.allowed:
            raise kopf.AdmissionError(answer.message, code=403)

    @kopf.on.validate("", "v1", "pods", id=cfg.VALIDATE_PODS, registry=registry)
    def validate_pod(body: Mapping[str, Any], warnings: list[str], dryrun: bool, **_: Any) -> None:
        judge(cfg.VALIDATE_PODS, body, warnings, dryrun)

    for group, version, plural in cfg.POD_CONTROLLERS:

        @kopf.on.validate(group, version, plural, id=cfg.VALIDATE_CONTROLLERS, registry=registry)
        def validate_controller(body: Mapping[str, Any], warnings: list[str], dryrun: bool, **_: Any) -> None:
            judge(cfg.VALIDATE_CONTROLLERS, body, warnings, dryrun)

    for plural in cfg.OWN_RESOURCES:

        @kopf.on.validate(GROUP, VERSION, plural, id=cfg.VALIDATE_RESOURCES, registry=registry)
        def validate_own(body: Mapping[str, Any], warnings: list[str], operation: str = "CREATE", **_: Any) -> None:
            answer = validate_resource(dict(body), operation, state.context())
            warnings.extend(answer.warnings)
            if not answer.allowed:
                raise kopf.AdmissionError(answer.message, code=422)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        cert, key, ca = runtime.serving = _serving_files(options)
        settings.admission.server = NamespacedWebhookServer(
            addr=options.webhook_addr,
            port=options.webhook_port,
            host=options.webhook_host,
            certfile=str(cert),
            pkeyfile=str(key),
            cafile=str(ca) if ca else None,
            file_check_interval=10.0,
        )
        settings.admission.managed = None
        settings.watching.server_timeout = 270
        settings.watching.client_timeout = 300
        settings.watching.connect_timeout = 30
        settings.posting.level = logging.WARNING
        for plural in WATCHED:
            bodies = await asyncio.to_thread(runtime.kube.list_all, plural)
            state.replace_all(plural, bodies)
        log.info("cluster view primed: %s", {p: len(state.raw[p]) for p in WATCHED})
        runtime.recorder = EventRecorder(runtime.kube)
        runtime.tasks.append(asyncio.create_task(runtime.recorder.run(), name="modelroute-events"))
        if options.metrics_bind_address:
            runtime.health = HealthServer(runtime.metrics, lambda: state.ready, options.metrics_bind_address)
            await runtime.health.start()
        state.on_change(runtime.poke)
        if options.reconcile and options.leader_elect:
            terms = LeaseTerms(namespace=options.leader_election_namespace or options.namespace)
            elector = LeaderElector(
                runtime.kube.coordination,
                terms,
                f"{socket.gethostname()}-{os.getpid()}",
                runtime.start_reconcilers,
                runtime.stop_reconcilers,
            )
            runtime.tasks.append(asyncio.create_task(elector.run(), name="modelroute-leader-election"))
        elif options.reconcile:
            await runtime.start_reconcilers()
        if options.register_webhooks:
            runtime.tasks.append(asyncio.create_task(_register_when_serving(runtime), name="modelroute-webhooks"))

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await runtime.stop_reconcilers()
        for task in runtime.tasks:
            task.cancel()
        if runtime.health is not None:
            await runtime.health.stop()
        if options.register_webhooks:
            await asyncio.to_thread(_unregister, runtime)

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

    return registry


def _client_config_for(runtime: Runtime) -> cfg.ClientConfigFor:
    import base64

    assert runtime.serving is not None
    _, _, ca = runtime.serving
    ca_bundle = base64.b64encode(ca.read_bytes()).decode() if ca else None
    host = runtime.options.webhook_host or "127.0.0.1"

    def client_config(path: str) -> dict[str, Any]:
        out: dict[str, Any] = {"url": f"https://{host}:{runtime.options.webhook_port}/{path}"}
        if ca_bundle:
            out["caBundle"] = ca_bundle
        return out

    return client_config


def _webhook_options(options: RunOptions) -> cfg.WebhookOptions:
    return cfg.WebhookOptions(
        operator_namespace=options.namespace,
        failure_policy=options.failure_policy,
        timeout_seconds=options.webhook_timeout_seconds,
        name=options.webhook_configuration_name,
    )


async def _wait_serving(host: str, port: int, timeout: float = 60.0) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port, ssl=context)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _register_when_serving(runtime: Runtime) -> None:
    options = runtime.options
    await _wait_serving(options.webhook_host or "127.0.0.1", options.webhook_port)
    client_config = _client_config_for(runtime)
    webhook_options = _webhook_options(options)
    for body in (
        cfg.mutating_configuration(client_config, webhook_options),
        cfg.validating_configuration(client_config, webhook_options),
    ):
        await asyncio.to_thread(runtime.kube.apply_webhook_configuration, body)
    log.info(
        "registered webhook configurations %r (failurePolicy %s)",
        options.webhook_configuration_name,
        options.failure_policy,
    )


def _unregister(runtime: Runtime) -> None:
    name = runtime.options.webhook_configuration_name
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        runtime.kube.delete_webhook_configuration(kind, name)
    log.info("removed webhook configurations %r", name)


def run(options: RunOptions) -> None:
    api = load_config(options.kubeconfig, options.context)
    runtime = Runtime(options=options, state=ClusterState(operator_namespace=options.namespace), kube=Kube(api))
    registry = build_registry(runtime)
    log.info("starting ModelRoute on %s (operator namespace %s)", socket.gethostname(), options.namespace)
    kopf.run(registry=registry, clusterwide=True, standalone=True, liveness_endpoint=options.liveness_endpoint)

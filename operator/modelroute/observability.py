"""Prometheus metrics and the health endpoints the chart's probes use, on one small HTTP server.

Label sets are bounded by construction, so no workload, pod or forged review can grow the series without
limit: a pod name is never a label; `workload` and `endpoint` are only ever the names of ModelWorkloads and
AzureEndpoints the engine found in the cluster view; `channel` is the ProcurementChannel enum (or empty);
`resource_namespace` (the judged object's namespace; not `namespace`, which Prometheus gives the scrape
target) is a namespace in the view; `decision`, `result`, `code` and `webhook` are fixed enums. On top of
that, each labelled family keeps at most `series_limit` label sets: past it, new ones are counted under
`resource_namespace="other", workload="other", endpoint="other"`, and the series of deleted workloads and namespaces
are dropped by the reconciler's next pass (`forget`).
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

import modelroute

log = logging.getLogger(__name__)

#: the label value that stands for every label set past a family's series limit
OTHER = "other"
#: label sets per labelled family (decisions, audited workloads): well past a thousand workloads' worth
SERIES_LIMIT = 5000
#: what became of an Event ModelRoute wanted to record (modelroute_events_total{result})
EVENT_RESULTS = ("posted", "failed", "queue-full", "rate-limited", "deduplicated")

#: (webhook, namespace, workload, channel, endpoint, decision)
DecisionLabels = tuple[str, str, str, str, str, str]


class DecisionCounter:
    """modelroute_admission_decisions_total: which workload was admitted through which door, and what the
    engine decided, per webhook.

    The admission path calls `inc` with the engine's own names; the first time a label set is seen it is
    checked (`namespace_known` for a pod that names no workload) and bound, after that an increment is one
    dict lookup. A label set past the limit, or naming a namespace the view does not hold, is counted under
    `other` and never remembered, so the dict stays within the limit too."""

    def __init__(self, counter: Counter, namespace_known: Callable[[str], bool], limit: int) -> None:
        self.counter = counter
        self.namespace_known = namespace_known
        self.limit = limit
        self._children: dict[DecisionLabels, Any] = {}
        self._lock = threading.Lock()

    def inc(self, labels: DecisionLabels) -> None:
        child = self._children.get(labels)
        if child is None:
            child = self._bind(labels)
        child.inc()

    def _bind(self, labels: DecisionLabels) -> Any:
        webhook, namespace, workload, channel, endpoint, decision = labels
        known = bool(workload) or self.namespace_known(namespace)
        with self._lock:
            if known and len(self._children) < self.limit:
                child = self._children[labels] = self.counter.labels(*labels)
                return child
        return self.counter.labels(
            webhook, OTHER, OTHER if workload else "", channel, OTHER if endpoint else "", decision
        )

    def forget(self, keep: Callable[[str, str, str], bool]) -> int:
        """Drop the series whose (namespace, workload, endpoint) `keep` no longer accepts (deleted since)."""
        with self._lock:
            gone = [labels for labels in list(self._children) if not keep(labels[1], labels[2], labels[4])]
            for labels in gone:
                del self._children[labels]
                self.counter.remove(*labels)
        return len(gone)

    def __len__(self) -> int:
        return len(self._children)


class RateLimitedLog:
    """Warnings about what any caller can repeat at will, written at most once per `interval`: the first at
    once, the ones in between counted into the next line, so a flood of hostile requests is one line a minute,
    not a line per request."""

    def __init__(
        self, logger: logging.Logger, interval: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger, self.interval, self.clock = logger, interval, clock
        self._quiet_until: float | None = None
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        now = self.clock()
        if self._quiet_until is not None and now < self._quiet_until:
            self._held += 1
            return
        if self._held:
            message += f" (and {self._held} more like it in the last {self.interval:g} s)"
        self._held, self._quiet_until = 0, now + self.interval
        self.logger.warning(message, *args)


@dataclass(frozen=True, slots=True)
class WorkloadPods:
    """One ModelWorkload's running pods as the last audit counted them."""

    namespace: str
    workload: str
    channel: str
    endpoint: str
    compliant: int
    violating: int


class AuditedWorkloads(Collector):
    """modelroute_audit_workload_pods{resource_namespace,workload,channel,endpoint,result}: replaced whole by every
    audit, so a deleted workload's series is gone with the pass that no longer finds it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._rows: tuple[WorkloadPods, ...] = ()

    def replace(self, rows: Iterable[WorkloadPods]) -> None:
        kept: list[WorkloadPods] = []
        other: dict[str, list[int]] = {}
        for row in rows:
            if len(kept) < self.limit:
                kept.append(row)
            else:  # past the limit, per channel under `other`
                total = other.setdefault(row.channel, [0, 0])
                total[0] += row.compliant
                total[1] += row.violating
        for channel, (compliant, violating) in sorted(other.items()):
            kept.append(WorkloadPods(OTHER, OTHER, channel, OTHER, compliant, violating))
        self._rows = tuple(kept)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "modelroute_audit_workload_pods",
            "Running pods of each ModelWorkload found by the last background audit, by procurement channel, "
            "endpoint and result.",
            labels=["resource_namespace", "workload", "channel", "endpoint", "result"],
        )
        for row in self._rows:
            base = [row.namespace, row.workload, row.channel, row.endpoint]
            family.add_metric([*base, "compliant"], row.compliant)
            family.add_metric([*base, "violating"], row.violating)
        yield family


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    #: whether a namespace is in the cluster view (the admission service sets it to its state's)
    namespace_known: Callable[[str], bool] = field(default=lambda _: False)
    series_limit: int = SERIES_LIMIT

    def __post_init__(self) -> None:
        r = self.registry
        self.admission_requests = Counter(
            "modelroute_admission_requests_total",
            "Admission reviews answered, by webhook and result.",
            ["webhook", "result"],
            registry=r,
        )
        self.admission_violations = Counter(
            "modelroute_admission_violations_total",
            "Violations found at admission, by stable code.",
            ["webhook", "code"],
            registry=r,
        )
        self.decisions = DecisionCounter(
            Counter(
                "modelroute_admission_decisions_total",
                "Pods and pod controllers judged at admission, by webhook, namespace, ModelWorkload, procurement "
                "channel, AzureEndpoint and decision (the modelroute.io/decision annotation's values).",
                ["webhook", "resource_namespace", "workload", "channel", "endpoint", "decision"],
                registry=r,
            ),
            lambda namespace: self.namespace_known(namespace),
            self.series_limit,
        )
        self.admission_seconds = Histogram(
            "modelroute_admission_duration_seconds",
            "Time to answer an admission review inside ModelRoute.",
            ["webhook"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.audit_pods = Gauge(
            "modelroute_audit_pods",
            "Model-backed pods found by the last background audit, by result.",
            ["result"],
            registry=r,
        )
        self.audited_workloads = AuditedWorkloads(self.series_limit)
        r.register(self.audited_workloads)
        self.audit_runs = Counter("modelroute_audit_runs_total", "Background audits completed.", registry=r)
        self.audit_last_success = Gauge(
            "modelroute_audit_last_success_timestamp_seconds",
            "When the reconciler last completed a pass (an audit, or a check that nothing it reads changed since "
            "the last one): the audit, statuses and reports are current as of then.",
            registry=r,
        )
        self.reconcile_errors = Counter(
            "modelroute_reconcile_errors_total", "Reconciler passes that failed and were retried.", registry=r
        )
        self.cluster_objects = Gauge(
            "modelroute_cluster_objects",
            "Objects in the operator's view of the cluster, by kind.",
            ["kind"],
            registry=r,
        )
        self.leader = Gauge("modelroute_leader", "1 while this replica runs the reconcilers.", registry=r)
        self.status_patches = Counter("modelroute_status_patches_total", "Status subresource updates.", registry=r)
        events = Counter(
            "modelroute_events_total",
            "Kubernetes Events ModelRoute meant to record, by what became of them: posted, failed (the API "
            "server refused or did not answer), queue-full (dropped), rate-limited, deduplicated.",
            ["result"],
            registry=r,
        )
        self._events = {result: events.labels(result) for result in EVENT_RESULTS}
        self.serving_certificate_expiry = Gauge(
            "modelroute_serving_certificate_expiry_timestamp_seconds",
            "notAfter of the webhook serving certificate this replica presents.",
            registry=r,
        )
        build = Gauge(
            "modelroute_build_info",
            "Always 1: the running ModelRoute's version and the versions it runs on.",
            ["version", "python_version", "kopf_version", "prometheus_client_version"],
            registry=r,
        )
        build.labels(
            modelroute.__version__, platform.python_version(), _version("kopf"), _version("prometheus_client")
        ).set(1)
        # process_* (CPU, memory, open files, start time), python_info and python_gc_*, as on the default registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    def event(self, result: str) -> None:
        """Count one Event by what became of it (EVENT_RESULTS); safe from any thread."""
        self._events[result].inc()

    def forget(self, keep: Callable[[str, str, str], bool]) -> int:
        return self.decisions.forget(keep)


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


class HealthServer:
    """/metrics, /healthz (the process serves) and /readyz (it has read the cluster and can judge)."""

    def __init__(self, metrics: Metrics, ready: Callable[[], bool], bind: str) -> None:
        self.metrics = metrics
        self.ready = ready
        host, _, port = bind.rpartition(":")
        self.host = host.strip("[]") or "0.0.0.0"
        self.port = int(port)
        self.runner: web.AppRunner | None = None

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self.ready():
            return web.Response(text="ok\n")
        return web.Response(
            status=503,
            text="not ready: the cluster view is still being read, or the webhooks and guards are not in force yet\n",
        )

    async def start(self) -> int:
        app = web.Application()
        app.add_routes(
            [web.get("/metrics", self._metrics), web.get("/healthz", self._healthz), web.get("/readyz", self._readyz)]
        )
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()
        server: Any = site._server
        sockets = server.sockets if server is not None else []
        port = int(sockets[0].getsockname()[1]) if sockets else self.port
        log.info("serving /metrics, /healthz and /readyz on %s:%d", self.host, port)
        return port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

"""Prometheus metrics and the health endpoints the chart's probes use, on one small HTTP server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

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
        self.audit_runs = Counter("modelroute_audit_runs_total", "Background audits completed.", registry=r)
        self.cluster_objects = Gauge(
            "modelroute_cluster_objects",
            "Objects in the operator's view of the cluster, by kind.",
            ["kind"],
            registry=r,
        )
        self.leader = Gauge("modelroute_leader", "1 while this replica runs the reconcilers.", registry=r)
        self.status_patches = Counter("modelroute_status_patches_total", "Status subresource updates.", registry=r)


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

"""What the cluster benchmarks share: the local control plane, an async client with the admin client
certificate (keep-alive HTTPS), `modelroute run` as a process, and the figures they print."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.control_plane import LocalCluster, binaries
from tests.harness.operator import OPERATOR_NAMESPACE as OPERATOR_NAMESPACE  # the benchmarks' too
from tests.harness.operator import RunProcess, liveness, local_mode
from tests.harness.processes import free_port

REPO = Path(__file__).resolve().parents[2]

CONFIGURATION = "modelroute-bench"
PLURALS = {
    "AzureEndpoint": "/apis/modelroute.io/v1alpha1/azureendpoints",
    "RoutePolicy": "/apis/modelroute.io/v1alpha1/routepolicies",
    "Namespace": "/api/v1/namespaces",
}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, every process), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def control_plane(workdir: Path) -> Iterator[LocalCluster]:
    local = LocalCluster(workdir, binaries())
    local.start(timeout=180)
    try:
        yield local
    finally:
        local.stop()


class Api:
    """Keep-alive HTTPS to the API server with the admin client certificate."""

    def __init__(self, cluster: LocalCluster, connections: int = 64) -> None:
        context = ssl.create_default_context(cafile=str(cluster.ca_file))
        context.load_cert_chain(str(cluster.client_cert_file), str(cluster.client_key_file))
        self.server = cluster.server
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, ssl=context),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.server + path, json=body) as response:
            data = await response.read()
            return response.status, (json.loads(data) if data else None)

    async def create(self, path: str, body: dict[str, Any]) -> None:
        status, data = await self.request("POST", path, body)
        if status not in (200, 201, 409):
            raise RuntimeError(f"POST {path}: {status} {data}")

    async def text(self, path: str) -> str:
        async with self.session.get(self.server + path) as response:
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status}")
            return await response.text()

    async def get(self, path: str) -> Any:
        status, data = await self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {data}")
        return data


async def install_crds(api: Api) -> None:
    for file in sorted((REPO / "crds").glob("*.yaml")):
        await api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", yaml.safe_load(file.read_text()))
    for file in sorted((REPO / "crds").glob("*.yaml")):
        name = yaml.safe_load(file.read_text())["metadata"]["name"]
        for _ in range(120):
            crd = await api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
            if conditions.get("Established") == "True":
                break
            await asyncio.sleep(0.5)
    await asyncio.sleep(1)  # discovery


def path_for(body: dict[str, Any]) -> str:
    kind = body["kind"]
    if kind in PLURALS:
        return PLURALS[kind]
    namespace = body["metadata"]["namespace"]
    namespaced = {
        "ModelWorkload": f"/apis/modelroute.io/v1alpha1/namespaces/{namespace}/modelworkloads",
        "ConfigMap": f"/api/v1/namespaces/{namespace}/configmaps",
        "Pod": f"/api/v1/namespaces/{namespace}/pods",
    }
    if kind not in namespaced:
        raise ValueError(f"the benchmark cannot create a {kind}: add its path to path_for")
    return namespaced[kind]


async def create_all(api: Api, bodies: list[dict[str, Any]], concurrency: int = 16) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            await api.create(path_for(body), body)

    await asyncio.gather(*(one(b) for b in bodies))


#: (sum, count) of the API server's own latency series: pod creates, and each admission webhook call by name
ServerTimings = dict[str, tuple[float, float]]


async def server_timings(api: Api) -> ServerTimings:
    """The API server's histograms of pod-create latency and of each admission webhook call, as it measured them
    (its /metrics, read with the Prometheus client's parser)."""
    out: dict[str, tuple[float, float]] = {}

    def add(name: str, suffix: str, value: float) -> None:
        total, count = out.get(name, (0.0, 0.0))
        out[name] = (total + value, count) if suffix == "_sum" else (total, count + value)

    for family in text_string_to_metric_families(await api.text("/metrics")):
        for sample in family.samples:
            suffix = sample.name[len(family.name) :]
            if suffix not in ("_sum", "_count"):
                continue
            labels = sample.labels
            if family.name == "apiserver_request_duration_seconds":
                if labels.get("resource") == "pods" and labels.get("verb") == "POST" and not labels.get("subresource"):
                    add("create", suffix, sample.value)
            elif family.name == "apiserver_admission_webhook_admission_duration_seconds":
                add(labels["name"], suffix, sample.value)
    return out


def mean_ms(before: ServerTimings, after: ServerTimings) -> dict[str, float]:
    """Mean milliseconds per observation of each series between two readings, the creates first."""
    means = {}
    for name, (total, count) in sorted(after.items(), key=lambda item: (item[0] != "create", item[0])):
        total0, count0 = before.get(name, (0.0, 0.0))
        if count > count0:
            means[name] = (total - total0) / (count - count0) * 1000
    return means


@dataclass
class CreateFigures:
    pods: int
    seconds: float
    latencies: list[float]
    #: CPU milliseconds per pod, by process ("machine" for the whole machine), when the phase measured them
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.pods / self.seconds

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


async def create_pods(api: Api, pods: list[dict[str, Any]], clients: int) -> CreateFigures:
    """Create `pods` with `clients` concurrent creators; every create must succeed."""
    queue = iter(pods)
    latencies: list[float] = []

    async def creator() -> None:
        for body in queue:
            path = path_for(body)
            started = time.perf_counter()
            status, data = await api.request("POST", path, body)
            latencies.append(time.perf_counter() - started)
            if status != 201:
                raise RuntimeError(f"pod create: {status} {data}")

    started = time.perf_counter()
    await asyncio.gather(*(creator() for _ in range(clients)))
    return CreateFigures(len(pods), time.perf_counter() - started, latencies)


class Operator(RunProcess):
    """`modelroute run` in local mode (it registers its webhooks) against the benchmark cluster."""

    def __init__(self, cluster: LocalCluster, workdir: Path, resync_seconds: float = 300) -> None:
        super().__init__(workdir)
        self.cluster = cluster
        self.liveness, self.webhook = free_port(), free_port()
        self.resync_seconds = resync_seconds

    def arguments(self) -> list[str]:
        return local_mode(
            self.cluster.kubeconfig,
            configuration=CONFIGURATION,
            webhook_addr="127.0.0.1",
            webhook_port=self.webhook,
            liveness_port=self.liveness,
            cert_dir=self.workdir / "certs",
            resync_seconds=self.resync_seconds,
        )

    def ready(self) -> bool:
        return self._synced() and self._registered()

    def start(self, timeout: float = 120) -> None:
        super().start(timeout)

    def profile(self, seconds: int = 60) -> None:
        """Sample the operator with py-spy into $MODELROUTE_BENCH_PROFILE (raw stacks), when it is set."""
        target = os.environ.get("MODELROUTE_BENCH_PROFILE")
        if target and self.process is not None:
            spy = Path(sys.executable).parent / "py-spy"
            args = [str(spy), "record", "--pid", str(self.process.pid), "-d", str(seconds), "-r", "100"]
            subprocess.Popen([*args, "-f", "raw", "-o", target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _synced(self) -> bool:
        return bool(liveness(self.liveness).get("synced"))

    def _registered(self) -> bool:
        text = self.log_file.read_text(errors="replace")
        return "registered webhook configurations" in text

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid)

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident set in MB."""
        assert self.process is not None
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(value.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]


@contextlib.asynccontextmanager
async def api_of(cluster: LocalCluster) -> AsyncIterator[Api]:
    api = Api(cluster)
    try:
        yield api
    finally:
        await api.close()

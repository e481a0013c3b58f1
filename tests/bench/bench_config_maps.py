"""ConfigMap writes through the real kube-apiserver of the local control plane, without webhooks and with
ModelRoute's registered (the operator in local mode, its ConfigMap webhook among them), at 1 and 8
concurrent writers.

    python -m tests.bench.bench_config_maps [--writes 300] [--readers 50] [--templates 5]

Two kinds of ConfigMap are written, each write a new value, each writer to a ConfigMap of its own (writers
sharing one ConfigMap would measure the API server's update conflicts, each retry admitted again): ones no pod
reads (what nearly every ConfigMap write in a cluster is: the webhook's answer is an index lookup) and ones
that `--readers` running, covered pods load with `envFrom`, replicas of `--templates` distinct pod templates
(each write judges every template under the new data). Figures: p50/p95 per write and writes/s, the ratios
to the cluster without webhooks measured in the same run, and the mean of the webhook call as the API server
measured it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench import world
from tests.bench.bench_pods import setup
from tests.bench.cluster import Api, CreateFigures, Operator, api_of, control_plane, create_all, load, server_timings

NAMESPACE = "team-00"
UNREAD, READ = "unread-settings", "chat-env"
KINDS = {UNREAD: "ConfigMaps no pod reads", READ: "ConfigMaps pods read"}


def config_map(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {"LOG_LEVEL": value},
    }


def readers(count: int, templates: int, writers: int) -> list[dict[str, Any]]:
    """Covered pods at the approved route that load every writer's READ ConfigMap with envFrom: `templates`
    distinct specs."""
    out = []
    for i in range(count):
        env = {"OPENAI_BASE_URL": world.APPROVED_BASE, "OPENAI_API_KEY": "x", "TEMPLATE": str(i % templates)}
        pod = world.pod(NAMESPACE, "app-0", env, name=f"reader-{i}")
        pod["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": f"{READ}-{k}"}} for k in range(writers)]
        out.append(pod)
    return out


async def write_all(api: Api, name: str, phase: str, writes: int, clients: int) -> CreateFigures:
    """`writes` unconditional updates, writer k to ConfigMap `name`-k, each with a value of its own; every one
    must succeed."""
    queue = iter(range(writes))
    latencies: list[float] = []

    async def writer(k: int) -> None:
        path = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{name}-{k}"
        for i in queue:
            started = time.perf_counter()
            status, data = await api.request("PUT", path, config_map(f"{name}-{k}", f"{phase}-{i}"))
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"ConfigMap write: {status} {data}")

    started = time.perf_counter()
    await asyncio.gather(*(writer(k) for k in range(clients)))
    return CreateFigures(writes, time.perf_counter() - started, latencies)


Figures = dict[tuple[str, int], CreateFigures]


async def phases(api: Api, label: str, writes: int, concurrencies: list[int]) -> Figures:
    out: Figures = {}
    prefix = label.split()[0]
    for name in KINDS:
        await write_all(api, name, f"{prefix}-warm-up", 20, max(concurrencies))
        for clients in concurrencies:
            print(f"  load average before {label}, {KINDS[name]}, {clients} clients: {load()}", flush=True)
            before = await server_timings(api)
            figures = await write_all(api, name, f"{prefix}-c{clients}", writes, clients)
            after = await server_timings(api)
            out[(name, clients)] = figures
            total, count = after.get("configmaps.validate.modelroute.io", (0.0, 0.0))
            total0, count0 = before.get("configmaps.validate.modelroute.io", (0.0, 0.0))
            call = f"  webhook call {(total - total0) / (count - count0) * 1000:.2f} ms" if count > count0 else ""
            print(
                f"  {label:16s} {KINDS[name]:24s} {clients:2d} clients: {figures.rate:6.0f} writes/s  "
                f"p50 {figures.p(0.5):6.1f} ms  p95 {figures.p(0.95):6.1f} ms{call}",
                flush=True,
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=300, help="writes per ConfigMap and concurrency")
    parser.add_argument("--readers", type=int, default=50, help="running pods that read the read ConfigMap")
    parser.add_argument("--templates", type=int, default=5, help="distinct pod templates among the readers")
    parser.add_argument("--clients", default="1,8")
    args = parser.parse_args(argv)
    concurrencies = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="modelroute-bench-cm-") as tmp, control_plane(Path(tmp) / "cp") as cp:
        print(
            f"ConfigMap-write benchmark: {args.writes} writes per phase, a ConfigMap per writer, {args.readers} "
            f"reading pods of {args.templates} templates, clients {concurrencies}"
        )

        async def without() -> Figures:
            async with api_of(cp) as api:
                await setup(api)
                writers = max(concurrencies)
                for name in KINDS:
                    for k in range(writers):
                        await api.create(f"/api/v1/namespaces/{NAMESPACE}/configmaps", config_map(f"{name}-{k}", "0"))
                await create_all(api, readers(args.readers, args.templates, writers))
                return await phases(api, "without webhooks", args.writes, concurrencies)

        baseline = asyncio.run(without())
        operator = Operator(cp, Path(tmp))
        operator.start()
        try:

            async def with_webhooks() -> Figures:
                async with api_of(cp) as api:
                    return await phases(api, "with ModelRoute", args.writes, concurrencies)

            governed = asyncio.run(with_webhooks())
        finally:
            operator.stop()
    print("ratios to the cluster without webhooks (same run):")
    for key, figures in governed.items():
        name, clients = key
        b = baseline[key]
        print(
            f"  {clients:2d} clients, {KINDS[name]:24s}: p95 {figures.p(0.95) / b.p(0.95):.2f}x  "
            f"p50 {figures.p(0.5) / b.p(0.5):.2f}x  writes/s {figures.rate / b.rate:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

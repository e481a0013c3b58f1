"""ModelRoute at scale: pods through the webhooks with many ModelWorkloads in many namespaces, against the
same benchmark with three workloads, on fresh control planes in one run.

    python -m tests.bench.bench_scale [--pods 10000] [--workloads 1000] [--namespaces 50] [--quiet 60]

Per configuration: pod-create throughput (16 clients) and p95, the time from the last create until every
ModelWorkload's status counts its pods, the operator's peak RSS, and its CPU over a quiet period after
convergence. Ratios are to the three-workload run; the load average is printed before each timed phase.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import world
from tests.bench.cluster import (
    OPERATOR_NAMESPACE,
    Api,
    Operator,
    api_of,
    control_plane,
    create_all,
    create_pods,
    install_crds,
    load,
)


@dataclass
class ScaleFigures:
    rate: float
    p95: float
    converged_after: float
    peak_rss_mb: float
    quiet_cores: float


def pods_for(workloads: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        owner = workloads[i % len(workloads)]
        app = owner["spec"]["selector"]["matchLabels"]["app"]
        pod = world.covered_pod(owner["metadata"]["namespace"], app)
        pod["metadata"].pop("generateName")
        pod["metadata"]["name"] = f"pod-{i}"
        out.append(pod)
    return out


async def converged(api: Api, expected: dict[tuple[str, str], int], timeout: float) -> float:
    """Seconds until every workload's status counts the pods created for it (inf after `timeout`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        listing = await api.get("/apis/modelroute.io/v1alpha1/modelworkloads")
        seen = {
            (w["metadata"]["namespace"], w["metadata"]["name"]): ((w.get("status") or {}).get("pods") or {}).get(
                "matched"
            )
            for w in listing["items"]
        }
        if all(seen.get(key) == count for key, count in expected.items()):
            return time.monotonic() - started
        await asyncio.sleep(1)
    return float("inf")


def run_one(workload_count: int, namespace_count: int, pod_count: int, quiet: float, tmp: Path) -> ScaleFigures:
    label = f"{workload_count} workloads in {namespace_count} namespaces"
    with control_plane(tmp / "cp") as cp:
        bodies = world.cluster_bodies(workload_count, namespace_count)
        pods = pods_for(bodies["modelworkloads"], pod_count)
        expected: dict[tuple[str, str], int] = {}
        for pod in pods:
            app = pod["metadata"]["labels"]["app"]
            key = (pod["metadata"]["namespace"], "model-" + app.removeprefix("app-"))
            expected[key] = expected.get(key, 0) + 1

        async def setup() -> None:
            async with api_of(cp) as api:
                await install_crds(api)
                namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}}
                await create_all(
                    api, [namespace, *bodies["namespaces"], *bodies["azureendpoints"], *bodies["routepolicies"]]
                )
                await create_all(api, bodies["modelworkloads"])

        asyncio.run(setup())
        operator = Operator(cp, tmp)
        operator.start(timeout=300)
        try:

            async def measure() -> tuple[float, float, float]:
                async with api_of(cp) as api:
                    await converged(api, dict.fromkeys(expected, 0), 120)  # statuses written before pods
                    print(f"  load average before creating pods ({label}): {load()}", flush=True)
                    figures = await create_pods(api, pods, 16)
                    after = await converged(api, expected, 300)
                    return figures.rate, figures.p(0.95), after

            rate, p95, after = asyncio.run(measure())
            print(f"  load average before the quiet period ({label}): {load()}", flush=True)
            cpu_before = operator.cpu_seconds()
            time.sleep(quiet)
            cores = (operator.cpu_seconds() - cpu_before) / quiet
            _, peak = operator.rss_mb()
        finally:
            operator.stop()
    figures = ScaleFigures(rate, p95, after, peak, cores)
    print(
        f"  {label}: {rate:6.1f} pods/s  p95 {p95:7.1f} ms  statuses converged {after:5.1f} s after the last "
        f"create  peak RSS {peak:5.0f} MB  quiet CPU {cores:.3f} cores over {quiet:g} s",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--quiet", type=float, default=60.0, help="seconds of quiet CPU measurement")
    args = parser.parse_args(argv)
    print(f"scale benchmark: {args.pods} pods, {args.workloads} workloads in {args.namespaces} namespaces vs 3")
    with tempfile.TemporaryDirectory(prefix="modelroute-bench-scale-") as tmp:
        small = run_one(3, 3, args.pods, args.quiet, Path(tmp) / "small")
        large = run_one(args.workloads, args.namespaces, args.pods, args.quiet, Path(tmp) / "large")
    print(f"ratio: throughput {large.rate / small.rate:.2f}x the 3-workload run (target >= 0.8x)")
    print(
        f"targets: statuses within 30 s ({large.converged_after:.1f} s), peak RSS <= 250 MB "
        f"({large.peak_rss_mb:.0f} MB), quiet CPU <= 0.02 cores ({large.quiet_cores:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The operator's memory as the cluster grows: its resident set after each stage of pods, and the bytes per
watched pod from a least-squares fit, on one fresh control plane.

    python -m tests.bench.bench_memory [--stages 3000,30000,100000] [--workloads 100] [--namespaces 10]

Pods are created through the webhooks (16 clients) up to each stage's count, covered round-robin by the
workloads; after every workload's status counts its pods, the operator's RSS is read (VmRSS, and the
high-water mark VmHWM). The fit over (pods, RSS) gives the slope in bytes per watched pod and the base; the
RSS it predicts for a 150,000-pod cluster (Kubernetes' supported maximum) is printed beside the chart's
default memory limit. The load average is printed before every stage.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.bench import world
from tests.bench.bench_scale import converged, pods_for
from tests.bench.cluster import (
    OPERATOR_NAMESPACE,
    REPO,
    Operator,
    api_of,
    control_plane,
    create_all,
    create_pods,
    install_crds,
    load,
)

#: Kubernetes' largest supported cluster, in pods
LARGEST_CLUSTER = 150_000


@dataclass(frozen=True)
class Stage:
    pods: int
    rss_mb: float
    peak_mb: float


def fit(stages: list[Stage]) -> tuple[float, float]:
    """(bytes per pod, base MB) of the least-squares line through the stages' (pods, RSS)."""
    n = len(stages)
    mean_x = sum(s.pods for s in stages) / n
    mean_y = sum(s.rss_mb for s in stages) / n
    spread = sum((s.pods - mean_x) ** 2 for s in stages)
    slope_mb = sum((s.pods - mean_x) * (s.rss_mb - mean_y) for s in stages) / spread if spread else 0.0
    return slope_mb * 1024 * 1024, mean_y - slope_mb * mean_x


def chart_memory_limit_mb() -> float:
    values = yaml.safe_load((REPO / "charts" / "modelroute" / "values.yaml").read_text())
    limit = str(values["resources"]["limits"]["memory"])
    units = {"Mi": 1.0, "Gi": 1024.0}
    return float(limit[:-2]) * units[limit[-2:]]


def run(stages: list[int], workload_count: int, namespace_count: int, tmp: Path) -> list[Stage]:
    bodies = world.cluster_bodies(workload_count, namespace_count)
    pods = pods_for(bodies["modelworkloads"], max(stages))
    measured: list[Stage] = []
    with control_plane(tmp / "cp") as cp:

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
            created = 0
            for count in stages:
                expected: dict[tuple[str, str], int] = {}
                for pod in pods[:count]:
                    app = pod["metadata"]["labels"]["app"]
                    key = (pod["metadata"]["namespace"], "model-" + app.removeprefix("app-"))
                    expected[key] = expected.get(key, 0) + 1

                async def grow(start: int, stop: int, expected: dict[tuple[str, str], int]) -> float:
                    async with api_of(cp) as api:
                        await create_pods(api, pods[start:stop], 16)
                        return await converged(api, expected, 600)

                print(f"  load average before growing to {count} pods: {load()}", flush=True)
                after = asyncio.run(grow(created, count, expected))
                created = count
                rss, peak = operator.rss_mb()
                measured.append(Stage(count, rss, peak))
                print(
                    f"  {count:7d} pods: operator RSS {rss:6.1f} MB (peak {peak:6.1f} MB), statuses converged "
                    f"{after:5.1f} s after the last create",
                    flush=True,
                )
        finally:
            operator.stop()
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", default="3000,30000,100000", help="pod counts to grow to, ascending")
    parser.add_argument("--workloads", type=int, default=100)
    parser.add_argument("--namespaces", type=int, default=10)
    args = parser.parse_args(argv)
    stages = sorted(int(s) for s in args.stages.split(","))
    print(f"memory benchmark: {stages} pods, {args.workloads} workloads in {args.namespaces} namespaces")
    with tempfile.TemporaryDirectory(prefix="modelroute-bench-memory-") as tmp:
        measured = run(stages, args.workloads, args.namespaces, Path(tmp))
    per_pod, base = fit(measured)
    largest = base + per_pod * LARGEST_CLUSTER / 1024 / 1024
    limit = chart_memory_limit_mb()
    print(f"fit: {per_pod:.0f} bytes per watched pod over a base of {base:.0f} MB")
    print(
        f"a {LARGEST_CLUSTER:,}-pod cluster: about {largest:.0f} MB (chart's default limit {limit:.0f} MB); "
        f"target <= 1024 bytes per pod ({per_pod:.0f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

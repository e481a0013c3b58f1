"""The cluster benchmarks keep working: tiny runs print every figure they promise (no timing is asserted)."""

from __future__ import annotations

import re

import pytest
from tests.bench import bench_config_maps, bench_memory, bench_pods, bench_scale


def test_the_pod_creation_benchmark_prints_every_phase_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_pods.main(["--pods", "6", "--clients", "1,2"]) == 0
    out = capsys.readouterr().out
    # no webhooks, one and two allow-all webhooks, the design's floor, ModelRoute's, ModelRoute's with LiteLLM pods:
    # at each concurrency
    assert len(re.findall(r"load average before", out)) == 12
    assert len(re.findall(r"pods/s  p50 +\d+\.\d+ ms  p95 +\d+\.\d+ ms  CPU per pod: machine \d+\.\d+ ms", out)) == 12
    # the allow-all server's own CPU per pod, beside the operator's in ModelRoute's phases
    assert len(re.findall(r"allow-all webhooks? +\d+ clients:.*, allow-all server \d+\.\d+ ms", out)) == 4
    assert len(re.findall(r"ModelRoute +\d+ clients:.*, operator \d+\.\d+ ms", out)) == 4
    # the floor: two calls answered without judging, the mutating one with ModelRoute's patch, beside a pod watch
    assert len(re.findall(r"patching allow-all \+ pod watch +\d+ clients:.*, floor server \d+\.\d+ ms", out)) == 2
    server_side = re.findall(r"as the API server measured them \(mean\): create \d+\.\d+ ms(.*)", out)
    assert len(server_side) == 12
    # no webhook, the mutating one, then both: each call is seen where the API server makes it
    calls_per_phase = [len(re.findall(r"pods\.(mutate|validate) \d+\.\d+ ms", line)) for line in server_side]
    assert calls_per_phase == [0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    ratios = re.findall(
        r"(\w+ allow-all webhooks?|patching allow-all \+ pod watch|ModelRoute(?:, LiteLLM pods)?) *: "
        r"p95 \d+\.\d+x  p50 \d+\.\d+x  pods/s \d+\.\d+x",
        out,
    )
    phases = ["one allow-all webhook", "two allow-all webhooks", "patching allow-all + pod watch", "ModelRoute"]
    assert ratios == [*phases, "ModelRoute, LiteLLM pods"] * 2
    floors = re.findall(
        r"(\d+) clients: p95 \d+\.\d+x two allow-all webhooks, \d+\.\d+x patching allow-all \+ pod watch; "
        r"operator CPU per pod \d+\.\d+ ms, (?:\d+\.\d+x|n/a \(the floor measured 0 clock ticks\)) "
        r"the floor server's \d+\.\d+ ms \(allow-all server \d+\.\d+ ms\)",
        out,
    )
    assert floors == ["1", "2"]
    # and what judging alone costs, in process, beside the floor server and the operator
    judging = r"judging in process, no I/O \(6 copies of a pod as the API server sent it\): (\d+\.\d+) ms CPU per pod"
    assert re.search(
        judging + r"; with the floor server's \d+\.\d+ ms that is \d+\.\d+ ms, against the "
        r"operator's \d+\.\d+ ms at 1 client\n",
        out,
    )


def test_the_scale_benchmark_prints_throughput_convergence_memory_and_quiet_cpu(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert bench_scale.main(["--pods", "12", "--workloads", "6", "--namespaces", "2", "--quiet", "1"]) == 0
    out = capsys.readouterr().out
    converged = [float(s) for s in re.findall(r"statuses converged +(\S+) s", out)]
    assert len(converged) == 2
    assert all(s != float("inf") for s in converged), out
    assert re.search(r"ratio: throughput \d+\.\d+x", out)
    assert re.search(r"quiet CPU <= 0\.02 cores \(\d+\.\d+\)", out)


def test_the_config_map_write_benchmark_prints_both_config_maps_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_config_maps.main(["--writes", "6", "--readers", "4", "--templates", "2", "--clients", "1,2"]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"load average before", out)) == 8
    rows = re.findall(r"(without webhooks|with ModelRoute) .* writes/s  p50 +\d+\.\d+ ms  p95 +\d+\.\d+ ms(.*)", out)
    assert len(rows) == 8
    # the webhook is called for every data change once ModelRoute is there, never before
    assert [bool(call.strip()) for _, call in rows] == [False] * 4 + [True] * 4
    ratios = re.findall(r"clients, (ConfigMaps [\w ]+?) *: p95 \d+\.\d+x  p50 \d+\.\d+x  writes/s \d+\.\d+x", out)
    assert ratios == ["ConfigMaps no pod reads"] * 2 + ["ConfigMaps pods read"] * 2


def test_the_memory_benchmark_prints_rss_per_stage_and_the_bytes_per_pod(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_memory.main(["--stages", "10,20", "--workloads", "4", "--namespaces", "2"]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"load average before growing to \d+ pods", out)) == 2
    assert len(re.findall(r"\d+ pods: operator RSS +\d+\.\d MB \(peak +\d+\.\d MB\), statuses converged +\d", out)) == 2
    assert re.search(r"fit: -?\d+ bytes per watched pod over a base of \d+ MB", out)
    assert re.search(r"a 150,000-pod cluster: about -?\d+ MB \(chart's default limit 768 MB\)", out)

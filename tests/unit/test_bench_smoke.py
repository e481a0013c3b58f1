"""The benchmark keeps working: a tiny run prints every figure it promises (no timing is asserted)."""

from __future__ import annotations

import re

import pytest
from tests.bench import bench_check, world
from tests.bench.bench_memory import Stage, fit
from tests.bench.cluster import path_for


def test_the_benchmark_prints_throughput_and_ratios_to_its_baselines(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_check.main(["--pods", "200", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "corpus: 200 judged objects" in out
    rates = [float(r) for r in re.findall(r"(\d+) objects/s", out)]
    assert len(rates) == 5
    assert all(rate > 0 for rate in rates)
    assert re.search(r"check costs \d+\.\d+x parsing alone", out)
    assert re.search(r"objects per CPU second", out)
    assert "load average" in out
    assert re.search(r"judging costs \d+\.\d+x a deep copy", out)


def test_the_webhook_benchmark_prints_rates_latencies_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.bench import bench_webhook

    assert bench_webhook.main(["--seconds", "0.3", "--clients", "1,2", "--rounds", "10"]) == 0
    out = capsys.readouterr().out
    # allow-all, ModelRoute on the standard mix, ModelRoute on LiteLLM pods with a mounted config
    assert len(re.findall(r"load average before", out)) == 6
    assert len(re.findall(r"\d+ reviews/s  p50 +\d+\.\d+ ms  p99 +\d+\.\d+ ms", out)) == 6
    assert len(re.findall(r"throughput \d+\.\d+x  p50 \d+\.\d+x  p99 \d+\.\d+x", out)) == 4
    assert "ratios (ModelRoute on LiteLLM pods with a mounted config / allow-all" in out


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (world.litellm_config_map("team-00"), "/api/v1/namespaces/team-00/configmaps"),
        (world.covered_pod(), "/api/v1/namespaces/team-00/pods"),
        (
            world.workload_body("m", "team-00", "app-0"),
            "/apis/modelroute.io/v1alpha1/namespaces/team-00/modelworkloads",
        ),
        (world.namespace_body("team-00"), "/api/v1/namespaces"),
    ],
)
def test_the_benchmark_creates_each_kind_at_its_own_path(body: dict[str, object], path: str) -> None:
    assert path_for(body) == path


def test_the_benchmark_refuses_a_kind_it_has_no_path_for() -> None:
    with pytest.raises(ValueError, match="Secret"):
        path_for({"kind": "Secret", "metadata": {"namespace": "team-00"}})


def test_the_memory_fit_is_the_least_squares_slope_in_bytes_per_pod() -> None:
    per_pod, base = fit([Stage(1000, 101.0, 0), Stage(3000, 103.0, 0), Stage(11000, 111.0, 0)])
    assert round(per_pod) == 1049  # 1 MB per 1,000 pods
    assert round(base, 6) == 100.0

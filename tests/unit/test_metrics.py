"""The operator's metrics: labelled by namespace, workload, channel and endpoint with label sets that stay
bounded whatever pods and reviews arrive, build information and process metrics, what became of every Event,
the serving certificate's expiry, and the reconciler's last completed pass."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import generate_latest
from tests.bench import world

import modelroute
from modelroute.admission import configurations as cfg
from modelroute.admission.server import WebhookServer
from modelroute.admission.webhooks import AdmissionService
from modelroute.cluster import MemoryKube
from modelroute.cluster.certs import generate_serving_files
from modelroute.cluster.events import EventRecorder
from modelroute.cluster.state import ClusterState
from modelroute.controllers.status_sync import StatusSync
from modelroute.observability import OTHER, Metrics
from modelroute.operator.options import RunOptions
from modelroute.operator.runtime import Runtime


def primed(workloads: int, namespaces: int) -> ClusterState:
    state = ClusterState(operator_namespace="modelroute-system")
    for plural, bodies in world.cluster_bodies(workloads, namespaces).items():
        state.replace_all(plural, bodies)
    return state


async def _not_found(_: str) -> None:
    return None


def service(state: ClusterState, metrics: Metrics) -> AdmissionService:
    return AdmissionService(state, metrics, lambda: None, _not_found)


def send_all(svc: AdmissionService, reviews: list[tuple[str, dict[str, Any]]]) -> None:
    async def run() -> None:
        for path, review in reviews:
            reply = await svc.review(path, orjson.dumps(review))
            assert reply.status == 200

    asyncio.run(run())


def samples(metrics: Metrics, name: str) -> list[dict[str, str]]:
    return [s.labels for family in metrics.registry.collect() for s in family.samples if s.name == name]


DECISIONS = "modelroute_admission_decisions_total"


def test_decisions_are_labelled_by_namespace_workload_channel_and_endpoint() -> None:
    metrics = Metrics()
    svc = service(primed(3, 1), metrics)
    send_all(svc, [(cfg.VALIDATE_PODS, world.review(world.violating_pod("team-00", "app-1")))])
    [labels] = samples(metrics, DECISIONS)
    assert labels == {
        "webhook": cfg.VALIDATE_PODS,
        "resource_namespace": "team-00",
        "workload": "model-1",
        "channel": "Microsoft",
        "endpoint": world.ENDPOINT,
        "decision": "denied",
    }


def test_many_pods_and_workloads_make_one_series_per_workload_and_decision_never_one_per_pod() -> None:
    workloads, namespaces, pods = 300, 30, 3000
    metrics = Metrics()
    svc = service(primed(workloads, namespaces), metrics)
    names = world.namespaces(namespaces)
    reviews = []
    for i in range(pods):
        workload = i % workloads
        pod = world.violating_pod(names[workload % namespaces], f"app-{workload}")
        pod["metadata"]["name"] = f"pod-{i}"
        reviews.append((cfg.VALIDATE_PODS, world.review(pod)))
        plain = world.plain_pod(names[i % namespaces])
        plain["metadata"]["name"] = f"plain-{i}"
        reviews.append((cfg.VALIDATE_PODS, world.review(plain)))
    # and reviews naming namespaces that do not exist, each one different, as a forged caller could send
    reviews += [(cfg.VALIDATE_PODS, world.review(world.plain_pod(f"forged-{i}"))) for i in range(500)]
    send_all(svc, reviews)

    series = samples(metrics, DECISIONS)
    values = {value for labels in series for value in labels.values()}
    assert len(series) == workloads + namespaces + 1  # one per workload, one per namespace's plain pods, other
    assert not {f"pod-{i}" for i in range(pods)} & values
    assert not {f"forged-{i}" for i in range(500)} & values
    forged = [labels for labels in series if labels["resource_namespace"] == OTHER]
    assert forged == [{**forged[0], "workload": "", "channel": "", "endpoint": ""}]
    assert len(svc.metrics.decisions) == workloads + namespaces  # nothing forged is remembered either


def test_past_the_series_limit_new_label_sets_are_counted_under_other() -> None:
    metrics = Metrics(series_limit=10)
    svc = service(primed(40, 4), metrics)
    names = world.namespaces(4)
    reviews = [(cfg.VALIDATE_PODS, world.review(world.violating_pod(names[i % 4], f"app-{i}"))) for i in range(40)]
    send_all(svc, reviews)
    series = {
        tuple(sorted(s.labels.items())): s.value
        for f in metrics.registry.collect()
        for s in f.samples
        if s.name == DECISIONS
    }
    assert len(series) == 11
    other = [value for labels, value in series.items() if dict(labels)["workload"] == OTHER]
    assert other == [30.0]  # nothing is lost: the 30 reviews past the limit are counted, without their names


def test_series_of_deleted_workloads_and_namespaces_are_forgotten() -> None:
    state = primed(4, 2)
    metrics = Metrics()
    svc = service(state, metrics)
    runtime = Runtime(options=RunOptions(), state=state, kube=None, metrics=metrics)  # type: ignore[arg-type]
    names = world.namespaces(2)
    send_all(
        svc,
        [(cfg.VALIDATE_PODS, world.review(world.violating_pod(names[i % 2], f"app-{i}"))) for i in range(4)]
        + [(cfg.VALIDATE_PODS, world.review(world.plain_pod(n))) for n in names],
    )
    assert len(samples(metrics, DECISIONS)) == 6
    assert runtime.forget_deleted_series() == 0
    state.delete("modelworkloads", state.raw["modelworkloads"][("team-00", "model-0")])
    state.delete("namespaces", state.raw["namespaces"][("", "team-01")])
    assert runtime.forget_deleted_series() == 2  # model-0's, and the plain pods' of team-01
    left = {(s["resource_namespace"], s["workload"]) for s in samples(metrics, DECISIONS)}
    assert left == {("team-00", "model-2"), ("team-00", ""), ("team-01", "model-1"), ("team-01", "model-3")}


def test_the_audit_counts_running_pods_per_workload_channel_and_endpoint_and_drops_deleted_workloads() -> None:
    state = primed(3, 1)
    pods = []
    for i in range(5):
        pod = world.violating_pod("team-00", "app-2")
        pod["metadata"]["name"] = f"p{i}"
        pods.append(pod)
    state.replace_all("pods", pods)
    metrics = Metrics()
    sync = StatusSync(state, MemoryKube(), metrics)
    sync.sync_once()
    rows = {(s["workload"], s["result"]): s for s in samples(metrics, "modelroute_audit_workload_pods")}
    assert set(rows) == {(f"model-{i}", r) for i in range(3) for r in ("compliant", "violating")}
    assert rows[("model-2", "violating")] == {
        "resource_namespace": "team-00",
        "workload": "model-2",
        "channel": "Microsoft",
        "endpoint": world.ENDPOINT,
        "result": "violating",
    }
    values = {
        (s.labels["workload"], s.labels["result"]): s.value
        for f in metrics.registry.collect()
        for s in f.samples
        if s.name == "modelroute_audit_workload_pods"
    }
    assert values[("model-2", "violating")] == 5
    state.delete("modelworkloads", state.raw["modelworkloads"][("team-00", "model-2")])
    sync.sync_once()
    assert {s["workload"] for s in samples(metrics, "modelroute_audit_workload_pods")} == {"model-0", "model-1"}


def test_audited_workloads_past_the_limit_are_summed_under_other() -> None:
    state = primed(30, 3)
    metrics = Metrics(series_limit=5)
    StatusSync(state, MemoryKube(), metrics).sync_once()
    workloads = {s["workload"] for s in samples(metrics, "modelroute_audit_workload_pods")}
    assert len(workloads) == 6
    assert OTHER in workloads


def test_build_info_and_process_metrics_are_exported() -> None:
    text = generate_latest(Metrics().registry).decode()
    assert 'modelroute_build_info{kopf_version="' in text
    assert f'version="{modelroute.__version__}"' in text
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "python_info",
        "python_gc_objects_collected_total",
    ):
        assert f"\n{name}" in text, name


def event_counts(metrics: Metrics) -> dict[str, float]:
    return {
        s.labels["result"]: s.value
        for f in metrics.registry.collect()
        for s in f.samples
        if s.name == "modelroute_events_total"
    }


def test_every_event_is_counted_by_what_became_of_it() -> None:
    metrics = Metrics()
    now = [0.0]
    recorder = EventRecorder(MemoryKube(), capacity=3, rate=1.0, burst=5, clock=lambda: now[0], count=metrics.event)
    pod = world.violating_pod()
    recorder.record(pod, "team-00", "Warning", "RouteDenied", "same")
    recorder.record(pod, "team-00", "Warning", "RouteDenied", "same")  # deduplicated
    for i in range(4):  # 3 fit the queue of 3 (one already queued: 2 more), then the queue is full
        recorder.record(pod, "team-00", "Warning", "RouteDenied", f"message {i}")
    for i in range(3):  # the bucket of 5 is empty now
        recorder.record(pod, "team-00", "Warning", "RouteDenied", f"flood {i}")
    batch = [recorder.queue.get_nowait() for _ in range(recorder.queue.qsize())]
    recorder._post(batch)
    failing = MemoryKube()
    failing.fail("create_event", ConnectionError("the API server went away"))
    EventRecorder(failing, count=metrics.event)._post(batch[:1])
    assert event_counts(metrics) == {
        "posted": 3.0,
        "failed": 1.0,
        "queue-full": 2.0,
        "rate-limited": 3.0,
        "deduplicated": 1.0,
    }


def test_the_serving_certificates_expiry_is_exported_and_follows_a_rotation(tmp_path: Path) -> None:
    metrics = Metrics()
    files = generate_serving_files(tmp_path, ["127.0.0.1"], days=30)
    server = WebhookServer(
        service(primed(1, 1), metrics),
        addr="127.0.0.1",
        port=0,
        cert=files.cert_file,
        key=files.key_file,
        metrics=metrics,
    )
    in_30_days = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    assert abs(metrics.serving_certificate_expiry._value.get() - in_30_days.timestamp()) < 120
    rotated = generate_serving_files(tmp_path / "new", ["127.0.0.1"], days=90)
    files.cert_file.write_bytes(rotated.cert_file.read_bytes())
    files.key_file.write_bytes(rotated.key_file.read_bytes())
    assert server.reload_if_changed()
    in_90_days = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=90)
    assert abs(metrics.serving_certificate_expiry._value.get() - in_90_days.timestamp()) < 120


def _run_until(sync: StatusSync, done: Any) -> None:
    async def run() -> None:
        task = asyncio.create_task(sync.run())
        for _ in range(500):
            await asyncio.sleep(0.01)
            if done():
                break
        task.cancel()

    asyncio.run(run())


def test_a_completed_pass_records_when_it_completed() -> None:
    metrics = Metrics()
    sync = StatusSync(primed(1, 1), MemoryKube(), metrics, debounce_seconds=0, min_interval_seconds=0)
    _run_until(sync, lambda: metrics.audit_last_success._value.get() > 0)
    assert abs(metrics.audit_last_success._value.get() - datetime.datetime.now(datetime.UTC).timestamp()) < 60
    assert metrics.reconcile_errors._value.get() == 0


def test_a_failed_pass_counts_an_error_and_records_no_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = Metrics()
    sync = StatusSync(primed(1, 1), MemoryKube(), metrics, debounce_seconds=0, min_interval_seconds=0)

    def failing() -> int:
        raise RuntimeError("the API server went away")

    monkeypatch.setattr(sync, "sync_once", failing)
    _run_until(sync, lambda: metrics.reconcile_errors._value.get() > 0)
    assert metrics.reconcile_errors._value.get() == 1
    assert metrics.audit_last_success._value.get() == 0

"""What the reconciler does not redo: pods it already judged against the same policy context, a pass after
the echo of its own status write, and a full recomputation when nothing it reads has changed."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import pytest
from spies import first_arguments
from tests.bench import world

from modelroute.cluster import ClusterState, MemoryKube
from modelroute.controllers import status_sync
from modelroute.controllers.status_sync import StatusSync
from modelroute.engine import audit as audit_module
from modelroute.engine.audit import AuditMemo, audit


def patched(kube: MemoryKube) -> list[tuple[str, str]]:
    """(plural, name) of every status write, in order."""
    return [(plural, name) for plural, _, name in kube.patches]


def primed() -> ClusterState:
    state = ClusterState(operator_namespace="modelroute-system")
    for plural, bodies in world.cluster_bodies(3, 1).items():
        state.replace_all(plural, bodies)
    pods = []
    for i in range(4):
        pod = world.covered_pod()
        pod["metadata"]["name"] = f"p{i}"
        pod["spec"]["containers"][0]["env"].append({"name": "REPLICA", "value": str(i)})  # distinct contents
        pods.append(pod)
    state.replace_all("pods", pods)
    return state


def counted_judgements(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The objects the audit judges from now on, one entry per judgement."""
    return first_arguments(monkeypatch, audit_module, "evaluate")


def test_a_pod_already_judged_against_the_same_context_is_not_judged_again(monkeypatch: pytest.MonkeyPatch) -> None:
    state = primed()
    memo: AuditMemo = {}
    calls = counted_judgements(monkeypatch)
    first = audit(list(state.raw["pods"].values()), state.context(), memo=memo)
    newcomer = world.covered_pod()
    newcomer["metadata"]["name"] = "new"
    newcomer["spec"]["containers"][0]["env"].append({"name": "REPLICA", "value": "new"})
    state.upsert("pods", newcomer)
    second = audit(list(state.raw["pods"].values()), state.context(), memo=memo)
    assert len(calls) == 4 + 1
    assert second.pod_counts("team-00", "model-0")["matched"] == first.pod_counts("team-00", "model-0")["matched"] + 1


def test_the_replicas_of_one_template_are_judged_once_per_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    state = primed()
    replicas = []
    for i in range(10):
        pod = world.covered_pod()
        pod["metadata"]["name"] = f"replica-{i}"
        replicas.append(pod)
    calls = counted_judgements(monkeypatch)
    result = audit(replicas, state.context())
    assert len(calls) == 1
    assert result.pod_counts("team-00", "model-0")["matched"] == 10
    assert len(result.findings) == 10


def test_the_echo_of_its_own_status_write_does_not_wake_the_reconciler() -> None:
    state = primed()
    kube = MemoryKube()
    sync = StatusSync(state, kube)
    sync.sync_once()
    assert patched(kube)
    sync.dirty.clear()
    for (plural, (namespace, name)), status in list(sync._written.items()):
        body = copy.deepcopy(state.raw[plural][(namespace, name)])
        body["status"] = status
        body["metadata"]["resourceVersion"] = "2"
        state.upsert(plural, body)
    assert not sync.dirty.is_set()


def test_a_status_someone_else_changed_wakes_the_reconciler() -> None:
    state = primed()
    sync = StatusSync(state, MemoryKube())
    sync.sync_once()
    sync.dirty.clear()
    body = copy.deepcopy(state.raw["modelworkloads"][("team-00", "model-0")])
    body["status"] = {"conditions": []}
    state.upsert("modelworkloads", body)
    assert sync.dirty.is_set()


def test_a_quiet_period_repairs_without_recomputing(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    state = primed()
    sync = StatusSync(state, MemoryKube(), resync_seconds=0.05, debounce_seconds=0, min_interval_seconds=0)
    passes: list[str] = []
    real_sync = sync.sync_once
    monkeypatch.setattr(sync, "sync_once", lambda: passes.append("sync") or real_sync())
    monkeypatch.setattr(sync, "repair", lambda: passes.append("repair"))

    async def run_a_while() -> None:
        task = asyncio.create_task(sync.run())
        while len(passes) < 3:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(run_a_while())
    assert passes[:3] == ["sync", "repair", "repair"]


def test_pod_churn_does_not_re_list_egress_policies() -> None:
    state = primed()
    kube = MemoryKube()

    def listed() -> list[str]:
        return [call for call in kube.calls if call.startswith("list ")]

    sync = StatusSync(state, kube)
    sync.sync_once()
    first = len(listed())
    newcomer = world.covered_pod()
    newcomer["metadata"]["name"] = "new"
    newcomer["spec"]["containers"][0]["env"].append({"name": "REPLICA", "value": "new"})
    state.upsert("pods", newcomer)
    sync.sync_once()
    assert first > 0
    assert len(listed()) == first


def synced_and_echoed(sync: StatusSync, state: ClusterState) -> None:
    """A pass, then the watch delivering what it wrote back into the view."""
    sync.sync_once()
    for (plural, key), status in sync._written.items():
        body = copy.deepcopy(state.raw[plural][key])
        body["status"] = status
        state.upsert(plural, body)


class Clocked:
    """A primed view, a reconciler that has not run yet, and a clock the test moves."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        monkeypatch.setattr(status_sync.time, "monotonic", lambda: self.now)
        self.state = primed()
        self.kube = MemoryKube()
        self.sync = StatusSync(self.state, self.kube)

    def add_pod(self, name: str) -> None:
        body = world.covered_pod()
        body["metadata"]["name"] = name
        self.state.upsert("pods", body)

    def pass_(self) -> None:
        synced_and_echoed(self.sync, self.state)


@pytest.fixture
def clocked(monkeypatch: pytest.MonkeyPatch) -> Clocked:
    return Clocked(monkeypatch)


def test_new_pod_counts_wait_for_pods_to_settle_and_a_condition_change_does_not(clocked: Clocked) -> None:
    state, kube, sync = clocked.state, clocked.kube, clocked.sync
    clocked.pass_()
    assert ("modelworkloads", "model-0") in patched(kube)
    kube.patches.clear()

    clocked.add_pod("new")
    clocked.pass_()
    assert patched(kube) == []  # pods are still changing
    assert sync.deferred_seconds == status_sync.COUNTS_QUIET_SECONDS

    body = copy.deepcopy(state.raw["modelworkloads"][("team-00", "model-0")])
    body["spec"]["endpointRef"] = {"name": "missing"}
    body["metadata"]["generation"] = 2
    state.upsert("modelworkloads", body)
    clocked.pass_()
    assert ("modelworkloads", "model-0") in patched(kube)  # at once, with the counts it carries
    kube.patches.clear()
    body["spec"]["endpointRef"] = {"name": "contoso"}
    body["metadata"]["generation"] = 3
    state.upsert("modelworkloads", body)
    clocked.pass_()
    kube.patches.clear()

    clocked.add_pod("newer")
    clocked.now += 1
    clocked.pass_()
    assert patched(kube) == []
    clocked.now += status_sync.COUNTS_QUIET_SECONDS  # no pod changed since: the settled counts are written
    clocked.pass_()
    assert patched(kube) == [("modelworkloads", "model-0")]
    assert sync.deferred_seconds is None
    kube.patches.clear()

    for second in range(int(status_sync.COUNTS_MAX_STALE_SECONDS) + 1):  # pods that never stop changing
        clocked.add_pod(f"churn-{second}")
        clocked.now += 1
        clocked.pass_()
    assert patched(kube) == [("modelworkloads", "model-0")]  # once, when its counts had been stale too long


def test_while_only_pods_change_the_reconciler_waits_for_them_to_settle(clocked: Clocked) -> None:
    state, sync = clocked.state, clocked.sync
    assert sync._pods_settling(clocked.now) is None  # the first pass is always due
    clocked.pass_()

    clocked.add_pod("new")
    clocked.now += 0.5
    assert sync._pods_settling(clocked.now) == status_sync.COUNTS_QUIET_SECONDS - 0.5
    clocked.now += status_sync.COUNTS_QUIET_SECONDS
    assert sync._pods_settling(clocked.now) is None  # settled: the pass is due

    clocked.add_pod("newer")
    sync._repair_status = True  # someone else's status edit is put right at once
    assert sync._pods_settling(clocked.now) is None
    sync._repair_status = False
    body = copy.deepcopy(state.raw["routepolicies"][("", "strict")])
    body["spec"]["enforcement"] = "Warn"
    body["metadata"]["generation"] = 2
    state.upsert("routepolicies", body)
    assert sync._pods_settling(clocked.now) is None  # a policy input changed: at once


def test_pods_that_never_settle_still_get_a_pass_every_so_often(clocked: Clocked) -> None:
    clocked.pass_()
    clocked.kube.patches.clear()
    for second in range(int(status_sync.COUNTS_MAX_STALE_SECONDS)):
        clocked.add_pod(f"churn-{second}")
        clocked.now += 1
        expected = None if second == status_sync.COUNTS_MAX_STALE_SECONDS - 1 else 1.0
        assert clocked.sync._pods_settling(clocked.now) == expected, second
    clocked.pass_()  # the pass that is due writes the counts it finds: they are 30 s old
    assert patched(clocked.kube) == [("modelworkloads", "model-0")]


def test_a_burst_of_pods_wakes_the_reconciler_about_once_a_settle_window_not_once_a_pod() -> None:
    state = primed()
    sync = StatusSync(state, MemoryKube(), debounce_seconds=0.01, min_interval_seconds=0.01)
    state.on_change(sync.poke)  # as the operator's wiring does: the pod watch's thread pokes it
    wakes: list[object] = []

    def burst() -> None:
        for i in range(150):
            body = world.covered_pod()
            body["metadata"]["name"] = f"burst-{i}"
            state.upsert("pods", body)
            time.sleep(0.002)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        real = loop.call_soon_threadsafe

        def counted(callback: Any, *args: Any, **kwargs: Any) -> Any:
            if callback == sync.dirty.set:
                wakes.append(callback)
            return real(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        running = asyncio.create_task(sync.run())
        await asyncio.sleep(0.3)  # the first pass
        wakes.clear()
        await asyncio.to_thread(burst)
        running.cancel()

    asyncio.run(main())
    assert len(wakes) <= 2, f"the loop was woken {len(wakes)} times for 150 pods"

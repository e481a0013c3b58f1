"""After a ConfigMap changes, the background audit re-judges the pods that read it, at once, and only them:
their counts, reports and an Event follow; every other pod keeps its decision."""

from __future__ import annotations

import asyncio
from typing import Any

import jsonpatch
import pytest
from tests.bench import world

from modelroute.cluster import MemoryKube
from modelroute.cluster.state import ClusterState
from modelroute.controllers.status_sync import StatusSync
from modelroute.engine import audit as audit_module
from modelroute.engine.evaluate import evaluate
from modelroute.operator.options import RunOptions
from modelroute.operator.runtime import Runtime

NAMESPACE = "team-00"


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def record(self, involved: Any, namespace: str, kind: str, reason: str, message: str) -> None:
        self.events.append((str(involved["metadata"]["name"]), kind, reason, message))


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE}, "data": data}


def admitted(state: ClusterState, name: str, reads: str) -> dict[str, Any]:
    body = world.covered_pod()
    body["metadata"]["name"] = name
    body["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": reads}}]
    decision = evaluate(body, state.context())
    assert decision.allowed
    patched: dict[str, Any] = jsonpatch.apply_patch(body, decision.patch)
    return patched


def primed(enforcement: str = "Warn") -> ClusterState:
    state = ClusterState(operator_namespace="modelroute-system")
    bodies = world.cluster_bodies()
    bodies["routepolicies"] = [world.policy_body(enforcement=enforcement)]
    bodies["configmaps"] = [config_map("chat-env", LOG_LEVEL="info"), config_map("other-env", LOG_LEVEL="info")]
    for plural, items in bodies.items():
        state.replace_all(plural, items)
    pods = [admitted(state, f"chat-{i}", "chat-env") for i in range(2)]
    pods += [admitted(state, f"other-{i}", "other-env") for i in range(3)]
    state.replace_all("pods", pods)
    return state


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    judged: list[str] = []
    real = evaluate

    def count(*args: Any, **kwargs: Any) -> Any:
        judged.append(args[0]["metadata"]["name"])
        return real(*args, **kwargs)

    monkeypatch.setattr(audit_module, "evaluate", count)
    return judged


def test_a_config_map_change_re_judges_only_the_pods_that_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    state, kube, recorded = primed(), MemoryKube(), Recorded()
    sync = StatusSync(state, kube, recorder=lambda: recorded)  # type: ignore[arg-type,return-value]
    sync.sync_once()
    assert kube.statuses[("modelworkloads", NAMESPACE, "model-0")]["pods"]["violating"] == 0
    judged = counting(monkeypatch)
    state.upsert("configmaps", config_map("chat-env", LOG_LEVEL="info", OPENAI_API_BASE=world.DIRECT_BASE))
    sync.sync_once()
    assert judged == ["chat-0"]  # the readers, one template: judged once
    assert kube.statuses[("modelworkloads", NAMESPACE, "model-0")]["pods"] == {
        "matched": 5,
        "compliant": 3,
        "violating": 2,
    }
    assert sorted(e[0] for e in recorded.events) == ["chat-0", "chat-1"]
    (_, kind, reason, message) = recorded.events[0]
    assert (kind, reason) == ("Warning", "RouteViolation")
    assert "ConfigMap team-00/chat-env" in message
    assert "[EndpointNotApproved]" in message


def test_a_change_to_a_config_map_no_pod_reads_judges_no_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    state, kube, recorded = primed(), MemoryKube(), Recorded()
    sync = StatusSync(state, kube, recorder=lambda: recorded)  # type: ignore[arg-type,return-value]
    sync.sync_once()
    judged = counting(monkeypatch)
    state.upsert("configmaps", config_map("unread", A="1"))
    sync.sync_once()
    assert judged == []
    assert recorded.events == []


def test_any_other_change_re_judges_every_pod_and_the_readers_still_get_their_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, kube, recorded = primed(), MemoryKube(), Recorded()
    sync = StatusSync(state, kube, recorder=lambda: recorded)  # type: ignore[arg-type,return-value]
    sync.sync_once()
    judged = counting(monkeypatch)
    state.upsert("configmaps", config_map("chat-env", OPENAI_API_BASE=world.DIRECT_BASE))
    state.upsert(
        "namespaces", {**world.namespace_body(NAMESPACE), "metadata": {"name": NAMESPACE, "labels": {"a": "b"}}}
    )
    sync.sync_once()
    assert sorted(judged) == ["chat-0", "other-0"]  # every pod, each template once
    assert sorted(e[0] for e in recorded.events) == ["chat-0", "chat-1"]


def test_the_audit_is_asked_for_only_when_a_pod_reads_the_changed_config_map() -> None:
    state = primed()
    runtime = Runtime(options=RunOptions(), state=state, kube=None)  # type: ignore[arg-type]
    pokes: list[str | None] = []

    class Sync:
        def poke(self, plural: str | None = None) -> None:
            pokes.append(plural)

    runtime.status_sync = Sync()  # type: ignore[assignment]
    state.on_change(runtime.poke)
    state.on_config_maps(runtime.config_maps_changed)
    state.upsert("configmaps", config_map("unread", A="1"))
    assert pokes == []
    state.upsert("configmaps", config_map("chat-env", LOG_LEVEL="debug"))
    assert pokes == ["configmaps"]


def test_a_poked_reconciler_runs_its_pass_within_a_second() -> None:
    async def scenario() -> float:
        state, kube = primed(), MemoryKube()
        sync = StatusSync(state, kube, debounce_seconds=0.05, min_interval_seconds=0.05)
        task = asyncio.create_task(sync.run())
        while sync.last_audit.findings == []:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        state.upsert("configmaps", config_map("chat-env", OPENAI_API_BASE=world.DIRECT_BASE))
        loop = asyncio.get_running_loop()
        started = loop.time()
        sync.poke("configmaps")
        while kube.statuses[("modelworkloads", NAMESPACE, "model-0")]["pods"]["violating"] != 2:
            await asyncio.sleep(0.01)
            assert loop.time() - started < 5
        task.cancel()
        return loop.time() - started

    assert asyncio.run(scenario()) < 1.0

"""The cluster view: what moves its version (policy inputs only), what it remembers of invalid objects,
and when it tells its listeners."""

from __future__ import annotations

import copy
from typing import Any

from tests.bench import world

from modelroute.cluster.state import WATCHED, ClusterState


def primed() -> tuple[ClusterState, list[str]]:
    state = ClusterState(operator_namespace="modelroute-system")
    for plural, bodies in world.cluster_bodies(3, 1).items():
        state.replace_all(plural, bodies)
    notified: list[str] = []
    state.on_change(notified.append)
    return state, notified


def workload(state: ClusterState, name: str = "model-0") -> dict[str, Any]:
    return copy.deepcopy(state.raw["modelworkloads"][("team-00", name)])


def test_it_is_ready_only_once_every_watched_kind_has_been_listed() -> None:
    state = ClusterState()
    for plural in WATCHED[:-1]:
        state.replace_all(plural, [])
    assert not state.ready
    state.replace_all(WATCHED[-1], [])
    assert state.ready


def test_a_status_write_keeps_the_version_and_the_compiled_context() -> None:
    state, notified = primed()
    before, context = state.version, state.context()
    body = workload(state)
    body["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "Routed"}]}
    body["metadata"]["resourceVersion"] = "99"
    state.upsert("modelworkloads", body)
    assert state.version == before
    assert state.context() is context
    assert notified == []
    assert state.raw["modelworkloads"][("team-00", "model-0")]["status"] == body["status"]


def test_a_spec_change_moves_the_version_and_rebuilds_the_context() -> None:
    state, notified = primed()
    before, context = state.version, state.context()
    body = workload(state)
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    body["metadata"]["generation"] = 2
    state.upsert("modelworkloads", body)
    assert state.version == before + 1
    assert state.context() is not context
    assert notified == ["modelworkloads"]


def test_pods_move_their_own_version_not_the_policy_context() -> None:
    state, _ = primed()
    before, pods_before, context = state.version, state.pod_version, state.context()
    state.upsert("pods", world.pod("team-00", "app-0", name="p1"))
    assert (state.version, state.pod_version) == (before, pods_before + 1)
    assert state.context() is context


def test_a_namespace_label_change_is_a_policy_input() -> None:
    state, _ = primed()
    before = state.version
    body = copy.deepcopy(state.raw["namespaces"][("", "team-00")])
    body["metadata"]["labels"]["env"] = "prod"
    state.upsert("namespaces", body)
    assert state.version == before + 1
    assert state.context().namespace_labels["team-00"]["env"] == "prod"


def test_a_re_list_that_finds_what_the_watches_delivered_wakes_nobody() -> None:
    state, notified = primed()
    before = state.version
    state.replace_all("modelworkloads", [workload(state, f"model-{i}") for i in range(3)])
    assert state.version == before
    assert notified == []


def test_a_re_list_that_misses_an_object_forgets_it() -> None:
    state, notified = primed()
    state.replace_all("modelworkloads", [workload(state, "model-0")])
    assert [w.name for ws in state.context().workloads.values() for w in ws] == ["model-0"]
    assert notified == ["modelworkloads"]


def test_an_invalid_spec_is_remembered_with_its_reason_and_forgotten_when_fixed() -> None:
    state, _ = primed()
    body = workload(state)
    good_spec = copy.deepcopy(body["spec"])
    del body["spec"]["procurement"]
    state.upsert("modelworkloads", body)
    assert "procurement" in state.invalid["modelworkloads"][("team-00", "model-0")]
    assert "model-0" not in [w.name for ws in state.context().workloads.values() for w in ws]
    fixed = {**copy.deepcopy(body), "spec": good_spec}
    state.upsert("modelworkloads", fixed)
    assert ("team-00", "model-0") not in state.invalid["modelworkloads"]


def test_deleting_an_object_it_never_saw_wakes_nobody() -> None:
    state, notified = primed()
    before = state.version
    state.delete("modelworkloads", {"metadata": {"name": "ghost", "namespace": "team-00"}})
    assert state.version == before
    assert notified == []


def test_only_the_status_of_a_modelroute_resource_reaches_the_status_listeners() -> None:
    state, _ = primed()
    seen: list[tuple[str, tuple[str, str]]] = []
    state.on_status(lambda plural, key, status: seen.append((plural, key)))
    body = workload(state)
    body["status"] = {"pods": {"matched": 1}}
    state.upsert("modelworkloads", body)
    namespace = copy.deepcopy(state.raw["namespaces"][("", "team-00")])
    namespace["status"] = {"phase": "Active"}
    state.upsert("namespaces", namespace)
    assert seen == [("modelworkloads", ("team-00", "model-0"))]

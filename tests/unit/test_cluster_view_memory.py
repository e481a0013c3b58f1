"""The cluster view keeps what the pods of one template hold alike once: memory follows the templates,
not the pods, and nothing a pod said is lost."""

from __future__ import annotations

import gc
import tracemalloc
import uuid
from typing import Any

import orjson

from modelroute.cluster.shared import Shared
from modelroute.cluster.state import WATCHED, ClusterState


def watched_pod(name: str, template: int, phase: str = "Running", namespace: str = "team") -> dict[str, Any]:
    """A pod as the watch delivers it: parsed afresh from JSON, with the fields the view drops."""
    app = f"app-{template}"
    env = [{"name": "OPENAI_BASE_URL", "value": "https://contoso.openai.azure.com/openai/v1"}] + [
        {"name": f"SETTING_{i}", "value": f"value-{template}-{i}"} for i in range(20)
    ]
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generateName": f"{app}-7d9f8-",
            "uid": str(uuid.uuid4()),
            "resourceVersion": "12345",
            "labels": {"app": app, "pod-template-hash": "7d9f8"},
            "annotations": {"modelroute.io/decision": "compliant", "modelroute.io/workload": app},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-7d9f8", "uid": "u"}],
            "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {"f:containers": {}}}}],
        },
        "spec": {
            "containers": [{"name": "app", "image": f"registry.example.com/{app}:1", "env": env}],
            "volumes": [{"name": "config", "configMap": {"name": f"{app}-config"}}],
        },
        "status": {"phase": phase, "podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    return orjson.loads(orjson.dumps(body))


def synced() -> ClusterState:
    state = ClusterState()
    for plural in WATCHED:
        state.replace_all(plural, [])
    return state


def test_the_pods_of_one_template_share_its_spec_labels_annotations_and_owner() -> None:
    state = synced()
    state.upsert("pods", watched_pod("a", 1))
    state.upsert("pods", watched_pod("b", 1))
    a, b = state.raw["pods"][("team", "a")], state.raw["pods"][("team", "b")]
    assert a["spec"] is b["spec"]
    for part in ("labels", "annotations", "ownerReferences"):
        assert a["metadata"][part] is b["metadata"][part]
    assert a["metadata"]["uid"] != b["metadata"]["uid"]


def test_the_view_keeps_everything_the_audit_reads_of_a_pod() -> None:
    state = synced()
    sent = watched_pod("a", 1, phase="Pending")
    state.upsert("pods", sent)
    kept = state.raw["pods"][("team", "a")]
    assert kept["spec"] == sent["spec"]
    assert kept["status"] == {"phase": "Pending"}
    dropped = ("resourceVersion", "managedFields", "generateName")
    metadata = {k: v for k, v in sent["metadata"].items() if k not in dropped}
    assert kept["metadata"] == metadata


def test_a_shared_copy_goes_with_the_last_pod_that_holds_it() -> None:
    state = synced()
    for i in range(4):
        state.upsert("pods", watched_pod(f"p{i}", template=i % 2))
    held = len(state._shared)
    assert held > 0
    state.delete("pods", watched_pod("p0", 0))
    assert len(state._shared) == held  # p2 still holds template 0
    state.delete("pods", watched_pod("p2", 0))
    assert len(state._shared) < held
    state.replace_all("pods", [])
    assert len(state._shared) == 0


def test_a_pod_whose_template_changes_lets_the_old_copy_go() -> None:
    state = synced()
    state.upsert("pods", watched_pod("a", 1))
    before = len(state._shared)
    for _ in range(3):  # kubelet status updates: same template
        state.upsert("pods", watched_pod("a", 1, phase="Running"))
    assert len(state._shared) == before
    state.upsert("pods", watched_pod("a", 2))
    assert len(state._shared) == before
    assert state.raw["pods"][("team", "a")]["metadata"]["labels"]["app"] == "app-2"
    assert state.readers_of("team", "app-2-config") == {("team", "a")}
    assert state.readers_of("team", "app-1-config") == frozenset()


def test_a_watched_pod_costs_the_view_about_a_kilobyte() -> None:
    count, templates = 3000, 30
    wire = [orjson.dumps(watched_pod(f"pod-{i}", i % templates)) for i in range(count)]
    state = synced()
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for raw in wire:
            state.upsert("pods", orjson.loads(raw))
        gc.collect()
        per_pod = (tracemalloc.get_traced_memory()[0] - baseline) / count
    finally:
        tracemalloc.stop()
    # about 630; 990 with two dicts per pod, 9,900 before templates were shared
    assert per_pod <= 760, f"{per_pod:.0f} bytes per watched pod"


def test_values_are_shared_by_content_and_counted() -> None:
    shared = Shared()
    first, second = {"a": [1, 2]}, {"a": [1, 2]}
    assert shared.take(first) is first
    assert shared.take(second) is first
    shared.release(second)
    assert len(shared) == 1
    shared.release(first)
    assert len(shared) == 0
    assert shared.take({}) == {}  # nothing worth sharing is not counted
    assert len(shared) == 0


def test_a_kept_pod_reads_as_the_pod_it_stands_for() -> None:
    state = synced()
    sent = watched_pod("a", 1)
    del sent["metadata"]["labels"]
    sent["metadata"]["annotations"] = None
    state.upsert("pods", sent)
    kept = state.raw["pods"][("team", "a")]
    assert "labels" not in kept["metadata"]  # absent stays absent
    assert kept["metadata"]["annotations"] is None  # and null stays null
    assert dict(kept) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": kept["metadata"],
        "spec": sent["spec"],
        "status": {"phase": "Running"},
    }
    assert kept.get("template") is None
    assert kept == dict(kept)

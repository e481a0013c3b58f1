"""The cluster view's index of which pods read which ConfigMaps, and the log of ConfigMap changes the
audit re-judges by."""

from __future__ import annotations

from typing import Any

from modelroute.cluster.state import CONFIG_MAP_LOG_SIZE, WATCHED, ClusterState


def reader(name: str, *config_maps: str, namespace: str = "team", volume: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": "app", "envFrom": [{"configMapRef": {"name": cm}} for cm in config_maps]}]
    }
    if volume:
        spec["volumes"] = [{"name": "config", "configMap": {"name": volume}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def config_map(name: str, namespace: str = "team", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def synced(*pods: dict[str, Any]) -> ClusterState:
    state = ClusterState()
    for plural in WATCHED:
        state.replace_all(plural, list(pods) if plural == "pods" else [])
    return state


def test_a_pod_is_indexed_under_every_config_map_it_reads() -> None:
    state = synced(reader("a", "env", volume="files"), reader("b", "env"))
    assert state.readers_of("team", "env") == {("team", "a"), ("team", "b")}
    assert state.readers_of("team", "files") == {("team", "a")}


def test_a_config_map_no_pod_reads_has_no_readers() -> None:
    state = synced(reader("a", "env"))
    assert state.readers_of("team", "unrelated") == frozenset()
    assert state.readers_of("other", "env") == frozenset()  # names are per namespace


def test_a_new_spec_moves_the_pod_between_config_maps() -> None:
    state = synced(reader("a", "old"))
    state.upsert("pods", reader("a", "new"))
    assert state.readers_of("team", "old") == frozenset()
    assert state.readers_of("team", "new") == {("team", "a")}


def test_a_deleted_pod_leaves_the_index() -> None:
    state = synced(reader("a", "env"), reader("b", "env"))
    state.delete("pods", reader("a", "env"))
    assert state.readers_of("team", "env") == {("team", "b")}


def test_a_re_list_drops_the_pods_it_no_longer_finds() -> None:
    state = synced(reader("a", "env"), reader("b", "env"))
    state.replace_all("pods", [reader("b", "env")])
    assert state.readers_of("team", "env") == {("team", "b")}


def test_config_map_changes_are_known_since_a_version() -> None:
    state = synced()
    since = state.version
    state.upsert("configmaps", config_map("env", A="1"))
    state.upsert("configmaps", config_map("files", B="2"))
    assert state.config_maps_changed_since(since) == {("team", "env"), ("team", "files")}
    assert state.config_maps_changed_since(state.version) == frozenset()


def test_a_deleted_or_re_listed_config_map_is_a_change() -> None:
    state = synced()
    state.replace_all("configmaps", [config_map("env", A="1"), config_map("keep", K="1")])
    since = state.version
    state.delete("configmaps", config_map("env"))
    state.replace_all("configmaps", [config_map("keep", K="2")])
    assert state.config_maps_changed_since(since) == {("team", "env"), ("team", "keep")}


def test_any_other_policy_input_means_everything_may_have_changed() -> None:
    state = synced()
    since = state.version
    state.upsert("configmaps", config_map("env", A="1"))
    state.upsert("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert state.config_maps_changed_since(since) is None


def test_listeners_are_told_which_config_maps_changed() -> None:
    state = synced()
    told: list[frozenset[tuple[str, str]]] = []
    state.on_config_maps(told.append)
    state.upsert("configmaps", config_map("env", A="1"))
    state.upsert("configmaps", config_map("env", A="1"))  # the same data: no change
    state.delete("configmaps", config_map("env"))
    assert told == [frozenset({("team", "env")}), frozenset({("team", "env")})]


def test_config_map_changes_are_known_even_when_other_inputs_changed_too() -> None:
    state = synced()
    since = state.version
    state.upsert("configmaps", config_map("env", A="1"))
    state.upsert("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert state.config_map_changes_since(since) == ({("team", "env")}, True)


def test_changes_older_than_the_log_are_unknown() -> None:
    state = synced()
    since = state.version
    for i in range(CONFIG_MAP_LOG_SIZE + 1):
        state.upsert("configmaps", config_map(f"cm-{i}", A="1"))
    assert state.config_maps_changed_since(since) is None
    # the first change is forgotten; every later one is known
    expected = {("team", f"cm-{i}") for i in range(1, CONFIG_MAP_LOG_SIZE + 1)}
    assert state.config_maps_changed_since(since + 1) == expected

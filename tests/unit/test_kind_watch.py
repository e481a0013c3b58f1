"""The lean pod watch: list once, follow the stream from that snapshot, relist only when the API server
says the version is gone, and keep going after errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from modelroute.cluster.state import ClusterState
from modelroute.cluster.watch import KindWatch, ResourceVersionGoneError, RetryBackoffs


def pod(name: str, version: str, image: str = "app:1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "team", "resourceVersion": version},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


class Stream:
    """A urllib3 response as the watch reads it: chunks that split lines anywhere."""

    def __init__(self, events: list[dict[str, Any]], chunk: int = 7) -> None:
        data = b"".join(orjson.dumps(e) + b"\n" for e in events)
        self.chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.released = False

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from self.chunks

    def release_conn(self) -> None:
        self.released = True


class ScriptedKube:
    def __init__(self, listings: list[tuple[list[dict[str, Any]], str]], streams: list[Stream | Exception]) -> None:
        self.listings, self.streams = listings, streams
        self.calls: list[str] = []

    def list_with_version(self, plural: str) -> tuple[list[dict[str, Any]], str]:
        self.calls.append("list")
        return self.listings.pop(0)

    def watch(self, plural: str, resource_version: str, timeout_seconds: int) -> Stream:
        self.calls.append(f"watch from {resource_version}")
        item = self.streams.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def watching(kube: ScriptedKube) -> tuple[KindWatch, ClusterState]:
    state = ClusterState()
    return KindWatch(kube, state, "pods", RetryBackoffs((), cap=0.0)), state  # type: ignore[arg-type]


def test_it_lists_then_follows_the_stream_from_the_snapshot_version() -> None:
    stream = Stream(
        [
            {"type": "ADDED", "object": pod("b", "11")},
            {"type": "MODIFIED", "object": pod("a", "12", image="app:2")},
            {"type": "DELETED", "object": pod("b", "13")},
            {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "20"}}},
        ]
    )
    kube = ScriptedKube([([pod("a", "10")], "10")], [stream])
    watch, state = watching(kube)
    watch.relist()
    watch.follow()
    assert kube.calls == ["list", "watch from 10"]
    assert list(state.raw["pods"]) == [("team", "a")]
    assert state.raw["pods"][("team", "a")]["spec"]["containers"][0]["image"] == "app:2"
    assert "pods" in state.synced
    assert watch.resource_version == "20"  # a bookmark moves it without touching the view
    assert stream.released


def test_an_expired_version_is_answered_by_a_new_list() -> None:
    kube = ScriptedKube([([pod("a", "10")], "10")], [Stream([{"type": "ERROR", "object": {"code": 410}}])])
    watch, _ = watching(kube)
    watch.relist()
    with pytest.raises(ResourceVersionGoneError):
        watch.follow()


def test_errors_are_retried_and_an_expired_version_relists() -> None:
    gone = Stream([{"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "too old"}}])
    kube = ScriptedKube(
        [([pod("a", "10")], "10"), ([pod("c", "30")], "30")],
        [ConnectionError("refused"), gone, Stream([{"type": "ADDED", "object": pod("d", "31")}])],
    )
    watch, state = watching(kube)
    original_follow = watch.follow

    def follow_then_stop() -> None:
        original_follow()
        if "d" in {name for _, name in state.raw["pods"]}:
            watch.stop()

    watch.follow = follow_then_stop  # type: ignore[method-assign]
    watch.run()
    assert kube.calls == ["list", "watch from 10", "watch from 10", "list", "watch from 30"]
    assert sorted(name for _, name in state.raw["pods"]) == ["c", "d"]


def test_an_error_event_says_what_the_api_server_said() -> None:
    failure = {"type": "ERROR", "object": {"code": 500, "reason": "InternalError", "message": "etcd timed out"}}
    kube = ScriptedKube([([], "1")], [Stream([failure])])
    watch, _ = watching(kube)
    watch.relist()
    with pytest.raises(RuntimeError, match="500 InternalError: etcd timed out"):
        watch.follow()

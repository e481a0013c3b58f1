"""The lean pod watch: list once, follow the stream from that snapshot, relist only when the API server
says the version is gone, and keep going after errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelroute.cluster import MemoryKube, MemoryStream
from modelroute.cluster.state import ClusterState
from modelroute.cluster.watch import GATHER_SECONDS, KindWatch, ResourceVersionGoneError, RetryBackoffs


def pod(name: str, version: str, image: str = "app:1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "team", "resourceVersion": version},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def watch_stream(events: list[dict[str, Any]]) -> MemoryStream:
    """A watch response whose chunks split lines anywhere."""
    return MemoryStream(events, chunk=7)


def scripted(listings: list[tuple[list[dict[str, Any]], str]], streams: list[MemoryStream | Exception]) -> MemoryKube:
    """A cluster whose pod lists and pod watch streams answer in this order."""
    kube = MemoryKube()
    kube.listings["pods"] = list(listings)
    kube.streams["pods"] = list(streams)
    return kube


class Connection:
    """What the watch reads of urllib3's connection under a watch response: its socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(the watch's end, the API server's end) of a connection."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        yield ours, theirs


def streamed_over(sock: socket.socket, events: list[dict[str, Any]]) -> MemoryStream:
    stream = watch_stream(events)
    stream.connection = Connection(sock)
    return stream


def added(*names: str) -> list[dict[str, Any]]:
    return [{"type": "ADDED", "object": pod(name, str(10 + i))} for i, name in enumerate(names)]


def watching(kube: MemoryKube) -> tuple[KindWatch, ClusterState]:
    state = ClusterState()
    return KindWatch(kube, state, "pods", RetryBackoffs((), cap=0.0)), state


def test_it_lists_then_follows_the_stream_from_the_snapshot_version() -> None:
    stream = watch_stream(
        [
            {"type": "ADDED", "object": pod("b", "11")},
            {"type": "MODIFIED", "object": pod("a", "12", image="app:2")},
            {"type": "DELETED", "object": pod("b", "13")},
            {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "20"}}},
        ]
    )
    kube = scripted([([pod("a", "10")], "10")], [stream])
    watch, state = watching(kube)
    watch.relist()
    watch.follow()
    assert kube.calls == ["list pods", "watch pods from 10"]
    assert list(state.raw["pods"]) == [("team", "a")]
    assert state.raw["pods"][("team", "a")]["spec"]["containers"][0]["image"] == "app:2"
    assert "pods" in state.synced
    assert watch.resource_version == "20"  # a bookmark moves it without touching the view
    assert stream.released


def test_an_expired_version_is_answered_by_a_new_list() -> None:
    kube = scripted([([pod("a", "10")], "10")], [watch_stream([{"type": "ERROR", "object": {"code": 410}}])])
    watch, _ = watching(kube)
    watch.relist()
    with pytest.raises(ResourceVersionGoneError):
        watch.follow()


def test_errors_are_retried_and_an_expired_version_relists() -> None:
    gone = watch_stream([{"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "too old"}}])
    kube = scripted(
        [([pod("a", "10")], "10"), ([pod("c", "30")], "30")],
        [ConnectionError("refused"), gone, watch_stream([{"type": "ADDED", "object": pod("d", "31")}])],
    )
    watch, state = watching(kube)
    original_follow = watch.follow

    def follow_then_stop() -> None:
        original_follow()
        if "d" in {name for _, name in state.raw["pods"]}:
            watch.stop()

    watch.follow = follow_then_stop  # type: ignore[method-assign]
    watch.run()
    assert kube.calls == ["list pods", "watch pods from 10", "watch pods from 10", "list pods", "watch pods from 30"]
    assert sorted(name for _, name in state.raw["pods"]) == ["c", "d"]


def test_an_error_event_says_what_the_api_server_said() -> None:
    failure = {"type": "ERROR", "object": {"code": 500, "reason": "InternalError", "message": "etcd timed out"}}
    kube = scripted([([], "1")], [watch_stream([failure])])
    watch, _ = watching(kube)
    watch.relist()
    with pytest.raises(RuntimeError, match="500 InternalError: etcd timed out"):
        watch.follow()


def test_having_read_all_that_arrived_it_waits_before_reading_on_so_a_burst_is_read_together(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = sockets
    kube = scripted([([], "1")], [streamed_over(ours, added("a", "b", "c"))])
    watch = KindWatch(kube, ClusterState(), "pods", gather_seconds=0.001)
    watch.relist()
    watch.follow()
    assert watch.gathers == 3  # the socket held nothing unread after each event


def test_while_bytes_wait_unread_on_the_connection_it_reads_on(sockets: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = sockets
    theirs.sendall(b"{")
    kube = scripted([([], "1")], [streamed_over(ours, added("a", "b", "c"))])
    watch, state = watching(kube)
    watch.gather_seconds = 30.0
    watch.relist()
    started = time.monotonic()
    watch.follow()
    assert (watch.gathers, len(state.raw["pods"])) == (0, 3)
    assert time.monotonic() - started < 5


def test_a_watch_told_not_to_gather_never_waits(sockets: tuple[socket.socket, socket.socket]) -> None:
    ours, _ = sockets
    kube = scripted([([], "1")], [streamed_over(ours, added("a", "b"))])
    watch = KindWatch(kube, ClusterState(), "pods", gather_seconds=0.0)
    watch.relist()
    watch.follow()
    assert watch.gathers == 0


def test_the_pod_watch_gathers_and_the_model_workload_watch_reads_each_event_at_once() -> None:
    assert KindWatch(MemoryKube(), ClusterState(), "pods").gather_seconds == GATHER_SECONDS["pods"] > 0
    assert KindWatch(MemoryKube(), ClusterState(), "modelworkloads").gather_seconds == 0


def test_a_stream_without_a_socket_is_read_on_without_waiting() -> None:
    kube = scripted([([], "1")], [watch_stream(added("a", "b"))])
    watch = KindWatch(kube, ClusterState(), "pods", gather_seconds=30.0)
    watch.relist()
    watch.follow()
    assert watch.gathers == 0


def test_stop_ends_a_wait_at_once_and_nothing_more_is_read(sockets: tuple[socket.socket, socket.socket]) -> None:
    ours, _ = sockets
    stream = streamed_over(ours, added("a", "b"))
    kube = scripted([([], "1")], [stream])
    watch = KindWatch(kube, state := ClusterState(), "pods", gather_seconds=30.0)
    watch.relist()
    state.on_change(lambda _plural: watch.stop())
    started = time.monotonic()
    watch.follow()
    assert [name for _, name in state.raw["pods"]] == ["a"]
    assert time.monotonic() - started < 5
    assert stream.released

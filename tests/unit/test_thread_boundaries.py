"""Work handed to the event loop from another thread wakes the loop: an Event recorded or a reconcile asked
for off the loop is acted on at once, not whenever some unrelated timer next fires."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from modelroute.cluster import MemoryKube
from modelroute.cluster.events import EventRecorder
from modelroute.cluster.state import ClusterState
from modelroute.controllers.status_sync import StatusSync

#: generous: an idle loop that was woken answers in microseconds; one that was not never does
WAKE_DEADLINE = 5.0


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop running in its own thread, idle apart from what a test starts on it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop

    async def cancel_the_rest() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(cancel_the_rest(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def test_an_event_recorded_from_a_worker_thread_is_posted_without_waiting_for_another_wake_up(
    loop: asyncio.AbstractEventLoop,
) -> None:
    kube = MemoryKube()

    async def start() -> EventRecorder:
        recorder = EventRecorder(kube)
        asyncio.get_running_loop().create_task(recorder.run())
        await asyncio.sleep(0.05)  # let run() block on the empty queue
        return recorder

    recorder = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=5)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team"}}
    recorder.record(pod, "team", "Warning", "RouteDenied", "denied")  # from this (non-loop) thread
    assert kube.written.wait(WAKE_DEADLINE), "the recorder's task was never woken"
    assert kube.events[0]["reason"] == "RouteDenied"


class CountingSync(StatusSync):
    def __init__(self) -> None:
        super().__init__(ClusterState(), MemoryKube(), debounce_seconds=0, min_interval_seconds=0)
        self.runs = 0
        self.ran = threading.Event()

    def sync_once(self) -> int:
        self.runs += 1
        self.ran.set()
        return 0


def test_a_reconcile_asked_for_from_a_worker_thread_runs_without_waiting_for_the_resync(
    loop: asyncio.AbstractEventLoop,
) -> None:
    sync = CountingSync()
    asyncio.run_coroutine_threadsafe(_start(sync), loop).result(timeout=5)
    assert sync.ran.wait(WAKE_DEADLINE)  # the first pass, at start
    sync.ran.clear()
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0.1), loop).result(timeout=5)  # now waiting on `dirty`
    sync.poke("modelworkloads")  # from this (non-loop) thread
    assert sync.ran.wait(WAKE_DEADLINE), "the reconciler was never woken"
    assert sync.runs == 2


async def _start(sync: StatusSync) -> None:
    asyncio.get_running_loop().create_task(sync.run())

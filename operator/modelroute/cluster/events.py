"""Kubernetes Events for what ModelRoute decided, posted off the admission path by a background worker."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from modelroute.api.meta import DNS_SUBDOMAIN_MAX
from modelroute.cluster.seams import EventSink
from modelroute.engine import redact_text

log = logging.getLogger(__name__)
COMPONENT = "modelroute"
_MESSAGE_LIMIT = 1024


def event_body(
    involved: Mapping[str, Any], namespace: str, kind_of_event: str, reason: str, message: str, now: datetime.datetime
) -> dict[str, Any]:
    metadata = involved.get("metadata") or {}
    name = str(metadata.get("name") or metadata.get("generateName") or "unnamed")[:DNS_SUBDOMAIN_MAX]
    name = name.rstrip("-.") or "unnamed"
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    api_version, kind = involved.get("apiVersion"), involved.get("kind")
    reference = {  # no object is named longer, nor has an apiVersion or kind that is not a string
        "apiVersion": api_version if isinstance(api_version, str) else "v1",
        "kind": kind if isinstance(kind, str) else "",
        "name": name,
        "namespace": namespace,
    }
    if metadata.get("uid"):
        reference["uid"] = metadata["uid"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{name}.", "namespace": namespace},
        "involvedObject": reference,
        "type": kind_of_event,
        "reason": reason,
        "message": redact_text(message)[:_MESSAGE_LIMIT],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname()[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """Events leave the admission path through a bounded queue drained by one task, in batches.

    `record` may be called from the event loop or from any thread: off the loop it hands over with
    `call_soon_threadsafe`, because an asyncio.Queue put from another thread would not wake the waiting task.
    Identical Events (same object, reason and message) within `dedup_seconds` are recorded once, and at
    most `rate` Events a second (burst `burst`) are posted: forged or repeated reviews cannot flood the API.
    `count` hears what became of each Event: posted, failed, queue-full, rate-limited or deduplicated.
    """

    def __init__(
        self,
        kube: EventSink,
        capacity: int = 1000,
        *,
        rate: float = 20.0,
        burst: int = 100,
        dedup_seconds: float = 60.0,
        batch: int = 50,
        clock: Callable[[], float] = time.monotonic,
        count: Callable[[str], None] = lambda _result: None,
    ) -> None:
        self.kube = kube
        self.count = count
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=capacity)
        self.dropped = 0
        self.suppressed = 0
        self.rate, self.burst, self.dedup_seconds, self.batch = rate, burst, dedup_seconds, batch
        self.clock = clock
        self._tokens = float(burst)
        self._refilled = clock()
        self._recent: OrderedDict[tuple[str, ...], float] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    def record(
        self, involved: Mapping[str, Any], namespace: str, kind_of_event: str, reason: str, message: str
    ) -> None:
        body = event_body(involved, namespace, kind_of_event, reason, message, datetime.datetime.now(datetime.UTC))
        loop = self._loop
        if loop is None or _on_loop(loop):
            self._admit(namespace, body)
        else:
            loop.call_soon_threadsafe(self._admit, namespace, body)

    def _admit(self, namespace: str, body: dict[str, Any]) -> None:
        now = self.clock()
        ref = body["involvedObject"]
        key = (namespace, ref["kind"], ref["name"], body["reason"], body["message"])
        while self._recent and next(iter(self._recent.values())) <= now - self.dedup_seconds:
            self._recent.popitem(last=False)
        if key in self._recent or len(self._recent) >= 10_000:
            self.suppressed += 1
            self.count("deduplicated" if key in self._recent else "rate-limited")
            return
        self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1:
            self.suppressed += 1
            self.count("rate-limited")
            return
        self._tokens -= 1
        self._recent[key] = now
        try:
            self.queue.put_nowait((namespace, body))
        except asyncio.QueueFull:
            self.dropped += 1
            self.count("queue-full")

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await asyncio.to_thread(self._post, batch)

    def _post(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        for namespace, body in batch:
            try:
                self.kube.create_event(namespace, body)
            except Exception as error:
                self.count("failed")
                log.warning("could not record event %s in %s: %s", body["reason"], namespace, error)
            else:
                self.count("posted")


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False

"""Kubernetes Events for what ModelRoute decided, posted off the admission path by a background worker."""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
from collections.abc import Mapping
from typing import Any

from modelroute.cluster.client import Kube
from modelroute.engine.redaction import redact_text

log = logging.getLogger(__name__)
COMPONENT = "modelroute"
_MESSAGE_LIMIT = 1024


def event_body(
    involved: Mapping[str, Any], namespace: str, kind_of_event: str, reason: str, message: str, now: datetime.datetime
) -> dict[str, Any]:
    metadata = involved.get("metadata") or {}
    name = str(metadata.get("name") or metadata.get("generateName") or "unnamed").rstrip("-.") or "unnamed"
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    reference = {
        "apiVersion": involved.get("apiVersion", "v1"),
        "kind": involved.get("kind", ""),
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
    """A bounded queue drained by one task: recording never slows or fails an admission."""

    def __init__(self, kube: Kube, capacity: int = 1000) -> None:
        self.kube = kube
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=capacity)
        self.dropped = 0

    def record(
        self, involved: Mapping[str, Any], namespace: str, kind_of_event: str, reason: str, message: str
    ) -> None:
        body = event_body(involved, namespace, kind_of_event, reason, message, datetime.datetime.now(datetime.UTC))
        try:
            self.queue.put_nowait((namespace, body))
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        while True:
            namespace, body = await self.queue.get()
            try:
                await asyncio.to_thread(self.kube.create_event, namespace, body)
            except Exception as error:
                log.warning("could not record event %s in %s: %s", body["reason"], namespace, error)

"""A lean watch of one kind into the cluster view: list once, then follow the watch stream from that
snapshot's resourceVersion, relisting only when the API server says the version is gone (410).

Pods come this way rather than through kopf: every pod create in a governed cluster arrives here, and
kopf's per-event machinery (a worker task per object, causes, loggers, handler bookkeeping) cost more
operator CPU per created pod than judging the pod twice (docs/performance.md). This one parses a line
with orjson and stores the object.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import orjson
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from modelroute.cluster.seams import Watcher
from modelroute.cluster.state import ClusterState

log = logging.getLogger(__name__)

#: the API server ends a watch after this long; the next one resumes from the last resourceVersion
SERVER_TIMEOUT_SECONDS = 270


class ResourceVersionGoneError(Exception):
    """The watch's resourceVersion is older than the API server keeps: list again."""


class RetryBackoffs:
    """Seconds between attempts at the API server after an error: short, capped, never exhausted, and each
    iteration starts afresh. kopf's watches and requests use it too (operator/wiring.py)."""

    def __init__(self, first: tuple[float, ...] = (0.5, 1.0, 1.0, 2.0), cap: float = 2.0) -> None:
        self.first, self.cap = first, cap

    def __iter__(self) -> Iterator[float]:
        yield from self.first
        while True:
            yield self.cap


class KindWatch:
    """Keeps `state` current for one kind from a thread of its own, until `stop()`."""

    def __init__(self, kube: Watcher, state: ClusterState, plural: str, backoffs: RetryBackoffs | None = None) -> None:
        self.kube = kube
        self.state = state
        self.plural = plural
        self.backoffs = backoffs or RetryBackoffs()
        self.resource_version = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # a daemon: a watch blocked on a silent connection must never hold the process's exit
        self._thread = threading.Thread(target=self.run, name=f"modelroute-watch-{self.plural}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        delays = iter(self.backoffs)
        while not self._stop.is_set():
            try:
                if not self.resource_version:
                    self.relist()
                self.follow()
                delays = iter(self.backoffs)
            except ResourceVersionGoneError:
                log.info("the %s watch's resourceVersion expired; listing again", self.plural)
                self.resource_version = ""
            except Exception as error:  # the API server restarting, a dropped connection: try again shortly
                log.warning("watch of %s failed, retrying: %s", self.plural, _reason(error))
                self._stop.wait(next(delays))

    def relist(self) -> None:
        bodies, self.resource_version = self.kube.list_with_version(self.plural)
        self.state.replace_all(self.plural, bodies)

    def follow(self) -> None:
        """One watch request, until the API server ends it, an error, or stop()."""
        try:
            response = self.kube.watch(self.plural, self.resource_version, SERVER_TIMEOUT_SECONDS)
        except ApiException as error:
            if error.status == 410:
                raise ResourceVersionGoneError from None
            raise
        try:
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    return
                self.apply(orjson.loads(line))
        finally:
            response.release_conn()

    def apply(self, event: dict[str, Any]) -> None:
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if body.get("code") == 410:
                raise ResourceVersionGoneError
            raise RuntimeError(f"{body.get('code')} {body.get('reason')}: {body.get('message')}")
        version = (body.get("metadata") or {}).get("resourceVersion")
        if kind == "DELETED":
            self.state.delete(self.plural, body)
        elif kind in ("ADDED", "MODIFIED"):
            self.state.upsert(self.plural, body)
        if version:
            self.resource_version = str(version)


def _reason(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"

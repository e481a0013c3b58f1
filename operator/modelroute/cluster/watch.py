"""A lean watch of one kind into the cluster view: list once, then follow the watch stream from that
snapshot's resourceVersion, relisting only when the API server says the version is gone (410).

Pods come this way rather than through kopf: every pod create in a governed cluster arrives here, and
kopf's per-event machinery (a worker task per object, causes, loggers, handler bookkeeping) cost more
operator CPU per created pod than judging the pod twice (docs/performance.md). This one parses a line
with orjson and stores the object.

An event read the moment it arrives costs the watch's thread several times its work: every event wakes the
thread on its own. So a watch that gathers (pods do: GATHER_SECONDS) reads on at once
while its connection holds unread bytes, and once it has read all that arrived, waits that long before the
next read: the events of a burst of creates are then read together. The first event after a quiet spell is
read at once; the view is at most that much behind the stream during a burst.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from modelroute.api.kinds import POD
from modelroute.cluster.seams import Watcher
from modelroute.cluster.state import ClusterState

log = logging.getLogger(__name__)

#: the API server ends a watch after this long; the next one resumes from the last resourceVersion
SERVER_TIMEOUT_SECONDS = 270
#: how long the watch of a kind waits once it has read all that arrived, for the kinds that come in bursts:
#: pods created one at a time by one client cost the watch's thread 0.20-0.27 ms an event read as each
#: arrives, 0.07-0.08 ms with this wait (docs/performance.md)
GATHER_SECONDS = {POD.plural: 0.1}


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

    def __init__(
        self,
        kube: Watcher,
        state: ClusterState,
        plural: str,
        backoffs: RetryBackoffs | None = None,
        *,
        gather_seconds: float | None = None,
    ) -> None:
        self.kube = kube
        self.state = state
        self.plural = plural
        self.backoffs = backoffs or RetryBackoffs()
        self.gather_seconds = GATHER_SECONDS.get(plural, 0.0) if gather_seconds is None else gather_seconds
        #: how many times the watch waited for events to gather
        self.gathers = 0
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
            caught_up = _caught_up_check(response) if self.gather_seconds > 0 else None
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    return
                self.apply(orjson.loads(line))
                if caught_up is not None and caught_up():
                    self.gathers += 1
                    if self._stop.wait(self.gather_seconds):
                        return
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


def _caught_up_check(response: object) -> Callable[[], bool] | None:
    """A check that the connection under the watch `response` holds nothing unread, neither decrypted by TLS
    nor in the socket (bytes its reader has buffered are read on after the wait); None for a response without
    a socket."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is None:
        return None
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    pending = getattr(sock, "pending", None)  # an ssl.SSLSocket's decrypted bytes not yet read

    def caught_up() -> bool:
        return not (pending is not None and pending()) and not poller.poll(0)

    return caught_up


def _reason(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"

"""One HTTP/1.1 connection from the API server to the webhooks: requests read by llhttp (httptools), judged
one at a time, answered in order.

The API server holds a few keep-alive connections and sends each review as one POST with a Content-Length.
This protocol does what that takes, and refuses the rest with the status HTTP gives it, then closes:

- bytes that are not HTTP/1.x: 400; a method other than POST: 405; a path that is not one segment: 404;
  a request line and headers over HEAD_LIMIT bytes: 431; a body over the server's request limit: 413;
- a request must arrive whole within REQUEST_SECONDS of its first byte (a caller sending a byte at a time
  holds a connection no longer), and an idle connection is closed after IDLE_SECONDS;
- a body larger than `large_body` (or of unknown length, chunked) is read only while it holds one of the
  server's large-body slots: until then the connection stops reading and the body waits in the socket;
- requests pipelined behind one being answered wait their turn, and the connection stops reading meanwhile.

Against aiohttp's request handling on the same event loop and TLS, an answer costs the server about a
quarter of the CPU (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import cast

from httptools.parser.errors import HttpParserError, HttpParserUpgrade
from httptools.parser.parser import HttpRequestParser

log = logging.getLogger("modelroute")

#: the request line and headers; the API server sends a few hundred bytes
HEAD_LIMIT = 64 * 1024
#: a request, first byte to last, must take less: the API server's longest webhook timeout is 30 s
REQUEST_SECONDS = 30.0
#: longer than the API server's own idle timeout for its connections (90 s), so it is the caller that closes
#: an idle keep-alive connection, never this side while the caller reuses it
IDLE_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


def plain(status: int, message: str) -> Reply:
    return Reply(status, message.encode(), "text/plain; charset=utf-8")


#: `judge(path, body)`: the answer to a POST to /path, or an awaitable of it when the answer must wait (on a
#: read from the API server); answered at once, a request costs no task and no turn of the event loop
Judge = Callable[[str, bytes], "Reply | Awaitable[Reply]"]

_REASONS = {int(s): s.phrase for s in HTTPStatus}
_FAILED = plain(HTTPStatus.INTERNAL_SERVER_ERROR, "ModelRoute could not answer this request")


def _failed(request: _Request) -> Reply:
    """The answer when judging raised: the judge answers every body itself, so this is a bug, never the
    caller's fault; the traceback goes to the log, not to the caller."""
    log.exception("could not answer a request at /%s", request.path)
    return _FAILED


def _response(reply: Reply, close: bool) -> bytes:
    head = (
        f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, '')}\r\n"
        f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
    )
    if reply.status == HTTPStatus.METHOD_NOT_ALLOWED:
        head += "Allow: POST\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode("latin-1") + reply.body


class _StopReadingError(Exception):
    """Raised from a parser callback after a refusal: llhttp stops, and nothing more of the stream is read."""


class LargeBodies:
    """The server's large-body slots: a connection asks for one and reads its body once it is granted."""

    def __init__(self, slots: int) -> None:
        self.free = slots
        self.waiting: deque[asyncio.Future[None]] = deque()

    def ask(self) -> asyncio.Future[None]:
        granted = asyncio.get_running_loop().create_future()
        if self.free > 0:
            self.free -= 1
            granted.set_result(None)
        else:
            self.waiting.append(granted)
        return granted

    def give_back(self, granted: asyncio.Future[None]) -> None:
        """Return a slot that was granted, or withdraw a request for one that was not."""
        if not granted.done():
            granted.cancel()
            return
        if granted.cancelled():
            return
        while self.waiting:
            successor = self.waiting.popleft()
            if not successor.done():
                successor.set_result(None)
                return
        self.free += 1


@dataclass(slots=True)
class _Request:
    path: str = ""
    length: int | None = None
    expects_continue: bool = False
    size: int = 0
    parts: list[bytes] = field(default_factory=list)
    keep_alive: bool = True
    #: an answer decided before judging (a refusal): the connection ends with it
    refused: Reply | None = None
    #: the large-body slot this request holds or waits for
    slot: asyncio.Future[None] | None = None
    #: the judge's answer still to come
    pending: Awaitable[Reply] | None = None


class ReviewConnection(asyncio.Protocol):
    """One caller's connection, from its first byte to its close."""

    def __init__(
        self,
        judge: Judge,
        *,
        request_limit: int,
        large_body: int,
        large_bodies: LargeBodies,
        connections: set[ReviewConnection],
        request_seconds: float = REQUEST_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.judge = judge
        self.request_limit, self.large_body, self.large_bodies = request_limit, large_body, large_bodies
        self.connections = connections
        self.request_seconds, self.idle_seconds = request_seconds, idle_seconds
        self.transport: asyncio.Transport | None = None
        self.parser = HttpRequestParser(self)
        self.reading: _Request | None = None
        self.in_head = True  # between requests, or reading one's request line and headers
        self.begun = 0
        self.head_bytes = 0
        self.queue: deque[_Request] = deque()
        self.answering: asyncio.Task[None] | None = None
        self.broken = False  # nothing more of this stream is read
        self.draining = False  # the server is stopping: close after the answer under way
        self.paused: set[str] = set()
        self.timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ the transport's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's TLS transport is one, not a subclass
        self.connections.add(self)
        self._expire_in(self.idle_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.broken = True
        self._expire_in(None)
        for request in (self.reading, *self.queue):
            if request is not None:
                self._release(request)
                if inspect.iscoroutine(request.pending):
                    request.pending.close()
        self.reading = None
        self.queue.clear()
        if self.answering is not None:
            self.answering.cancel()

    def data_received(self, data: bytes) -> None:
        if self.broken:
            return
        in_head, begun = self.in_head, self.begun
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade:
            self._refuse(plain(HTTPStatus.BAD_REQUEST, "protocol upgrades are not served"))
        except HttpParserError as error:  # a refusal from a callback has set broken already
            self._refuse(plain(HTTPStatus.BAD_REQUEST, f"not an HTTP/1.1 request: {error}"))
        else:
            # a chunk read wholly within one request's head counts against HEAD_LIMIT (a chunk that also ends
            # a body or starts a request is not counted: at most two chunks too few, never one too many)
            if in_head and self.in_head and begun == self.begun and self.reading is not None:
                self.head_bytes += len(data)
                if self.head_bytes > HEAD_LIMIT:
                    self._refuse(plain(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "the request head is too large"))

    def drain(self) -> None:
        """The server is stopping: close now when idle, else once the request under way is answered."""
        self.draining = True
        if self.answering is None and self.reading is None and self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------ the parser's side
    def on_message_begin(self) -> None:
        if self.broken:  # the connection ended with the answer just sent
            raise _StopReadingError
        self.reading = _Request()
        self.begun += 1
        self.head_bytes = 0
        self._expire_in(self.request_seconds)

    def on_url(self, url: bytes) -> None:
        assert self.reading is not None
        self.reading.path += url.decode("latin-1")
        if len(self.reading.path) > HEAD_LIMIT:
            self._refuse(plain(HTTPStatus.REQUEST_URI_TOO_LONG, "the request line is too long"))
            raise _StopReadingError

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.reading is not None
        name = name.lower()
        if name == b"content-length":  # llhttp has checked it: digits, one value, never beside chunked
            self.reading.length = int(value)
        elif name == b"expect" and value.lower() == b"100-continue":
            self.reading.expects_continue = True

    def on_headers_complete(self) -> None:
        request = self.reading
        assert request is not None
        assert self.transport is not None
        self.in_head = False
        request.keep_alive = self.parser.should_keep_alive()
        path = request.path.partition("?")[0]  # the API server adds ?timeout=...
        request.path = path[1:]
        refusal = None
        if self.parser.get_method() != b"POST":
            refusal = plain(HTTPStatus.METHOD_NOT_ALLOWED, "the webhooks answer POST only")
        elif not path.startswith("/") or not request.path or "/" in request.path:
            refusal = plain(HTTPStatus.NOT_FOUND, f"no webhook is served at {path[:200]}")
        elif request.length is not None and request.length > self.request_limit:
            refusal = plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the request body is too large")
        elif self.parser.should_upgrade():
            refusal = plain(HTTPStatus.BAD_REQUEST, "protocol upgrades are not served")
        if refusal is not None:
            self._refuse(refusal)
            raise _StopReadingError
        if request.length is None or request.length > self.large_body:
            request.slot = self.large_bodies.ask()
            if not request.slot.done():  # the body waits in the socket until a slot is free
                self._pause("large body")
                request.slot.add_done_callback(lambda _: self._resume("large body"))
        if request.expects_continue:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        request = self.reading
        assert request is not None
        request.size += len(body)
        if request.size > self.request_limit:
            self._refuse(plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the request body is too large"))
            raise _StopReadingError
        request.parts.append(body)

    def on_message_complete(self) -> None:
        request, self.reading = self.reading, None
        self.in_head = True
        assert request is not None
        self._expire_in(None)
        self._enqueue(request)

    # ------------------------------------------------------------------ answering
    def _enqueue(self, request: _Request) -> None:
        if self.answering is None and request.refused is None and (request.slot is None or request.slot.done()):
            answer = self._judge(request)  # nothing ahead of it: judged now
            if isinstance(answer, Reply):
                self._release(request)
                self._send(request, answer)
                return
            request.pending = answer
        self.queue.append(request)
        if self.answering is None:
            self.answering = asyncio.get_running_loop().create_task(self._answer_all())
        else:  # pipelined: read no further until the queue is answered
            self._pause("pipelined")

    async def _answer_all(self) -> None:
        assert self.transport is not None
        transport = self.transport
        try:
            while self.queue and not transport.is_closing():
                request = self.queue.popleft()
                reply = request.refused or await self._judged(request)
                if not self._send(request, reply):
                    return
        finally:
            self.answering = None
        self._resume("pipelined")

    async def _judged(self, request: _Request) -> Reply:
        try:
            if request.slot is not None:
                await request.slot
            answer = request.pending or self._judge(request)
            request.pending = None
            return answer if isinstance(answer, Reply) else await answer
        except Exception:
            return _failed(request)
        finally:
            self._release(request)

    def _judge(self, request: _Request) -> Reply | Awaitable[Reply]:
        try:
            return self.judge(request.path, b"".join(request.parts))
        except Exception:
            return _failed(request)

    def _release(self, request: _Request) -> None:
        if request.slot is not None:
            self.large_bodies.give_back(request.slot)
            request.slot = None

    def _send(self, request: _Request, reply: Reply) -> bool:
        """Write the answer to `request`; False when the connection ends with it."""
        assert self.transport is not None
        close = self.draining or not request.keep_alive or request.refused is not None
        self.transport.write(_response(reply, close))
        if close:
            self.broken = True  # requests pipelined behind this one are not read
            self.transport.close()
            return False
        if self.reading is None and not self.queue:
            self._expire_in(self.idle_seconds)
        return True

    def _refuse(self, reply: Reply) -> None:
        """Answer `reply` after any answer under way, read nothing more, and close."""
        if self.broken:
            return
        self.broken = True
        request = self.reading or _Request()
        self.reading = None
        self._release(request)
        request.refused = reply
        self._expire_in(None)
        self._enqueue(request)

    # ------------------------------------------------------------------ flow and time
    def _pause(self, reason: str) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused.add(reason)

    def _resume(self, reason: str) -> None:
        if reason not in self.paused:
            return
        self.paused.discard(reason)
        if not self.paused and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _expire_in(self, seconds: float | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if seconds is not None:
            self.timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self.timer = None
        if self.transport is not None and self.answering is None:
            log.debug("closed a webhook connection: idle, or a request too slow to arrive")
            self.transport.close()

"""The webhooks' HTTP/1.1 connection: keep-alive reviews answered in order, and every request the API server
would never send refused with the status HTTP gives it, then closed; slow callers dropped, large bodies read
a few at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from modelroute.admission.connection import HEAD_LIMIT, LargeBodies, Reply, ReviewConnection

LIMIT = 64 * 1024
LARGE = 1024


@dataclass
class Judge:
    """Answers with the path and body it was given; `hold` keeps answers back until set."""

    seen: list[tuple[str, bytes]] = field(default_factory=list)
    hold: asyncio.Event | None = None
    at_once: int = 0
    most_at_once: int = 0

    async def __call__(self, path: str, body: bytes) -> Reply:
        self.seen.append((path, body))
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            if self.hold is not None:
                await self.hold.wait()
            return Reply(200, b"/" + path.encode() + b" " + body)
        finally:
            self.at_once -= 1


@dataclass
class Served:
    port: int
    judge: Judge
    slots: LargeBodies
    connections: set[ReviewConnection]

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@contextlib.asynccontextmanager
async def served(judge: Judge | None = None, **timeouts: float) -> AsyncIterator[Served]:
    judge = judge or Judge()
    slots = LargeBodies(2)
    connections: set[ReviewConnection] = set()

    def connection() -> ReviewConnection:
        return ReviewConnection(
            judge, request_limit=LIMIT, large_body=LARGE, large_bodies=slots, connections=connections, **timeouts
        )

    server = await asyncio.get_running_loop().create_server(connection, "127.0.0.1", 0)
    try:
        yield Served(server.sockets[0].getsockname()[1], judge, slots, connections)
    finally:
        server.close()
        for c in list(connections):
            if c.transport is not None:
                c.transport.abort()


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: webhook", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await asyncio.wait_for(reader.readline(), 5)
    assert status_line, "the connection closed without an answer"
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split()[1]), headers, body


async def closed(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), 5) == b""


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


# ------------------------------------------------------------------ what the API server sends
def test_reviews_on_one_keep_alive_connection_are_answered_in_turn() -> None:
    async def test() -> None:
        async with served() as s:
            reader, writer = await s.connect()
            for i in range(20):
                writer.write(post("/pods.mutate?timeout=10s", b"review %d" % i))
                status, headers, body = await response(reader)
                assert (status, body) == (200, b"/pods.mutate review %d" % i)
                assert headers["content-type"] == "application/json"
                assert "connection" not in headers
            assert len(s.connections) == 1

    run(test)


def test_pipelined_requests_are_answered_in_the_order_sent() -> None:
    async def test() -> None:
        async with served() as s:
            reader, writer = await s.connect()
            writer.write(b"".join(post(f"/w{i}", b"x" * i) for i in range(5)))
            answers = [(await response(reader))[2] for _ in range(5)]
            assert answers == [b"/w%d " % i + b"x" * i for i in range(5)]

    run(test)


def test_a_chunked_body_is_read_whole_and_counts_as_large() -> None:
    async def test() -> None:
        async with served() as s:
            reader, writer = await s.connect()
            head = "POST /pods.validate HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n"
            writer.write(head.encode() + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            assert (await response(reader))[2] == b"/pods.validate hello world"
            assert s.slots.free == 2  # the slot it held is back

    run(test)


def test_expect_100_continue_gets_its_interim_answer() -> None:
    async def test() -> None:
        async with served() as s:
            reader, writer = await s.connect()
            whole = post("/w", b"{}", "Expect: 100-continue")
            writer.write(whole[:-2])  # the head only: the body follows the interim answer
            assert await asyncio.wait_for(reader.readline(), 5) == b"HTTP/1.1 100 Continue\r\n"
            assert await reader.readline() == b"\r\n"
            writer.write(b"{}")
            assert await response(reader) == (
                200,
                {"content-type": "application/json", "content-length": "5"},
                b"/w {}",
            )

    run(test)


def test_connection_close_and_http_1_0_end_the_connection_after_the_answer() -> None:
    async def test() -> None:
        async with served() as s:
            for request in (post("/w", b"a", "Connection: close"), b"POST /w HTTP/1.0\r\nContent-Length: 1\r\n\r\na"):
                reader, writer = await s.connect()
                writer.write(request)
                status, headers, _ = await response(reader)
                assert (status, headers["connection"]) == (200, "close")
                assert await closed(reader)

    run(test)


# ------------------------------------------------------------------ what it refuses
@pytest.mark.parametrize(
    ("request_bytes", "status", "says"),
    [
        (b"GET /pods.mutate HTTP/1.1\r\nHost: w\r\n\r\n", 405, b"POST only"),
        (post("/", b"{}"), 404, b"no webhook is served at /"),
        (post("/pods/mutate", b"{}"), 404, b"no webhook is served at /pods/mutate"),
        (post("http://elsewhere/pods.mutate", b"{}"), 404, b"no webhook"),
        (b"\x16\x03\x01\x02\x00 not http\r\n\r\n", 400, b"not an HTTP/1.1 request"),
        (b"POST /w HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, b"not an HTTP/1.1 request"),
        (b"POST /w HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1), 413, b"too large"),
        (b"POST /w HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n", 400, b"upgrade"),
    ],
    ids=["GET", "root", "two segments", "absolute URL", "TLS to plain", "two lengths", "too long", "upgrade"],
)
def test_a_request_the_api_server_never_sends_is_refused_and_the_connection_closed(
    request_bytes: bytes, status: int, says: bytes
) -> None:
    async def test() -> None:
        async with served() as s:
            reader, writer = await s.connect()
            writer.write(request_bytes)
            got, headers, body = await response(reader)
            assert (got, headers["connection"]) == (status, "close")
            assert says in body
            if status == 405:
                assert headers["allow"] == "POST"
            assert await closed(reader)
            assert s.judge.seen == []

    run(test)


def test_a_chunked_body_over_the_limit_is_refused_as_it_grows() -> None:
    async def test() -> None:
        async with served() as s:
            reader, writer = await s.connect()
            writer.write(b"POST /w HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % 8192 + b"x" * 8192 + b"\r\n"
            with contextlib.suppress(ConnectionError):
                for _ in range(LIMIT // 8192 + 2):
                    writer.write(chunk)
                    await writer.drain()
            assert (await response(reader))[0] == 413
            assert s.judge.seen == []
            assert s.slots.free == 2

    run(test)


def test_a_head_over_the_limit_is_refused_before_it_ends() -> None:
    async def test() -> None:
        async with served() as s:
            reader, writer = await s.connect()
            writer.write(b"POST /w HTTP/1.1\r\nX-Padding: ")
            with contextlib.suppress(ConnectionError):
                for _ in range(HEAD_LIMIT // 4096 + 4):
                    writer.write(b"p" * 4096)
                    await writer.drain()
                    await asyncio.sleep(0)
            assert (await response(reader))[0] == 431

    run(test)


def test_an_answer_under_way_is_sent_before_a_refusal_behind_it() -> None:
    async def test() -> None:
        judge = Judge(hold=asyncio.Event())
        async with served(judge) as s:
            reader, writer = await s.connect()
            writer.write(post("/first", b"1") + b"GET /second HTTP/1.1\r\n\r\n")
            await asyncio.sleep(0.1)
            assert judge.hold is not None
            judge.hold.set()
            assert (await response(reader))[:1] == (200,)
            assert (await response(reader))[0] == 405
            assert await closed(reader)

    run(test)


# ------------------------------------------------------------------ slow callers and large bodies
def test_a_request_that_does_not_arrive_in_time_is_dropped() -> None:
    async def test() -> None:
        async with served(request_seconds=0.2) as s:
            reader, writer = await s.connect()
            writer.write(b"POST /w HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
            assert await closed(reader)
            assert s.judge.seen == []

    run(test)


def test_an_idle_connection_is_closed_and_a_busy_one_is_not() -> None:
    async def test() -> None:
        judge = Judge(hold=asyncio.Event())
        async with served(judge, idle_seconds=0.2) as s:
            idle_reader, _ = await s.connect()
            busy_reader, busy = await s.connect()
            busy.write(post("/w", b"slow"))
            assert await closed(idle_reader)
            await asyncio.sleep(0.3)
            assert judge.hold is not None
            judge.hold.set()
            assert (await response(busy_reader))[0] == 200

    run(test)


def test_at_most_two_large_bodies_are_read_and_judged_at_once() -> None:
    async def test() -> None:
        judge = Judge(hold=asyncio.Event())
        async with served(judge) as s:
            callers = [await s.connect() for _ in range(5)]
            for i, (_, writer) in enumerate(callers):
                writer.write(post("/w", bytes([65 + i]) * (LARGE * 4)))
            small_reader, small = await s.connect()
            small.write(post("/w", b"small"))  # a small body never waits for a slot
            await asyncio.sleep(0.2)
            assert judge.most_at_once == 3
            assert [body for _, body in judge.seen][-1:] == [b"small"]
            assert judge.hold is not None
            judge.hold.set()
            answers = sorted([(await response(reader))[2] for reader, _ in callers])
            assert answers == [b"/w " + bytes([65 + i]) * (LARGE * 4) for i in range(5)]
            assert (await response(small_reader))[2] == b"/w small"
            assert judge.most_at_once == 3
            assert s.slots.free == 2

    run(test)


def test_callers_that_leave_while_waiting_for_a_slot_give_it_back() -> None:
    async def test() -> None:
        judge = Judge(hold=asyncio.Event())
        async with served(judge) as s:
            callers = [await s.connect() for _ in range(4)]
            for _, writer in callers:
                writer.write(post("/w", b"L" * (LARGE * 4)))
            await asyncio.sleep(0.2)
            for _, writer in callers:  # two judged, two waiting: all four leave
                writer.close()
            await asyncio.sleep(0.2)
            assert judge.hold is not None
            judge.hold.set()
            await asyncio.sleep(0.1)
            assert s.slots.free == 2
            assert not s.slots.waiting
            reader, writer = await s.connect()
            writer.write(post("/w", b"L" * (LARGE * 4)))
            assert (await response(reader))[0] == 200

    run(test)


def test_a_judge_that_fails_gives_a_500_and_the_connection_goes_on() -> None:
    async def broken(path: str, body: bytes) -> Reply:
        raise RuntimeError("a bug")

    async def test() -> None:
        async with served(broken) as s:
            reader, writer = await s.connect()
            writer.write(post("/w", b"a"))
            status, _, body = await response(reader)
            assert status == 500
            assert b"could not answer" in body
            assert b"a bug" not in body
            writer.write(post("/w", b"b"))
            assert (await response(reader))[0] == 500

    run(test)


def test_a_judge_that_answers_at_once_is_answered_in_order_and_on_one_connection() -> None:
    seen: list[bytes] = []

    def at_once(path: str, body: bytes) -> Reply:
        seen.append(body)
        return Reply(200, b"/" + path.encode() + b" " + body)

    async def test() -> None:
        async with served(at_once) as s:
            reader, writer = await s.connect()
            writer.write(b"".join(post(f"/w{i}", b"x" * i) for i in range(4)))
            answers = [(await response(reader))[2] for _ in range(4)]
            assert answers == [b"/w%d " % i + b"x" * i for i in range(4)]
            writer.write(post("/last", b"y", "Connection: close") + post("/never", b"z"))
            assert (await response(reader))[2] == b"/last y"
            assert await closed(reader)
            assert seen[-1] == b"y"  # what was pipelined behind a closing request is not judged

    run(test)

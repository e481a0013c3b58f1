"""The webhook server's memory under large and distinct reviews: a real server process over TLS, driven by
concurrent clients with bodies up to the API server's 3 MiB limit (env-heavy pods, whose parsed form is many
times their size; one huge annotation; many containers) and many distinct small pods, through the mutating and
the validating call. Its RSS high-water mark (VmHWM) is printed and, with the view of a 150,000-pod cluster
added, must stay within the chart's default memory limit: in a pod, a webhook over its limit is OOM-killed, and
with failurePolicy Fail that stops pod creation.

A longer phase: MODELROUTE_MEMORY_ROUNDS=10 python -m pytest -s tests/fuzz/test_fuzz_memory.py
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import yaml
from tests.bench import world
from tests.bench.bench_webhook import server_process

from modelroute.admission import configurations as cfg
from modelroute.admission.server import API_SERVER_REQUEST_LIMIT

REPO_ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("MODELROUTE_MEMORY_ROUNDS", "1"))
#: large reviews per round and shape, sent by this many clients at once
LARGE_PER_ROUND, CLIENTS = 4, 8
#: distinct small pods per round, each through the mutating and the validating call
SMALL_PER_ROUND = 4000
SALT = "<salt>"
_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


#: what the view of a 150,000-pod cluster adds to the operator's memory (docs/performance.md, Memory at scale: about
#: 1.3 KB per watched pod): the peak of judging reviews must leave room for it under the chart's limit
LARGEST_VIEW = 1300 * 150_000


def chart_memory_limit() -> int:
    values = yaml.safe_load((REPO_ROOT / "charts" / "modelroute" / "values.yaml").read_text())
    text = str(values["resources"]["limits"]["memory"])
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", text)
    assert match, f"resources.limits.memory {text!r} is not in Ki, Mi or Gi"
    return int(match.group(1)) * _UNITS[match.group(2)]


def high_water_mark(pid: int) -> int:
    """VmHWM of a process, in bytes: the most resident memory it has had."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


def resident(pid: int) -> int:
    match = re.search(r"^VmRSS:\s+(\d+) kB$", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    assert match
    return int(match.group(1)) * 1024


def _sized(pod: dict[str, Any], grow: Any, size: int) -> bytes:
    """A review of `pod` whose body is just under `size` bytes once `grow(pod, n)` has added n units."""
    low, high = 1, size
    body = b""
    while low < high:  # the largest n whose review fits
        middle = (low + high + 1) // 2
        candidate = orjson.dumps(world.review(grow(_copy(pod), middle)))
        if len(candidate) <= size:
            low, body = middle, candidate
        else:
            high = middle - 1
    return body or orjson.dumps(world.review(grow(_copy(pod), low)))


def _copy(pod: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = orjson.loads(orjson.dumps(pod))
    return copied


def _many_env(pod: dict[str, Any], n: int) -> dict[str, Any]:
    env = pod["spec"]["containers"][0].setdefault("env", [])
    env.extend({"name": f"V{i}", "value": "v"} for i in range(n))
    env.append({"name": "SALT", "value": SALT})
    return pod


def _huge_annotation(pod: dict[str, Any], n: int) -> dict[str, Any]:
    pod["metadata"]["annotations"] = {"example.com/notes": "x" * n, "example.com/salt": SALT}
    return pod


def _many_containers(pod: dict[str, Any], n: int) -> dict[str, Any]:
    first = pod["spec"]["containers"][0]
    pod["spec"]["containers"] = [
        {**first, "name": f"c{i}", "args": ["--flag", SALT if i == 0 else "--x"]} for i in range(n // 4 + 1)
    ]
    return pod


def large_templates() -> list[tuple[str, bytes]]:
    """(path, body with SALT) of reviews just under the API server's limit, covered and plain pods."""
    out = []
    for grow in (_many_env, _huge_annotation, _many_containers):
        for make in (world.covered_pod, world.plain_pod):
            body = _sized(make(), grow, API_SERVER_REQUEST_LIMIT - 4096)
            assert len(body) > API_SERVER_REQUEST_LIMIT * 0.9
            for path in (cfg.MUTATE_PODS, cfg.VALIDATE_PODS):
                out.append((path, body))
    return out


def small_reviews(salt: str, count: int) -> Iterator[tuple[str, bytes]]:
    for index in range(count):
        make = (world.covered_pod, world.violating_pod, world.plain_pod)[index % 3]
        pod = make()
        pod["spec"]["containers"][0].setdefault("env", []).append({"name": "REQUEST_ID", "value": f"{salt}{index}"})
        body = orjson.dumps(world.review(pod))
        yield cfg.MUTATE_PODS, body
        yield cfg.VALIDATE_PODS, body


async def _drive(port: int, ca: Path, reviews: Iterator[tuple[str, bytes]], clients: int) -> int:
    import aiohttp

    context = ssl.create_default_context(cafile=str(ca))
    timeout = aiohttp.ClientTimeout(total=120)
    sent = 0
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=clients, ssl=context), timeout=timeout
    ) as session:

        async def worker() -> None:
            nonlocal sent
            for path, body in reviews:
                async with session.post(f"https://127.0.0.1:{port}/{path}", data=body) as response:
                    reply = await response.read()
                    assert response.status == 200, (response.status, reply[:300])
                    assert orjson.loads(reply)["response"]["uid"]
                sent += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
    return sent


def _large(templates: list[tuple[str, bytes]], round_index: int) -> Iterator[tuple[str, bytes]]:
    for index in range(LARGE_PER_ROUND):
        for path, body in templates:
            yield path, body.replace(SALT.encode(), f"r{round_index}-{index}".encode())


def test_the_webhook_servers_memory_stays_within_the_charts_limit_under_large_and_distinct_reviews(
    tmp_path: Path,
) -> None:
    limit = chart_memory_limit()
    templates = large_templates()
    with server_process("modelroute", tmp_path) as (port, ca, pid):
        asyncio.run(_drive(port, ca, small_reviews("warm-up", 50), 1))
        base = resident(pid)
        started, sent = time.monotonic(), 0
        for round_index in range(ROUNDS):
            sent += asyncio.run(_drive(port, ca, _large(templates, round_index), CLIENTS))
            sent += asyncio.run(_drive(port, ca, small_reviews(f"r{round_index}-", SMALL_PER_ROUND), CLIENTS))
        peak, after = high_water_mark(pid), resident(pid)
    elapsed = time.monotonic() - started
    mib = 1024 * 1024
    print(
        f"\nwebhook server memory: {sent} reviews in {elapsed:.0f} s ({len(templates) * LARGE_PER_ROUND * ROUNDS} "
        f"of about 3 MiB, {CLIENTS} clients); RSS {base / mib:.0f} MiB after warm-up, high-water mark "
        f"{peak / mib:.0f} MiB, {after / mib:.0f} MiB at the end; chart limit {limit / mib:.0f} MiB; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    budget = limit - LARGEST_VIEW
    assert peak < budget, (
        f"the webhook server's RSS reached {peak / mib:.0f} MiB: with the view of a 150,000-pod cluster "
        f"({LARGEST_VIEW / mib:.0f} MiB) that is over the chart's {limit / mib:.0f} MiB"
    )

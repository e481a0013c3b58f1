"""Property tests: host judgement agrees with a WHATWG URL parser (ada, the parser inside Node) on
every string it reads as a URL, and a model host a WHATWG client would call is never admitted
unless it is the approved one, however the string is disguised."""

from __future__ import annotations

from typing import Any

import ada_url
from builders import APPROVED_HOST, container, judge, pod
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_hosts_properties import urls

from modelroute.engine.hosts import URLError, classify_host, parse_url, whatwg_host

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
MODEL_HOSTS = ["api.openai.com", "eu.api.openai.com", "rival.openai.azure.com", "x.cognitiveservices.azure.com"]
FULL_WIDTH = {c: chr(ord(c) - ord("a") + 0xFF41) for c in "abcdefghijklmnopqrstuvwxyz"}


def _ada(text: str) -> tuple[str, str, int] | None:
    try:
        url = ada_url.URL(text)
    except ValueError:
        return None
    scheme = url.protocol[:-1]
    if scheme not in DEFAULT_PORTS or not url.hostname:
        return None
    host = url.hostname.strip("[]").removesuffix(".")
    return scheme, host, int(url.port) if url.port else DEFAULT_PORTS[scheme]


@st.composite
def disguised(draw: st.DrawFn, host: str) -> str:
    """`host` in a URL written the ways WHATWG parsers accept and others read differently."""
    scheme = draw(st.sampled_from(["https", "http", "wss", "ws", "HTTPS", "h\ttps"]))
    separator = draw(st.sampled_from(["://", ":", ":/", ":\\\\", ":\\/", ":///", "://\t"]))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(host)))
        host = host[:at] + draw(st.sampled_from(["\t", "\n", "\r"])) + host[at:]
    if draw(st.booleans()):
        host = "".join(FULL_WIDTH.get(c, c) if draw(st.booleans()) else c for c in host)
    if draw(st.integers(0, 3)) == 0:
        host = host.replace(".", draw(st.sampled_from(["\u3002", "\uff0e", "\uff61"])), 1)
    userinfo = draw(st.sampled_from(["", "", "user@", f"{APPROVED_HOST}@"]))
    tail = draw(st.sampled_from(["", "/v1", "\\v1", "/openai/v1?x=1", "#frag"]))
    return f"{scheme}{separator}{userinfo}{host}{tail}"


model_urls = st.sampled_from(MODEL_HOSTS).flatmap(disguised)


@SETTINGS
@given(st.one_of(urls(), model_urls))
@example("https:api.openai.com/v1")
@example("https://api.open\tai.com/v1")
@example("wss://api.openai.com/v1/realtime")
@example("https://\uff41pi.openai.com/v1")
def test_an_accepted_url_is_read_alike_by_the_whatwg_parser(text: str) -> None:
    try:
        parsed = parse_url(text)
    except URLError:
        return
    assert _ada(text) == (parsed.scheme, parsed.host, parsed.port)


@SETTINGS
@given(st.one_of(urls(), model_urls))
def test_the_whatwg_host_is_the_one_ada_reads(text: str) -> None:
    read = _ada(text)
    assert whatwg_host(text) == (read[1] if read else None)


def _is_model_host(host: str) -> bool:
    try:
        return classify_host(host).is_openai_model_host
    except URLError:
        return False


def _unapproved_model_host(text: str) -> bool:
    read = _ada(text)
    return read is not None and read[1] != APPROVED_HOST and _is_model_host(read[1])


@SETTINGS
@given(model_urls)
@example("https:api.openai.com/v1")
@example("https://api.open\nai.com/v1")
def test_a_disguised_model_host_as_an_endpoint_setting_is_never_admitted(text: str) -> None:
    decision = judge(pod(container(env={"OPENAI_BASE_URL": text})))
    assert not decision.allowed, f"{text!r} reaches {_ada(text)}"


def _placements(text: str) -> list[dict[str, Any]]:
    return [
        container(env={"SERVICE_URL": text}),
        container(args=["--url", text]),
        container(args=[f"--url={text}"]),
        container(livenessProbe={"exec": {"command": ["curl", text]}}),
    ]


@SETTINGS
@given(model_urls)
@example("https:api.openai.com/v1")
@example("https://\uff41\uff50\uff49.openai.com/v1")
def test_a_disguised_model_host_anywhere_in_a_container_is_never_admitted(text: str) -> None:
    if not _unapproved_model_host(text):
        return
    for c in _placements(text):
        decision = judge(pod(c))
        assert not decision.allowed, f"{text!r} reaches {_ada(text)} from {c}"

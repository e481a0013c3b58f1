"""Property tests: parsed hosts match what real HTTP clients connect to, and tricks never forge a host."""

from __future__ import annotations

import atexit
import importlib
import ipaddress
import json
import re
import shutil
import socket
import subprocess
import urllib.parse
from types import ModuleType

import idna as idna2008
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelroute.engine.hosts import (
    HostFamily,
    URLError,
    canonical_host,
    classify_host,
    parse_url,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ASCII_WHITESPACE = " \t\n\r\f\v"


# ---------------------------------------------------------------------------------------------
# Adversarial pieces
# ---------------------------------------------------------------------------------------------

SUFFIX_LABELS = [
    "api", "openai", "azure", "com", "us", "cn", "net", "evil", "contoso", "cognitiveservices",
    "services", "ai", "azure-api", "privatelink", "eu", "ae", "mtls", "microsoft", "cognitive",
    "amazonaws", "bedrock-runtime", "us-east-1", "evilopenai", "api-openai", "_dmarc",
]  # fmt: skip
TRICKY_LABELS = [
    "xn--bcher-kva", "XN--BCHER-KVA", "bücher", "BÜCHER", "straße", "İ", "\u212aelvin",
    "\uff4f\uff50\uff45\uff4e\uff41\uff49",
    "a\u200db", "ς", "\u03c3", "xn--n3h", "☃", "\u043e\u0440enai", "open\u00adai", "xn--", "xn--zz",
    "0x7f", "0X7F", "127", "1", "0", "08", "0x", "0xg", "255", "256", "4294967295", "\u0664", "\uff11",
    "a b", "a%2eb", "%61pi", "a@b", "a:b", "a\\b", "a/b", "[::1]", "a\u3002b", "a\uff0eb", "a\tb",
]  # fmt: skip
NASTY = "aAzZ09-_.%@:/\\[]#?! \t\u00df\u0131\u0130\u212a\uff41\u200d\u3002\u00e9"


@st.composite
def case_mixed(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if flip else c for c, flip in zip(text, flips, strict=True))


@st.composite
def percent_encoded(draw: st.DrawFn, text: str) -> str:
    out = []
    for char in text:
        if draw(st.integers(0, 4)) == 0:
            hexes = [f"%{b:02x}" for b in char.encode("utf-8")]
            encoded = "".join(hexes)
            out.append(encoded.upper() if draw(st.booleans()) else encoded)
        else:
            out.append(char)
    return "".join(out)


label = st.integers(0, 5).flatmap(
    lambda n: (
        [
            st.sampled_from(TRICKY_LABELS),
            st.text(alphabet=NASTY, min_size=0, max_size=4),
            st.text(alphabet="abcxyz019-_", min_size=1, max_size=8),
        ][n]
        if n < 3
        else st.sampled_from(SUFFIX_LABELS)
    )
)


@st.composite
def domain_hosts(draw: st.DrawFn) -> str:
    labels = draw(st.lists(label, min_size=1, max_size=5))
    host = ".".join(labels)
    host = draw(st.sampled_from(["", "", "", ".", ".."])) + host if draw(st.integers(0, 9)) == 0 else host
    host += draw(st.sampled_from(["", "", "", ".", ".."]))
    if draw(st.booleans()):
        host = draw(case_mixed(host))
    if draw(st.integers(0, 3)) == 0:
        host = draw(percent_encoded(host))
    return host


def _ipv4_part(draw: st.DrawFn, value: int) -> str:
    style = draw(st.sampled_from(["dec", "hex", "HEX", "oct"]))
    zeros = "0" * draw(st.integers(0, 3))
    if style == "dec":
        return str(value)
    if style == "oct":
        return "0" + zeros + format(value, "o")
    text = zeros + format(value, "x")
    return ("0X" if style == "HEX" else "0x") + (text.upper() if style == "HEX" else text)


@st.composite
def ipv4_hosts(draw: st.DrawFn) -> str:
    address = draw(st.integers(0, 2**32 - 1))
    parts = draw(st.integers(1, 4))
    values = [(address >> (8 * (3 - i))) & 0xFF for i in range(parts - 1)]
    values.append(address & ((1 << (8 * (5 - parts))) - 1))
    if draw(st.integers(0, 6)) == 0:
        values[draw(st.integers(0, parts - 1))] += draw(st.sampled_from([256, 2**32]))
    if draw(st.integers(0, 9)) == 0:
        values.append(1)
    host = ".".join(_ipv4_part(draw, v) for v in values)
    return host + draw(st.sampled_from(["", "", "", "."]))


@st.composite
def ipv6_hosts(draw: st.DrawFn) -> str:
    address = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
    form = draw(
        st.sampled_from(
            [
                address.compressed,
                address.exploded,
                f"::ffff:{ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)}",
            ]
        )
    )
    form = draw(case_mixed(form))
    form += draw(st.sampled_from(["", "", "", "%25eth0", "%eth0", "%"]))
    return draw(st.sampled_from([f"[{form}]", f"[{form}]", form, f"[{form}", f"{form}]"]))


def _mostly(usual: st.SearchStrategy[str], unusual: st.SearchStrategy[str], odds: int = 3) -> st.SearchStrategy[str]:
    # one_of() weighs distinct branches equally, so the weighting is drawn explicitly.
    return st.integers(0, odds).flatmap(lambda n: unusual if n == 0 else usual)


hosts = _mostly(st.one_of(domain_hosts(), ipv4_hosts(), ipv6_hosts()), st.text(alphabet=NASTY, max_size=12))
userinfos = _mostly(
    st.just(""),
    st.one_of(
        st.text(alphabet="ab:@%\\/. #?[]", max_size=8).map(lambda u: u + "@"),
        st.sampled_from(["api.openai.com@", "evil.com@", "contoso.openai.azure.com:443@", "@", "a@b@", "u:p@"]),
        hosts.map(lambda h: h + "@"),
    ),
)
ports = _mostly(
    st.sampled_from(["", ":", ":443", ":80", ":0443", ":8443"]),
    st.one_of(
        st.sampled_from([":0", ":65535", ":65536", ":+443", ": 443", ":\u0664\u0664\u0663", ":4_43", ":443:80"]),
        st.sampled_from([":-1", ":1e3", ":abc", ":443@evil.com"]),
        st.integers(0, 70000).map(lambda p: f":{p}"),
    ),
)
tails = _mostly(
    st.sampled_from(["", "/", "/v1", "/openai/v1/"]),
    st.sampled_from(["?x=@evil.com", "#@evil.com", "/\\@evil.com", "\\@evil.com", "/a@evil.com", "?", "#"]),
)
schemes = _mostly(
    st.sampled_from(["https", "http", "HTTPS", "hTTp"]),
    st.sampled_from(["ftp", "https:", "ht\ttps", "file", "https+unix"]),
    odds=9,
)
separators = _mostly(st.just("://"), st.sampled_from([":/", ":\\\\", ":///", ":", ":\\/"]), odds=9)
whitespace = _mostly(st.just(""), st.sampled_from([" ", "\n", "\t", "\x00", "\u00a0"]), odds=9)


@st.composite
def urls(draw: st.DrawFn) -> str:
    return "".join(
        [
            draw(whitespace),
            draw(schemes),
            draw(separators),
            draw(userinfos),
            draw(hosts),
            draw(ports),
            draw(tails),
            draw(whitespace),
        ]
    )


# ---------------------------------------------------------------------------------------------
# Oracles: the parsers of real HTTP clients. Each returns (host, port) or None when it rejects the URL.
# ---------------------------------------------------------------------------------------------

IPV4_TEXT = re.compile(r"[0-9a-fx.]+")
DEFAULT_PORTS = {"http": 80, "https": 443}
Endpoint = tuple[str, int]


def _normalised(host: str) -> str | None:
    """The host a client would connect to, in canonical form; None when it could connect nowhere."""
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            return None
    # libc reads numeric forms (0x7f.1, 127.1, 2130706433) as IPv4 before any DNS lookup.
    if IPV4_TEXT.fullmatch(host):
        try:
            return str(ipaddress.IPv4Address(socket.inet_aton(host)))
        except OSError:
            pass
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii():
        try:
            # What socket.getaddrinfo, and so urllib, does with a Unicode name.
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host or None


def _endpoint(scheme: str, host: str | None, port: int | None) -> Endpoint | None:
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    normal = _normalised(host)
    return None if normal is None else (normal, DEFAULT_PORTS[scheme] if port is None else port)


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# The openai SDK ships its HTTP client as httpx2 in recent releases and as httpx before.
HTTPX = _optional("httpx2") or _optional("httpx")
URLLIB3 = _optional("urllib3.util")  # requests
YARL = _optional("yarl")  # aiohttp


def _httpx(text: str) -> Endpoint | None:
    if HTTPX is None:
        return None
    try:
        url = HTTPX.URL(text)
        return _endpoint(url.scheme, url.raw_host.decode("ascii"), url.port)
    except Exception:
        return None


def _urlsplit(text: str) -> Endpoint | None:
    try:
        parts = urllib.parse.urlsplit(text)
        return _endpoint(parts.scheme, parts.hostname, parts.port)
    except ValueError:
        return None


def _urllib3(text: str) -> Endpoint | None:
    if URLLIB3 is None:
        return None
    try:
        url = URLLIB3.parse_url(text)
        return _endpoint(url.scheme or "", url.host, url.port)
    except Exception:
        return None


def _yarl(text: str) -> Endpoint | None:
    if YARL is None:
        return None
    try:
        url = YARL.URL(text)
        return _endpoint(url.scheme, url.raw_host, url.explicit_port)
    except Exception:
        return None


NODE_SCRIPT = """
const lines = require("readline").createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let result = null;
  try {
    const url = new URL(JSON.parse(line));
    result = [url.protocol.slice(0, -1), url.hostname, url.port];
  } catch (error) {}
  process.stdout.write(JSON.stringify(result) + "\\n");
});
"""


class _WhatwgOracle:
    """Node's URL class (openai-node, browsers), when node is installed; one process for the session."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._started = False

    def _start(self) -> subprocess.Popen[str] | None:
        if not self._started:
            self._started = True
            node = shutil.which("node")
            if node is not None:
                self._process = subprocess.Popen(
                    [node, "-e", NODE_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
                atexit.register(self._stop)
        return self._process

    def _stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=5)

    def __call__(self, text: str) -> Endpoint | None:
        process = self._start()
        if process is None or process.stdin is None or process.stdout is None:
            return None
        try:
            process.stdin.write(json.dumps(text) + "\n")
            process.stdin.flush()
            result = json.loads(process.stdout.readline())
        except (OSError, ValueError):
            # A node too old for the script, or one that went away: judge without it.
            self._stop()
            self._process = None
            return None
        if result is None:
            return None
        scheme, host, port = result
        return _endpoint(scheme, host, int(port) if port else None)


ORACLES = {"httpx": _httpx, "urlsplit": _urlsplit, "urllib3": _urllib3, "yarl": _yarl, "whatwg": _WhatwgOracle()}


def test_http_client_oracle_is_available() -> None:
    assert HTTPX is not None, "httpx (or httpx2) is needed as the oracle of the openai SDK's parser"


@SETTINGS
@given(urls())
@example("https://contoso%2eopenai.azure.com/")
@example("https://api.openai.com@evil.com/")
@example("https://evil.com\\@contoso.openai.azure.com/")
@example("https://a@evil.com@contoso.openai.azure.com/")
@example("https://contoso\u3002openai.azure.com/")
@example("https://stra\u00dfe.de/")
@example("https://\u0130.com/")
@example("https://0x7f.1/")
@example("https://0x/")
@example("https://1.2.3.4./")
@example("https://contoso.openai.azure.com:+443/")
@example("https://contoso.openai.azure.com:\u0664\u0664\u0663/")
@example("https://api.open\tai.com/")
@example("https://[::ffff:127.0.0.1]/")
@example("https://\uff4f\uff50\uff45\uff4e\uff41\uff49.com/")
def test_parse_url_destination_matches_http_clients(text: str) -> None:
    try:
        parsed = parse_url(text)
    except URLError:
        return
    # Stripping surrounding whitespace is parse_url's documented (WHATWG) rule; a client that keeps
    # it sees a host with a space or %20 in it, which resolves nowhere.
    stripped = text.strip(ASCII_WHITESPACE)
    for name, oracle in ORACLES.items():
        expected = oracle(stripped)
        if expected is not None:
            assert (parsed.host, parsed.port) == expected, f"{name} connects to {expected}, parse_url: {parsed}"


# ---------------------------------------------------------------------------------------------
# Classification only on label boundaries
# ---------------------------------------------------------------------------------------------

FAMILY_SUFFIXES: dict[HostFamily, tuple[str, ...]] = {
    HostFamily.AZURE_OPENAI: ("openai.azure.com", "openai.azure.us", "openai.azure.cn"),
    HostFamily.AZURE_COGNITIVE_SERVICES: (
        "cognitiveservices.azure.com",
        "cognitiveservices.azure.us",
        "cognitiveservices.azure.cn",
        "api.cognitive.microsoft.com",
    ),
    HostFamily.AZURE_AI_FOUNDRY: ("services.ai.azure.com", "services.ai.azure.us"),
    HostFamily.AZURE_API_MANAGEMENT: ("azure-api.net", "azure-api.us", "azure-api.cn"),
    HostFamily.AWS_BEDROCK: ("amazonaws.com",),
}

suffix_heavy_hosts = st.lists(
    st.one_of(st.sampled_from(SUFFIX_LABELS), st.sampled_from(["bedrock", "bedrockx", "xbedrock"])),
    min_size=1,
    max_size=6,
).map(".".join)


@SETTINGS
@given(st.one_of(suffix_heavy_hosts, domain_hosts(), st.text(alphabet=NASTY, max_size=12)))
def test_classification_requires_a_label_boundary_suffix(host: str) -> None:
    try:
        canonical = canonical_host(host)
        family = classify_host(host).family
    except URLError:
        return
    is_openai = canonical == "openai.com" or canonical.endswith(".openai.com")
    is_bedrock = canonical.startswith("bedrock") and canonical.endswith(".amazonaws.com")
    if family is HostFamily.OPENAI:
        assert is_openai
    elif family is HostFamily.AWS_BEDROCK:
        assert is_bedrock
    elif family is not HostFamily.OTHER:
        assert any(canonical.endswith("." + suffix) for suffix in FAMILY_SUFFIXES[family])
    else:
        assert not is_openai
        assert not is_bedrock
        azure = [s for f, ss in FAMILY_SUFFIXES.items() if f is not HostFamily.AWS_BEDROCK for s in ss]
        assert not any(canonical.endswith("." + suffix) for suffix in azure)


@SETTINGS
@given(suffix_heavy_hosts)
def test_every_label_boundary_suffix_is_classified(host: str) -> None:
    family = classify_host(host).family
    if host == "openai.com" or host.endswith(".openai.com"):
        assert family is HostFamily.OPENAI
    for expected, suffixes in FAMILY_SUFFIXES.items():
        if expected is HostFamily.AWS_BEDROCK:
            continue
        if any(host.endswith("." + suffix) for suffix in suffixes):
            assert family is expected


# ---------------------------------------------------------------------------------------------
# Canonical form
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(st.one_of(hosts, st.text(max_size=16)))
def test_canonical_host_is_idempotent(host: str) -> None:
    try:
        canonical = canonical_host(host)
    except URLError:
        return
    assert canonical_host(canonical) == canonical


APPROVED = (
    "contoso.openai.azure.com",
    "contoso-eu.cognitiveservices.azure.us",
    "fabrikam.services.ai.azure.com",
    "apim-contoso.azure-api.net",
    "api.openai.com",
    "xn--bcher-kva.openai.azure.cn",
)
LOOK_ALIKE_CHARS = [
    "0", "1", "l", "\u0456", "\u043e", "\u03bf", "\uff4f", "\u200b", "\u00ad", "\u200d",
    ".", "-", "_", "@", ":", "%2e",
    "%", "K", "\u212a", "ß", "\u0131", "\u0130", "\u3002", " ", "\\", "/", "..",
]  # fmt: skip


def _really_same(text: str) -> str:
    """Independent reference: the name once percent-decoding, case, one trailing dot and IDNA are applied."""
    try:
        name = urllib.parse.unquote(text, errors="strict").lower()
    except UnicodeDecodeError:
        return text
    if name.endswith("."):
        name = name[:-1]
    try:
        return idna2008.encode(name).decode("ascii") if not name.isascii() else name
    except idna2008.IDNAError:
        return name


@st.composite
def forged_hosts(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from([*APPROVED, "bücher.openai.azure.cn", "BÜCHER.openai.azure.cn"]))
    chars = list(base)
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(chars)))
        action = draw(st.sampled_from(["insert", "replace", "delete"]))
        replacement = draw(st.sampled_from(LOOK_ALIKE_CHARS))
        if action == "insert":
            chars.insert(position, replacement)
        elif chars and position < len(chars):
            if action == "replace":
                chars[position] = replacement
            else:
                del chars[position]
    host = draw(st.sampled_from(["", "", "evil.", "api."])) + "".join(chars)
    host += draw(st.sampled_from(["", "", "", ".", ".evil.com", ".."]))
    return draw(case_mixed(host)) if draw(st.booleans()) else host


@SETTINGS
@given(forged_hosts())
def test_tricks_never_turn_a_host_into_an_approved_one(host: str) -> None:
    try:
        canonical = canonical_host(host)
    except URLError:
        return
    if canonical in APPROVED:
        assert _really_same(host) == canonical, f"{host!r} became {canonical!r}"


@SETTINGS
@given(forged_hosts(), st.data())
def test_percent_encoding_changes_nothing_but_spelling(host: str, data: st.DataObject) -> None:
    if "%" in host or ":" in host or host.startswith("["):
        return
    encoded = data.draw(percent_encoded(host))
    try:
        plain = canonical_host(host)
    except URLError:
        with pytest.raises(URLError):
            canonical_host(encoded)
        return
    assert canonical_host(encoded) == plain


@SETTINGS
@given(forged_hosts())
def test_forged_hosts_in_urls_are_judged_like_bare_hosts(host: str) -> None:
    if any(c in host for c in "@:/\\?#[]%"):
        return
    url = f"https://{host}/v1"
    try:
        parsed = parse_url(url)
    except URLError:
        return
    assert parsed.host == canonical_host(host)
    if parsed.host in APPROVED:
        assert _really_same(host) == parsed.host

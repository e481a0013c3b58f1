"""How clients read a URL: the one URL reader that the API's validation and the engine share.

Every decision is taken on the parsed, canonical host, never on a substring of the URL. Inputs on
which common HTTP clients disagree (httpx, urllib, WHATWG parsers such as Node's, libc) are
rejected with URLError rather than resolved by guessing: callers must treat such a URL as one
whose destination cannot be proven.

The WHATWG reading comes from ada (the parser Node itself uses), not from rules written here: a
URL is accepted only when ada reads the same scheme, host and port, and `whatwg_host` says which
host a WHATWG client would call for strings this module refuses (`https:evil.com`, a tab inside
the host, full-width letters), so that callers can tell whether a refused string names a model host.

It sits below the API models (which validate URLs with it) and imports nothing of ModelRoute's.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from encodings import idna as _idna

import ada_url

from modelroute.memo import memo

__all__ = ["ParsedURL", "URLError", "canonical_host", "parse_url", "whatwg_host"]


class URLError(ValueError):
    """A URL or host that cannot be judged; the message says why."""


# WebSocket URLs (the Realtime API) go to the same host and port as their http(s) twins.
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class ParsedURL:
    """An absolute http(s) URL reduced to what decides its destination."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def _bracketed_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def host_port(self) -> str:
        return f"{self._bracketed_host}:{self.port}"

    @property
    def origin(self) -> str:
        if self.port == _DEFAULT_PORTS.get(self.scheme):
            return f"{self.scheme}://{self._bracketed_host}"
        return f"{self.scheme}://{self._bracketed_host}:{self.port}"


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_PORT = re.compile(r"[0-9]+")
_PERCENT_BYTE = re.compile(r"%[0-9A-Fa-f]{2}")
_PERCENT_PIECES = re.compile(r"(%[0-9A-Fa-f]{2})")
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
_ASCII_LABEL = re.compile(r"[a-z0-9_-]+")
_DECIMAL = re.compile(r"[0-9]+")
_OCTAL = re.compile(r"0[0-7]*")
# An empty "0x" is IPv4 zero to WHATWG parsers but a DNS name to libc, so it is not accepted as a number.
_HEX = re.compile(r"0x[0-9a-f]+")
_ENDS_IN_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")
# IDNA treats these as label separators, plain-text parsers do not.
_UNICODE_DOTS = frozenset("\u3002\uff0e\uff61")
_ASCII_WHITESPACE = " \t\n\r\f\v"
_SPECIAL_SCHEMES = frozenset({"http:", "https:", "ws:", "wss:"})
_AUTHORITY_END = frozenset("/?#")
_MAX_LABEL = 63
_MAX_HOST = 253


def _percent_decode(host: str) -> str:
    if "%" not in host:
        return host
    if "%" in _PERCENT_BYTE.sub("", host):
        raise URLError(f"host {host!r} has a malformed percent-encoding")
    raw = bytearray()
    for piece in _PERCENT_PIECES.split(host):
        if piece.startswith("%"):
            raw.append(int(piece[1:], 16))
        else:
            raw.extend(piece.encode("utf-8", "surrogatepass"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise URLError(f"host {host!r} percent-decodes to invalid UTF-8") from None


def _ascii_label(label: str, host: str) -> str:
    if label.isascii():
        ascii_label = label
    else:
        try:
            ascii_label = _idna.ToASCII(label).decode("ascii")
            round_trip = _idna.ToUnicode(ascii_label)
        except UnicodeError as error:
            raise URLError(f"host {host!r} is not a valid internationalised name: {error}") from None
        # IDNA 2003 (libc, urllib), IDNA 2008 (httpx) and UTS 46 (browsers) map characters such as
        # "ß", "ς", full-width letters or zero-width joiners differently, so only labels that need
        # no mapping at all name one host for every client.
        if round_trip != label:
            raise URLError(
                f"ambiguous host {host!r}: label {label!r} is rewritten by IDNA mapping "
                f"(to {round_trip!r}); write it in that form or in punycode"
            )
    if not _ASCII_LABEL.fullmatch(ascii_label):
        bad = next((c for c in ascii_label if not _ASCII_LABEL.fullmatch(c)), ascii_label)
        raise URLError(f"host {host!r} contains a character not allowed in a host name: {bad!r}")
    if len(ascii_label) > _MAX_LABEL:
        raise URLError(f"host {host!r} has a label longer than {_MAX_LABEL} characters")
    return ascii_label


def _ipv4_number(part: str) -> int | None:
    if _HEX.fullmatch(part):
        return int(part[2:], 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part[1:], 8) if _OCTAL.fullmatch(part) else None
    if _DECIMAL.fullmatch(part):
        return int(part, 10)
    return None


def _ipv4(labels: list[str], host: str, trailing_dot: bool) -> str | None:
    """Dotted-quad form when the name is an IPv4 address, as WHATWG and inet_aton read it."""
    if not _ENDS_IN_NUMBER.fullmatch(labels[-1]):
        return None
    # WHATWG parsers read "1.2.3.4." as an address, libc as a DNS name.
    if trailing_dot:
        raise URLError(f"ambiguous host {host!r}: numeric host with a trailing dot")
    numbers = [_ipv4_number(label) for label in labels]
    if len(labels) > 4 or None in numbers:
        raise URLError(f"host {host!r} ends in a number but is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise URLError(f"host {host!r} is an IPv4 address out of range")
    address = values[-1]
    for index, value in enumerate(values[:-1]):
        address += value * 256 ** (3 - index)
    return str(ipaddress.IPv4Address(address))


def _ipv6(literal: str, host: str) -> str:
    # ipaddress accepts "%zone" suffixes, which URL parsers treat inconsistently.
    if "%" in literal:
        raise URLError(f"host {host!r}: IPv6 zone identifiers are not supported")
    try:
        return ipaddress.IPv6Address(literal).compressed
    except ValueError:
        raise URLError(f"host {host!r} is not a valid IPv6 address") from None


def canonical_host(host: str) -> str:
    """Canonical form of a host name or IP literal; raises URLError when it is not a valid host."""
    if host.startswith("["):
        if not host.endswith("]"):
            raise URLError(f"host {host!r} has an unterminated IPv6 literal")
        return _ipv6(host[1:-1], host)
    if ":" in host:
        return _ipv6(host, host)
    name = _percent_decode(host)
    trailing_dot = name.endswith(".")
    if trailing_dot:
        name = name[:-1]
    if not name:
        raise URLError("no host")
    if any(c in _UNICODE_DOTS for c in name):
        raise URLError(f"ambiguous host {host!r}: contains a non-ASCII full stop")
    labels = name.lower().split(".")
    if "" in labels:
        raise URLError(f"host {host!r} has an empty label")
    ascii_labels = [_ascii_label(label, host) for label in labels]
    address = _ipv4(ascii_labels, host, trailing_dot)
    if address is not None:
        return address
    canonical = ".".join(ascii_labels)
    if len(canonical) > _MAX_HOST:
        raise URLError(f"host {host!r} is longer than {_MAX_HOST} characters")
    return canonical


def _split_host_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise URLError("unterminated IPv6 literal in authority")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            raise URLError("unexpected characters after an IPv6 literal")
        return host, rest[1:]
    host, _, port = hostport.partition(":")
    if ":" in port:
        raise URLError("ambiguous authority: more than one ':' outside an IPv6 literal")
    return host, port


@memo(8192)
def _whatwg(text: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) as a WHATWG parser reads a special-scheme URL; None when it reads none."""
    try:
        parts = ada_url.parse_url(text, attributes=("protocol", "hostname", "port"))
    except ValueError:
        return None
    scheme, host = str(parts["protocol"]), str(parts["hostname"])
    if scheme not in _SPECIAL_SCHEMES or not host:
        return None
    port = str(parts["port"])
    return scheme[:-1], host, int(port) if port else None


def whatwg_host(text: str) -> str | None:
    """The host a WHATWG client (Node, browsers, the Vercel AI SDK) calls for `text`, canonical;
    None when it reads no http(s)/ws(s) URL with a host there."""
    read = _whatwg(text)
    if read is None:
        return None
    host = read[1]
    if host.startswith("["):
        return host[1:-1]
    return host[:-1] if host.endswith(".") else host


# Pure functions over small inputs that repeat across a cluster's pods: memoised, bounded.
@memo(8192)
def parse_url(text: str) -> ParsedURL:
    """Parse an absolute http(s) or ws(s) URL; raises URLError for malformed or ambiguous input, and for
    input a WHATWG parser reads as another scheme, host or port."""
    parsed = _parse_strict(text)
    read = _whatwg(text)
    if read is None:
        raise URLError("a WHATWG parser does not read this as an http(s) URL with a host")
    scheme, host, port = read
    if host.startswith("["):
        host = host[1:-1]
    elif host.endswith("."):
        host = host[:-1]
    if (scheme, host, port or _DEFAULT_PORTS[scheme]) != (parsed.scheme, parsed.host, parsed.port):
        raise URLError(f"ambiguous URL: a WHATWG parser reads another destination ({host})")
    return parsed


def _parse_strict(text: str) -> ParsedURL:
    url = text.strip(_ASCII_WHITESPACE)
    scheme_match = _SCHEME.match(url)
    if scheme_match is None or not url.startswith("//", scheme_match.end()):
        raise URLError("not an absolute URL: expected http:// or https://")
    scheme = scheme_match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise URLError(f"scheme must be http, https, ws or wss, not {scheme!r}")
    rest = url[scheme_match.end() + 2 :]
    authority_end = next((i for i, c in enumerate(rest) if c in _AUTHORITY_END), len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    # WHATWG parsers end the authority at a backslash, httpx and urllib do not.
    if "\\" in authority:
        raise URLError("ambiguous authority: contains a backslash")
    bad = next((c for c in authority if c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise URLError(f"authority contains whitespace or a control character: {bad!r}")
    if authority.count("@") > 1:
        raise URLError("ambiguous authority: more than one '@'")
    hostport = authority.rpartition("@")[2]
    host, port_text = _split_host_port(hostport)
    if not host:
        raise URLError("no host")
    # httpx and urllib keep "%2e" literally, WHATWG parsers and curl decode it.
    if "%" in host and not host.startswith("["):
        raise URLError(f"ambiguous host {host!r}: percent-encoded")
    if port_text:
        if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            raise URLError("port must be a number from 1 to 65535")  # never echoed: it may be part of a password
        port = int(port_text)
    else:
        port = _DEFAULT_PORTS[scheme]
    path = _QUERY_OR_FRAGMENT.split(tail, maxsplit=1)[0]
    return ParsedURL(scheme=scheme, host=canonical_host(host), port=port, path=path)

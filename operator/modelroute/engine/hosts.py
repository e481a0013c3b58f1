"""Whose host a URL names: the families of hosts that serve OpenAI models (Azure's, OpenAI's, AWS's)
and the URLs in free text. URLs are read by `modelroute.urls`, never by substring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from modelroute.api.v1alpha1 import AzureCloud
from modelroute.memo import memo
from modelroute.urls import ParsedURL, URLError, canonical_host, parse_url, whatwg_host

# The URL reader's names are part of this module's surface: detection and its tests judge hosts here.
__all__ = [
    "AzureCloud",
    "HostClass",
    "HostFamily",
    "ParsedURL",
    "URLError",
    "canonical_host",
    "classify_host",
    "find_urls",
    "parse_url",
    "whatwg_host",
]


class HostFamily(StrEnum):
    AZURE_OPENAI = "AzureOpenAI"
    AZURE_COGNITIVE_SERVICES = "CognitiveServices"
    AZURE_AI_FOUNDRY = "AIFoundry"
    AZURE_API_MANAGEMENT = "APIManagement"
    OPENAI = "OpenAI"
    AWS_BEDROCK = "AWSBedrock"
    OTHER = "Other"


_AZURE_FAMILIES = frozenset(
    {
        HostFamily.AZURE_OPENAI,
        HostFamily.AZURE_COGNITIVE_SERVICES,
        HostFamily.AZURE_AI_FOUNDRY,
        HostFamily.AZURE_API_MANAGEMENT,
    }
)
_OPENAI_MODEL_FAMILIES = frozenset(
    {
        HostFamily.AZURE_OPENAI,
        HostFamily.AZURE_COGNITIVE_SERVICES,
        HostFamily.AZURE_AI_FOUNDRY,
        HostFamily.OPENAI,
    }
)


@dataclass(frozen=True, slots=True)
class HostClass:
    """What kind of service a host belongs to."""

    family: HostFamily
    cloud: AzureCloud | None

    @property
    def is_azure(self) -> bool:
        return self.family in _AZURE_FAMILIES

    @property
    def is_openai_model_host(self) -> bool:
        """Whether the host serves OpenAI models directly (API Management only fronts them)."""
        return self.family in _OPENAI_MODEL_FAMILIES


# Label suffixes, each matched on a label boundary with at least one label in front.
_SUFFIXES: tuple[tuple[tuple[str, ...], HostFamily, AzureCloud], ...] = (
    (("openai", "azure", "com"), HostFamily.AZURE_OPENAI, AzureCloud.PUBLIC),
    (("openai", "azure", "us"), HostFamily.AZURE_OPENAI, AzureCloud.US_GOVERNMENT),
    (("openai", "azure", "cn"), HostFamily.AZURE_OPENAI, AzureCloud.CHINA),
    (("cognitiveservices", "azure", "com"), HostFamily.AZURE_COGNITIVE_SERVICES, AzureCloud.PUBLIC),
    (("cognitiveservices", "azure", "us"), HostFamily.AZURE_COGNITIVE_SERVICES, AzureCloud.US_GOVERNMENT),
    (("cognitiveservices", "azure", "cn"), HostFamily.AZURE_COGNITIVE_SERVICES, AzureCloud.CHINA),
    (("api", "cognitive", "microsoft", "com"), HostFamily.AZURE_COGNITIVE_SERVICES, AzureCloud.PUBLIC),
    (("services", "ai", "azure", "com"), HostFamily.AZURE_AI_FOUNDRY, AzureCloud.PUBLIC),
    (("services", "ai", "azure", "us"), HostFamily.AZURE_AI_FOUNDRY, AzureCloud.US_GOVERNMENT),
    (("azure-api", "net"), HostFamily.AZURE_API_MANAGEMENT, AzureCloud.PUBLIC),
    (("azure-api", "us"), HostFamily.AZURE_API_MANAGEMENT, AzureCloud.US_GOVERNMENT),
    (("azure-api", "cn"), HostFamily.AZURE_API_MANAGEMENT, AzureCloud.CHINA),
)
_OPENAI_SUFFIX = ("openai", "com")
_AWS_SUFFIX = ("amazonaws", "com")
# Where a URL starts in free text: every form a WHATWG parser reads as a special-scheme URL with a
# host ("https:host", "https:/host", "https:\\\\host", "wss://host"), not only "https://".
_URL_START = re.compile(r"(?:https?|wss?):[/\\\\]*", re.IGNORECASE)
_URL_BODY = re.compile(r"[^\s<>\"'`]*")
_QUOTES = frozenset("\"'`")
_AUTHORITY_END = frozenset("/?#")


@memo(8192)
def classify_host(host: str) -> HostClass:
    """Family (and Azure cloud) of a host, matched on whole labels; raises URLError for invalid hosts."""
    labels = tuple(canonical_host(host).split("."))
    for suffix, family, cloud in _SUFFIXES:
        if len(labels) > len(suffix) and labels[-len(suffix) :] == suffix:
            return HostClass(family, cloud)
    if labels[-len(_OPENAI_SUFFIX) :] == _OPENAI_SUFFIX:
        return HostClass(HostFamily.OPENAI, None)
    if len(labels) > len(_AWS_SUFFIX) and labels[-2:] == _AWS_SUFFIX and labels[0].startswith("bedrock"):
        return HostClass(HostFamily.AWS_BEDROCK, None)
    return HostClass(HostFamily.OTHER, None)


def _host_or_none(url: str) -> str | None:
    try:
        return parse_url(url).host
    except URLError:
        return None


def _spliced(text: str, start: int) -> str:
    """The word from start as a shell would join it, quotes removed."""
    out: list[str] = []
    index = start
    while index < len(text):
        char = text[index]
        if char.isspace() or char in "<>":
            break
        if char == "\\" and index + 1 < len(text) and text[index + 1] in _QUOTES:
            index += 2
            continue
        if char not in _QUOTES:
            out.append(char)
        index += 1
    return "".join(out)


def find_urls(text: str) -> list[str]:
    """http(s) URLs in free text, in order.

    A URL ends at whitespace, a quote, '<' or '>'. When a quote cuts the authority short and the
    word goes on (`"https://contoso.openai.azure.com".evil.com` in a shell command), the word with
    its quotes removed is returned as well, right after the cut URL, if it names another host.
    """
    found: list[str] = []
    position = 0
    while (start := _URL_START.search(text, position)) is not None:
        body = _URL_BODY.match(text, start.end())
        end = body.end() if body is not None else start.end()
        url = text[start.start() : end]
        position = end
        quoted = end < len(text) and text[end] in _QUOTES
        # A JSON-escaped closing quote leaves its backslash behind.
        if quoted and url.endswith("\\"):
            url = url[:-1]
        found.append(url)
        authority_open = not any(c in _AUTHORITY_END for c in url[start.end() - start.start() :])
        if not (quoted and authority_open):
            continue
        joined = _spliced(text, start.start())
        joined_host = _host_or_none(joined) if joined != url else None
        if joined_host is not None and joined_host != _host_or_none(url):
            found.append(joined)
    return found

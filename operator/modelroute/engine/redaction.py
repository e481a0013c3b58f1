"""What of a URL may leave ModelRoute: scheme://host[:port] and a redacted path.

API keys and instance secrets end up in URLs in every position: user information, query,
fragment, and path segments (literally, or expanded from `$(OPENAI_API_KEY)`). Every sink (Events,
PolicyReports, statuses, logs, metrics, CLI output, violation messages) shows a URL only through
this module: the origin, and a path whose segments are kept only when they are words of the
OpenAI and Azure OpenAI REST APIs; every other segment becomes REDACTED_SEGMENT.
"""

from __future__ import annotations

import re
from typing import Any

from modelroute.engine import hosts
from modelroute.engine.clients import CREDENTIALS
from modelroute.memo import memo

REDACTED_SEGMENT = "<redacted>"
UNPARSABLE_URL = "<unparsable URL>"

#: Path segments of the OpenAI and Azure OpenAI REST APIs: shown as they are.
API_PATH_WORDS = frozenset(
    {
        "openai",
        "deployments",
        "v1",
        "chat",
        "completions",
        "responses",
        "embeddings",
        "models",
        "audio",
        "speech",
        "transcriptions",
        "translations",
        "images",
        "generations",
        "edits",
        "variations",
        "files",
        "batches",
        "uploads",
        "assistants",
        "threads",
        "messages",
        "runs",
        "vector_stores",
        "fine_tuning",
        "jobs",
        "moderations",
        "realtime",
        "extensions",
        "api",
    }
)
_API_VERSION = re.compile(r"v\d{1,2}(\.\d{1,2})?|\d{4}-\d{2}-\d{2}(-preview)?")


def _segment(segment: str) -> str:
    if not segment or segment.lower() in API_PATH_WORDS or _API_VERSION.fullmatch(segment):
        return segment
    return REDACTED_SEGMENT


@memo(4096)
def redact_path(path: str) -> str:
    return "/".join(_segment(segment) for segment in path.split("/"))


def redact_url(url: hosts.ParsedURL | None) -> str:
    """A parsed URL as every message and log shows it."""
    if url is None:
        return "(none)"
    return url.origin + redact_path(url.path)


def redact_url_text(text: str) -> str:
    """A URL given as text: redacted when it parses, otherwise only its scheme is shown."""
    try:
        return redact_url(hosts.parse_url(text))
    except hosts.URLError:
        scheme = text.strip().partition("://")[0].lower()
        return f"{scheme}://{UNPARSABLE_URL}" if scheme in ("http", "https") else UNPARSABLE_URL


# A URL in free text runs to whitespace, a quote or an angle bracket (what hosts.find_urls reads).
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`]*", re.IGNORECASE)
_PROSE_TAIL = ").,;:"


@memo(8192)  # messages repeat across pods
def redact_text(text: str) -> str:
    """Free text (an Event or a report message) with every http(s) URL in it redacted; idempotent."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    # A closing parenthesis or sentence punctuation right after a URL belongs to the prose around it:
    # kept as it is, so "(... would call https://host/v1)" keeps its ")" and its last path segment.
    url = match.group(0)
    core = url.rstrip(_PROSE_TAIL)
    return redact_url_text(core) + url[len(core) :]


def redact_values(value: Any) -> Any:
    """JSON data (a patch, a manifest excerpt) for display: URLs redacted in every string, and the
    values of env entries that name a credential replaced."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact_values(item) for item in value]
    if isinstance(value, dict):
        if value.get("name") in CREDENTIALS and isinstance(value.get("value"), str):
            return {**{k: redact_values(v) for k, v in value.items()}, "value": REDACTED_SEGMENT}
        return {k: redact_values(v) for k, v in value.items()}
    return value

"""Connection strings and settings as Aspire's OpenAI clients (`Aspire.OpenAI`, `Aspire.Azure.AI.OpenAI`) read
them: where such a client sends its requests, and what the Aspire profile writes.

They read `ConnectionStrings:<name>` (engine.connection_strings) first: `Endpoint` (only when it is an
absolute URI: otherwise it is ignored and the client keeps its default), `Key`, `Deployment` or `Model`,
and `IsAzure`; then `Aspire:OpenAI[:<name>]:Endpoint` (`Aspire:Azure:AI:OpenAI...` for the Azure client).
With no `Endpoint` anywhere, `OpenAIClient` calls `https://api.openai.com/v1` (openai-dotnet's
`OpenAIClientOptions`). Many connection strings are not OpenAI ones (databases, Service Bus, Storage, AI
Search, Qdrant...), and the client a name belongs to is chosen in code: `openai_connection` says which are
judged.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from modelroute.engine import hosts
from modelroute.engine.clients import ASPIRE_OPENAI_ENDPOINT, ASPIRE_OPENAI_KEY, RouteValues, canonical_name
from modelroute.engine.connection_strings import ConnectionString, ConnectionStringError, connection_name, parse
from modelroute.engine.environment import EnvSetting, Source
from modelroute.engine.verdict import Code

ENDPOINT = "Endpoint"
KEY = "Key"
DEPLOYMENT = "Deployment"
MODEL = "Model"
IS_AZURE = "IsAzure"
#: The keys of the connection strings Aspire's OpenAI hosting writes and its clients read.
OPENAI_KEYS = frozenset(k.lower() for k in (ENDPOINT, KEY, DEPLOYMENT, MODEL, IS_AZURE))
_OPENAI_ONLY_KEYS = frozenset({DEPLOYMENT.lower(), IS_AZURE.lower()})


@dataclass(frozen=True, slots=True)
class OpenAIConnection:
    """A connection string an Aspire OpenAI client would read: where it sends requests."""

    name: str
    parsed: ConnectionString
    endpoint: str | None  # the Endpoint as written; None: the client's default
    url: hosts.ParsedURL | None  # the Endpoint parsed; None when absent or unusable
    error: str | None  # why the Endpoint is not usable
    deployment: str | None

    @property
    def is_azure(self) -> bool | None:
        """What `IsAzure` says (Aspire's AddOpenAIClientFromConfiguration), None when it is not set."""
        value = self.parsed.get(IS_AZURE)
        return None if value is None else value.strip().lower() == "true"


def openai_connection(name: str, parsed: ConnectionString) -> OpenAIConnection | None:
    """The connection string as an Aspire OpenAI client reads it, or None when it is not an OpenAI one.

    It is one when it has an `Endpoint` or a `Key` and any of: the Endpoint's host is an OpenAI or
    Azure OpenAI host; the connection name mentions OpenAI; every key is one Aspire's OpenAI clients read
    and it has `Deployment` or `IsAzure`, or a `Key` and no `Endpoint` (the form `Key=...`, whose client
    calls api.openai.com). Service Bus, Storage, database, AI Search or Qdrant strings are none of these."""
    keys = parsed.keys
    endpoint = parsed.get(ENDPOINT)
    if endpoint is None and KEY.lower() not in keys:
        return None
    url, error = _endpoint_url(endpoint)
    model_host = url is not None and hosts.classify_host(url.host).is_openai_model_host
    openai_form = keys <= OPENAI_KEYS and (bool(keys & _OPENAI_ONLY_KEYS) or endpoint is None)
    if not (model_host or "OPENAI" in canonical_name(name) or openai_form):
        return None
    deployment = parsed.get(DEPLOYMENT) or parsed.get(MODEL)
    return OpenAIConnection(name, parsed, endpoint, url, error, deployment)


def _endpoint_url(endpoint: str | None) -> tuple[hosts.ParsedURL | None, str | None]:
    if endpoint is None:
        return None, None
    try:
        return hosts.parse_url(endpoint.strip()), None
    except hosts.URLError as error:
        return None, str(error)


def aspire_key_without_endpoint(settings: Mapping[str, EnvSetting]) -> EnvSetting | None:
    """An `Aspire:OpenAI[:<name>]:Key` setting where nothing can give Aspire's OpenAIClient an Endpoint (no
    Aspire endpoint setting, no connection string with one, or that may hold one): it then calls
    api.openai.com. (Aspire's Azure client refuses to start without an Endpoint.)"""
    key = None
    for name, setting in settings.items():
        role = _aspire_role(name)
        if role is _Role.NONE:
            continue
        if role is _Role.ENDPOINT or (role is _Role.CONNECTION and _may_give_endpoint(setting)):
            return None
        if role is _Role.KEY and key is None:
            key = setting
    return key


def is_aspire_setting(variable: str) -> bool:
    """Whether Aspire's OpenAI clients read the variable: a connection string, an endpoint or a key setting."""
    return _aspire_role(variable) is not _Role.NONE


class _Role(Enum):
    NONE = 0
    KEY = 1
    ENDPOINT = 2
    CONNECTION = 3


@functools.lru_cache(maxsize=8192)
def _aspire_role(name: str) -> _Role:
    """What a variable is to Aspire's OpenAI client; cached, as every container's every variable is asked."""
    if connection_name(name) is not None:
        return _Role.CONNECTION
    if is_aspire_endpoint(name):
        return _Role.ENDPOINT
    segments = [part.lower() for part in name.replace(":", "__").split("__")]
    if segments[:2] == ["aspire", "openai"] and segments[-1] == "key" and len(segments) in (3, 4):
        return _Role.KEY
    return _Role.NONE


def _may_give_endpoint(setting: EnvSetting) -> bool:
    if setting.value is None:
        return "OPENAI" in canonical_name(setting.name)  # a Secret: an OpenAI one is reported as not visible
    if _bare_url(setting.value) is not None:
        return True
    try:
        return parse(setting.value).get(ENDPOINT) is not None
    except ConnectionStringError:
        return False


def is_aspire_endpoint(variable: str) -> bool:
    """Whether a variable is an endpoint setting of Aspire's OpenAI clients (`Aspire:OpenAI[:<name>]:Endpoint`,
    `...:ClientOptions:Endpoint`, and the `Aspire:Azure:AI:OpenAI` twins), which a connection string with
    no Endpoint leaves in force."""
    canonical = canonical_name(variable).replace(":", "")
    return canonical.startswith(("ASPIREOPENAI", "ASPIREAZUREAIOPENAI")) and canonical.endswith("ENDPOINT")


@dataclass(frozen=True, slots=True)
class ConnectionFinding:
    """What a connection-string variable tells the engine, as plain data for engine.detection."""

    setting: str = ""  # what names the route, for messages: "ConnectionStrings__openai Endpoint"
    url: hosts.ParsedURL | None = None  # the Endpoint, when usable
    deployment: str | None = None
    defaulted: bool = False  # a Key and no Endpoint: the client's default, api.openai.com
    problems: tuple[tuple[Code, str], ...] = ()
    scan: tuple[str, ...] = ()  # values to scan for model URLs, as any other env value
    warning: str | None = None


def inspect_connection_string(setting: EnvSetting) -> ConnectionFinding:
    """Judge one `ConnectionStrings__<name>` variable. No value ever reaches a message."""
    name = connection_name(setting.name) or setting.name
    variable = setting.in_file or setting.name  # a file's key says where it is: "ConnectionStrings:x in /app/..."
    named_openai = "OPENAI" in canonical_name(name)
    if setting.source is Source.UNRESOLVED:
        if not named_openai:
            return ConnectionFinding()
        problem = (
            Code.UNRESOLVED_REFERENCE,
            f"{variable} cannot be resolved: {setting.detail}; it is the "
            "connection string of an OpenAI client, so ModelRoute cannot tell where it points",
        )
        return ConnectionFinding(setting=variable, problems=(problem,))
    if setting.value is None:
        if not named_openai:
            return ConnectionFinding()  # a database password in a Secret is no one's business here
        return ConnectionFinding(
            setting=variable, problems=((Code.ENDPOINT_NOT_VISIBLE, _unseen(variable, setting.detail)),)
        )
    bare = _bare_url(setting.value)
    if bare is not None:
        # Aspire.Azure.AI.OpenAI takes a connection string that is an absolute URI as its Endpoint
        if named_openai or hosts.classify_host(bare.host).is_openai_model_host:
            return ConnectionFinding(setting=variable, url=bare)
        return ConnectionFinding()
    try:
        parsed = parse(setting.value)
    except ConnectionStringError as error:
        problems: tuple[tuple[Code, str], ...] = ()
        if named_openai and setting.hidden_refs:
            problems = ((Code.ENDPOINT_NOT_VISIBLE, _unseen(variable, f"$({', '.join(setting.hidden_refs)})")),)
        elif named_openai and setting.value.strip():
            problems = (
                (
                    Code.MALFORMED_ENDPOINT_URL,
                    f"{variable} is not a connection string .NET can parse "
                    f"({error}); the client refuses to start or uses another endpoint setting",
                ),
            )
        return ConnectionFinding(setting=variable, problems=problems, scan=(setting.value,))
    found = openai_connection(name, parsed)
    if found is None:
        return ConnectionFinding(scan=tuple(value for _, value in parsed.pairs if ":" in value))
    subject = f"{variable} {ENDPOINT}"
    hidden = [ref for ref in setting.hidden_refs if f"$({ref})" in (found.endpoint or "")]
    if hidden:
        return ConnectionFinding(
            setting=subject,
            problems=((Code.ENDPOINT_NOT_VISIBLE, _unseen(subject, f"$({', '.join(hidden)})")),),
        )
    warning = None
    key = parsed.get(KEY)
    if setting.source is Source.LITERAL and key and not any(f"$({ref})" in key for ref in setting.hidden_refs):
        warning = (
            f"{variable} holds a literal Key in the manifest; keep API keys in a Secret (e.g. "
            f"{ASPIRE_OPENAI_KEY} from a secretKeyRef) and the Endpoint in the connection string"
        )
    if found.endpoint is None:
        return ConnectionFinding(
            setting=f"{variable} with a {KEY} and no {ENDPOINT}",
            defaulted=True,
            deployment=found.deployment,
            warning=warning,
        )
    if found.url is None:
        problem = (
            Code.MALFORMED_ENDPOINT_URL,
            f"{subject} is not a usable URL ({found.error}); Aspire ignores an "
            "Endpoint that is not an absolute URI, and its OpenAI client then calls https://api.openai.com/v1",
        )
        return ConnectionFinding(setting=subject, problems=(problem,), warning=warning)
    return ConnectionFinding(setting=subject, url=found.url, deployment=found.deployment, warning=warning)


def _bare_url(value: str) -> hosts.ParsedURL | None:
    if "=" in value or "://" not in value:
        return None
    try:
        return hosts.parse_url(value.strip())
    except hosts.URLError:
        return None


def _unseen(subject: str, source: str) -> str:
    return (
        f"{subject} depends on {source}, whose value ModelRoute cannot see; it is the connection string of an "
        f"OpenAI client, and its Endpoint decides where requests go. Keep only the key secret ({ASPIRE_OPENAI_KEY} "
        f"from a secretKeyRef) and set the endpoint as a plain value or from a ConfigMap: the connection string "
        f"without a Key, or {ASPIRE_OPENAI_ENDPOINT} with no Endpoint in the connection string"
    )


@dataclass(frozen=True, slots=True)
class WrittenConnection:
    """What the Aspire profile writes for one connection-string variable."""

    value: str | None = None  # the connection string to write; None: leave it as it is
    rewritten: bool = False  # it named another route (written only when the policy says rewrite)
    warning: str | None = None


def _openai_of(variable: str, value: str) -> tuple[ConnectionString | None, OpenAIConnection | None]:
    name = connection_name(variable)
    if name is None:
        return None, None
    try:
        parsed = parse(value)
    except ConnectionStringError:
        return None, None
    return parsed, openai_connection(name, parsed)


def routes_to(value: str, variable: str, host_port: str) -> bool:
    """Whether a connection-string variable is an OpenAI one whose Endpoint is the route `host_port`."""
    bare = _bare_url(value)
    if bare is not None:
        return bare.host_port == host_port
    _, found = _openai_of(variable, value)
    return found is not None and found.url is not None and found.url.host_port == host_port


def routed_connection_string(
    setting: EnvSetting, host_port: str, route: RouteValues, rewrite: bool
) -> WrittenConnection:
    """The connection string with the approved Endpoint, where ModelRoute can write it: a visible OpenAI
    connection string with no Endpoint gets one; one with another Endpoint gets the approved one only under
    `rewrite`. The rest is kept. The client it was written for stays the same: the Azure client (IsAzure=true,
    or an Endpoint on an `.azure.` host, as Aspire's AddOpenAIClientFromConfiguration decides) gets the
    resource root, the OpenAI client the v1 URL (and IsAzure=false when that URL is on an Azure host)."""
    name = connection_name(setting.name)
    if name is None or setting.source is Source.UNRESOLVED:
        return WrittenConnection()
    if setting.value is None or (setting.hidden_refs and _hides_endpoint(setting)):
        named_openai = "OPENAI" in canonical_name(name)
        if named_openai or (setting.value is not None and _openai_of(setting.name, setting.value)[1] is not None):
            return WrittenConnection(warning=_cannot_write(setting))
        return WrittenConnection()
    bare = _bare_url(setting.value)
    if bare is not None:
        if bare.host_port == host_port or not rewrite or not _is_openai_bare(name, bare):
            return WrittenConnection()
        return WrittenConnection(route.azure_endpoint, rewritten=True)
    parsed, found = _openai_of(setting.name, setting.value)
    if parsed is None or found is None:
        return WrittenConnection()
    if found.url is not None and found.url.host_port == host_port:
        return WrittenConnection()
    if found.endpoint is not None and not rewrite:
        return WrittenConnection()
    azure = found.is_azure
    if azure is None:
        azure = found.url is not None and ".azure." in found.url.host
    if azure:
        written = parsed.with_value(ENDPOINT, route.azure_endpoint)
    else:
        written = parsed.with_value(ENDPOINT, route.openai_base_url)
        if found.is_azure is None and ".azure." in hosts.parse_url(route.openai_base_url).host:
            written = written.with_value(IS_AZURE, "false")
    return WrittenConnection(str(written), rewritten=found.endpoint is not None)


def _is_openai_bare(name: str, url: hosts.ParsedURL) -> bool:
    return "OPENAI" in canonical_name(name) or hosts.classify_host(url.host).is_openai_model_host


def _hides_endpoint(setting: EnvSetting) -> bool:
    """Whether a $(VAR) ModelRoute cannot see may decide the Endpoint (not just hold the Key)."""
    assert setting.value is not None
    try:
        endpoint = parse(setting.value).get(ENDPOINT)
    except ConnectionStringError:
        return True
    return endpoint is not None and any(f"$({ref})" in endpoint for ref in setting.hidden_refs)


def _cannot_write(setting: EnvSetting) -> str:
    return (
        f"ModelRoute cannot write the Endpoint of {setting.name}, which depends on {setting.detail or 'a value'} "
        "it cannot see; the pod is judged as it is. Set the endpoint outside the Secret: "
        f"{ASPIRE_OPENAI_ENDPOINT} (which the profile writes) applies when the connection string has no Endpoint, "
        f"so keep only the key secret ({ASPIRE_OPENAI_KEY} from a secretKeyRef, or a connection string from a "
        "ConfigMap with the Key as $(VAR))"
    )

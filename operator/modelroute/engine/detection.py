"""Which containers are configured for OpenAI traffic, and where that traffic would go.

Per container (init, app and ephemeral alike), after Kubernetes' own env resolution, the engine
finds every *target*: a host the container's OpenAI clients would call, with the setting that
names it, plus the *problems* that stop it from knowing (hidden or unresolvable values).

Settings are read wherever a client reads them: environment variables, JVM system properties
(`-Dname=value` in JAVA_TOOL_OPTIONS and the like, or on a command line), Spring Boot properties
(relaxed-bound environment variables, SPRING_APPLICATION_JSON, `--spring.*=` arguments); and every
command the container runs is scanned: command and args, lifecycle hooks, exec probes.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from modelroute.engine import hosts
from modelroute.engine.aspire import (
    aspire_key_without_endpoint,
    inspect_connection_string,
    is_aspire_endpoint,
    is_aspire_setting,
)
from modelroute.engine.clientconfig import ClientDestination
from modelroute.engine.clients import (
    API_TYPE_VARIABLE,
    BEDROCK_API_TYPES,
    BEDROCK_CREDENTIALS,
    CREDENTIAL_NAMES,
    DEFAULT_ROUTES,
    OPENAI_CREDENTIALS,
    OPENAI_DEFAULT_BASE_URL,
    PROPERTY_CARRIERS,
    PROVIDER_SELECTORS,
    SPRING_JSON_PROPERTY,
    SPRING_JSON_VARIABLE,
    Route,
    canonical_name,
    endpoint_variable,
)
from modelroute.engine.connection_strings import connection_name
from modelroute.engine.environment import ConfigMaps, ContainerEnv, EnvSetting, Source, container_env
from modelroute.engine.mountedconfig import (
    FILE_NAMING_VARIABLES,
    SPRING_LOCATION_PROPERTIES,
    FileScan,
    MountedConfig,
    read_mounted_config,
    remedy,
)
from modelroute.engine.mounts import ContainerFiles, MountedFile, Origin, container_files, volumes_by_name
from modelroute.engine.redaction import redact_url
from modelroute.engine.remedies import Remedy
from modelroute.engine.shellcommands import CODEX_COMMANDS, SHELLS
from modelroute.engine.values import value_object
from modelroute.engine.verdict import Code, Violation
from modelroute.memo import LONGEST_MEMO_KEY

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_DEPLOYMENT_IN_PATH = re.compile(r"/openai/deployments/([^/?#]+)", re.IGNORECASE)
_DEFAULT_URLS = {route.url: hosts.parse_url(route.url) for route in DEFAULT_ROUTES}
# `-Dname=value` (JVM system properties) and `--spring.name=value` (Spring Boot command-line
# properties), as separate arguments or inside a shell script; a value ends at whitespace or a quote.
_PROPERTY_VALUE = r"(\"[^\"]*\"?|'[^']*'?|[^\s\"']*)"
_JVM_PROPERTY = re.compile(r"(?:^|(?<=[\s\"'=]))-D([^\s=\"']+)=" + _PROPERTY_VALUE)
_SPRING_HINT = re.compile(r"--spring\.", re.IGNORECASE)
_SPRING_ARGUMENT = re.compile(r"(?:^|(?<=[\s\"']))--(spring\.[^\s=\"']+)=" + _PROPERTY_VALUE, re.IGNORECASE)
#: Where a container holds commands the kubelet runs inside it, with its env and its key.
_HOOKS = ("postStart", "preStop")
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_PROBE_KEYS = frozenset(_PROBES)


_MODEL_HOST_HINTS = (
    "openai.com",
    "openai.azure.",
    "cognitiveservices.azure.",
    "services.ai.azure.",
    "cognitive.microsoft.com",
    "amazonaws.com",
)


def _reads_as_model_host(candidate: str) -> bool:
    """Whether a WHATWG client, or a loose reading, sees a model host in a URL parse_url refused."""
    host = hosts.whatwg_host(candidate)
    if host is not None:
        try:
            host_class = hosts.classify_host(host)
        except hosts.URLError:
            pass
        else:
            if host_class.is_openai_model_host or host_class.family is hosts.HostFamily.AWS_BEDROCK:
                return True
    return _names_model_host(candidate)


def _names_model_host(candidate: str) -> bool:
    """A loose look at a URL parse_url refused: fine for reporting it, never used to approve anything."""
    from urllib.parse import unquote

    text = unquote(candidate).lower().replace("\\", "/").replace("\u3002", ".").replace("\uff0e", ".")
    return any(hint in text for hint in _MODEL_HOST_HINTS)


class TargetKind(Enum):
    SETTING = "setting"  # an endpoint variable
    EMBEDDED = "embedded"  # a URL inside another env value, the command or the args
    DEFAULT = "default"  # a credential with no endpoint: the SDK default, api.openai.com
    FILE = "file"  # a URL a client takes from a mounted configuration file (LiteLLM, Codex, OAI_CONFIG_LIST)
    BEDROCK = "bedrock"  # an API type that routes to AWS Bedrock, no URL


@value_object
class Target:
    kind: TargetKind
    url: hosts.ParsedURL | None
    setting: str  # what names it, for messages: "OPENAI_BASE_URL", "args[1]"
    field: str  # full field path
    variable: str | None = None  # the endpoint variable, when kind is SETTING
    named_deployment: str | None = None  # a deployment the setting names beside its URL
    remedy: Remedy | None = None  # what to change, when the mutation cannot (a mounted file)

    @property
    def deployment(self) -> str | None:
        if self.named_deployment is not None or self.url is None:
            return self.named_deployment
        match = _DEPLOYMENT_IN_PATH.search(self.url.path)
        return match.group(1) if match else None

    def describe(self) -> str:
        if self.url is None or self.kind is TargetKind.DEFAULT:
            return self.setting
        return f"{self.setting} -> {redacted(self.url)}"


def redacted(url: hosts.ParsedURL | None) -> str:
    """A URL fit for messages and logs (see modelroute.engine.redaction)."""
    return redact_url(url)


@dataclass(slots=True)
class ContainerFindings:
    name: str
    path: str  # "spec.containers[0]"
    is_app: bool
    env: ContainerEnv
    targets: list[Target] = field(default_factory=list)
    problems: list[Violation] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: files from a Secret that a client may load and nothing names: problems only for a pod a
    #: ModelWorkload covers (evaluate) or a container otherwise configured for OpenAI traffic
    doubts: list[Violation] = field(default_factory=list)

    @property
    def configured_for_openai(self) -> bool:
        return bool(self.targets or self.problems or self.signals)


def iter_containers(spec: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(spec.get(list_name) or ()):
            yield list_name, index, container


def container_commands(container: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(field, argv) of every command the container runs: command, args, lifecycle hooks, exec probes."""
    found = [(part, argv) for part in ("command", "args") if (argv := container.get(part))]
    if "lifecycle" in container or not _PROBE_KEYS.isdisjoint(container):
        found.extend(_hook_and_probe_commands(container))
    return found


def _hook_and_probe_commands(container: Mapping[str, Any]) -> Iterator[tuple[str, list[str]]]:
    lifecycle = container.get("lifecycle") or {}
    for hook in _HOOKS:
        command = ((lifecycle.get(hook) or {}).get("exec") or {}).get("command")
        if command:
            yield f"lifecycle.{hook}.exec.command", list(command)
    for probe in _PROBES:
        command = ((container.get(probe) or {}).get("exec") or {}).get("command")
        if command:
            yield f"{probe}.exec.command", list(command)


def _unquoted(value: str) -> str:
    return value.strip("\"'")


def _flatten(prefix: str, node: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(node, Mapping):
        for key, item in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _flatten(f"{prefix}[{index}]", item, out)
    elif node is not None:
        out.append((prefix, str(node)))


def spring_json_properties(text: str) -> list[tuple[str, str]]:
    """Properties of a SPRING_APPLICATION_JSON value, flattened as Spring Boot does (a.b[0].c)."""
    try:
        data = json.loads(text)
    except ValueError:
        return []  # Spring Boot refuses to start with it
    out: list[tuple[str, str]] = []
    _flatten("", data, out)
    return out


def command_line_properties(text: str) -> list[tuple[str, str]]:
    """`-Dname=value` and `--spring.name=value` properties in a command line or a JVM options variable."""
    if "-D" not in text and _SPRING_HINT.search(text) is None:
        return []
    found = [(m.group(1), _unquoted(m.group(2))) for m in _JVM_PROPERTY.finditer(text)]
    found += [(m.group(1), _unquoted(m.group(2))) for m in _SPRING_ARGUMENT.finditer(text)]
    for name, value in list(found):
        if name.lower() == SPRING_JSON_PROPERTY:
            found.extend(spring_json_properties(value))
    return found


def _urls_of_setting(setting: EnvSetting, route: Route) -> list[str]:
    assert setting.value is not None
    value = setting.value.strip()
    if route is Route.URL_LIST:
        return [part.strip() for part in value.split(";") if part.strip()]
    if route is Route.AZURE_INSTANCE:
        return [f"https://{value}.openai.azure.com"]
    return [value]


class _Inspector:
    def __init__(self, findings: ContainerFindings) -> None:
        self.f = findings

    def path(self, relative: str) -> str:
        return f"{self.f.path}.{relative}"

    def problem(self, code: Code, message: str, relative: str, possible: bool = False) -> None:
        where = self.path(relative) if relative else self.f.path
        (self.f.doubts if possible else self.f.problems).append(Violation(code, message, self.f.name, where))

    def endpoint_setting(self, setting: EnvSetting) -> None:
        variable = endpoint_variable(setting.name)
        assert variable is not None
        label = setting.in_file or setting.name
        if setting.source is Source.UNRESOLVED:
            self.problem(
                Code.UNRESOLVED_REFERENCE,
                f"{setting.name} cannot be resolved: {setting.detail}; ModelRoute cannot tell where it points",
                setting.field,
            )
            return
        if setting.value is None or setting.hidden_refs:
            hidden_from = setting.detail if setting.value is None else _references(setting)
            self.problem(
                Code.ENDPOINT_NOT_VISIBLE,
                f"{label} depends on {hidden_from}, whose value ModelRoute cannot see; set the endpoint "
                "as a plain value or from a ConfigMap so its route can be proven",
                setting.field,
            )
            return
        if not setting.value.strip():
            return
        for text in _urls_of_setting(setting, variable.route):
            try:
                url = hosts.parse_url(text)
            except hosts.URLError as error:
                self.problem(
                    Code.MALFORMED_ENDPOINT_URL,
                    f"{label} is not a usable URL ({error})",
                    setting.field,
                )
                continue
            kind = TargetKind.SETTING
            target = Target(kind, url, label, self.path(setting.field), setting.name, remedy=setting.remedy)
            self.f.targets.append(target)

    def connection_string(self, setting: EnvSetting) -> list[Target]:
        """A .NET connection string (engine.aspire): its Endpoint is a target; one with a Key and
        no Endpoint is returned, to be judged as the default once every setting is known."""
        found = inspect_connection_string(setting)
        for code, message in found.problems:
            self.problem(code, message, setting.field)
        for text in found.scan:
            self.embedded_urls(text, f"env {setting.name}", setting.field)
        if found.warning:
            self.f.warnings.append(f"container {self.f.name}: {found.warning}")
        where = self.path(setting.field)
        remedy = setting.remedy
        if found.url is not None:
            self.f.targets.append(
                Target(TargetKind.SETTING, found.url, found.setting, where, None, found.deployment, remedy)
            )
        if not found.defaulted:
            return []
        url = _DEFAULT_URLS[OPENAI_DEFAULT_BASE_URL]
        # the Aspire profile writes the Endpoint into the container's variable, never into a mounted file
        fix = "" if setting.in_file else "; inject.profiles: [Aspire] writes the approved Endpoint into it"
        return [
            Target(
                TargetKind.DEFAULT,
                url,
                f"{found.setting} (so Aspire's OpenAI client would call {url.origin}/v1{fix})",
                where,
                remedy=remedy,
            )
        ]

    def unseen_carrier(self, setting: EnvSetting) -> None:
        """A provider selector or a properties carrier whose value ModelRoute cannot see."""
        if setting.source is Source.UNRESOLVED:
            self.problem(
                Code.UNRESOLVED_REFERENCE,
                f"{setting.name} cannot be resolved: {setting.detail}; it chooses where OpenAI traffic goes",
                setting.field,
            )
        elif setting.value is None or setting.hidden_refs:
            hidden_from = setting.detail if setting.value is None else f"$({', '.join(setting.hidden_refs)})"
            self.problem(
                Code.ENDPOINT_NOT_VISIBLE,
                f"{setting.name} depends on {hidden_from}, whose value ModelRoute cannot see; it chooses the "
                "provider or sets endpoint properties, so set it as a plain value or from a ConfigMap",
                setting.field,
            )

    def embedded_urls(self, text: str, setting: str, relative: str, remedy: Remedy | None = None) -> None:
        if ":" not in text:  # most values hold no URL at all; skip the scan
            return
        if "\\/" in text:
            # JSON may escape a slash as `\/`; every JSON reader decodes it to `/`, so the URL is judged decoded
            text = text.replace("\\/", "/")
        candidates = hosts.find_urls(text)
        if "\t" in text or "\n" in text or "\r" in text:
            # WHATWG parsers drop tabs and newlines anywhere in a URL before reading it
            candidates += [c for c in hosts.find_urls(text.translate(_TAB_NEWLINE)) if c not in candidates]
        # a whole value a WHATWG parser reads as one URL, whatever tabs, newlines or slashes it has
        whole = text.strip()
        if whole not in candidates and hosts.whatwg_host(whole) is not None:
            candidates.append(whole)
        for candidate in candidates:
            try:
                url = hosts.parse_url(candidate)
            except hosts.URLError as error:
                # clients disagree on such URLs, and some follow them to the host they seem to name
                if _reads_as_model_host(candidate):
                    self.problem(
                        Code.MALFORMED_ENDPOINT_URL,
                        f"{setting} holds a URL naming an OpenAI host in a form HTTP clients read "
                        f"differently ({error})",
                        relative,
                    )
                continue
            host_class = hosts.classify_host(url.host)
            if host_class.is_openai_model_host or host_class.family is hosts.HostFamily.AWS_BEDROCK:
                self.f.targets.append(Target(TargetKind.EMBEDDED, url, setting, self.path(relative), remedy=remedy))


def _property_settings(holder: EnvSetting, pairs: list[tuple[str, str]], how: str) -> list[EnvSetting]:
    return [
        EnvSetting(
            name,
            value,
            holder.source,
            holder.field,
            f"{how.format(name=name)} ({holder.detail})",
            holder.hidden_refs,
            holder.volatile,
        )
        for name, value in pairs
    ]


def carried_properties(setting: EnvSetting) -> list[EnvSetting]:
    """The properties a JVM options variable or SPRING_APPLICATION_JSON sets."""
    if setting.value is None:
        return []
    if setting.name == SPRING_JSON_VARIABLE:
        pairs = spring_json_properties(setting.value)
        return _property_settings(setting, pairs, f"{{name}} in {setting.name}")
    return _property_settings(setting, command_line_properties(setting.value), f"-D{{name}} in {setting.name}")


_OTHER, _ENDPOINT, _CREDENTIAL, _CARRIER, _CONNECTION, _ASPIRE = 0, 1, 2, 4, 8, 16


_KINDS: dict[str, int] = {}
_MAX_KINDS = 8192


def _name_kind(name: str) -> int:
    """What a setting name is to the engine: an endpoint, a key or neither; and whether it is a
    provider selector or carries properties. One dict look-up per name keeps detection cheap."""
    kind = _KINDS.get(name)
    if kind is None:
        kind = _classify_name(name)
        if len(name) <= LONGEST_MEMO_KEY:  # a name of any length is classified, only short ones are kept
            if len(_KINDS) >= _MAX_KINDS:
                _KINDS.clear()
            _KINDS[name] = kind
    return kind


def _classify_name(name: str) -> int:
    if connection_name(name) is not None:
        return _CONNECTION | _ASPIRE
    if endpoint_variable(name) is not None:
        kind = _ENDPOINT
    elif canonical_name(name) in CREDENTIAL_NAMES:
        kind = _CREDENTIAL
    else:
        kind = _OTHER
    if name in PROVIDER_SELECTORS or name in PROPERTY_CARRIERS:
        kind |= _CARRIER
    if is_aspire_setting(name):
        kind |= _ASPIRE
    return kind


class _Settings:
    """Every setting a client may read (env and properties), by exact or by relaxed (canonical) name."""

    def __init__(self, env: dict[str, EnvSetting]) -> None:
        self.env = env
        self.properties: dict[str, EnvSetting] = {}
        self.has_credential = False
        self.aspire = False  # a setting Aspire's OpenAI clients read
        self._relaxed: dict[str, EnvSetting] | None = None

    def _table(self, relaxed: bool) -> Mapping[str, EnvSetting]:
        if not relaxed:
            return {**self.properties, **self.env} if self.properties else self.env
        if self._relaxed is None:
            self._relaxed = {}
            for setting in (*self.env.values(), *self.properties.values()):
                self._relaxed.setdefault(canonical_name(setting.name), setting)
        return self._relaxed

    def has_value(self, names: frozenset[str], relaxed: bool) -> bool:
        table = self._table(relaxed)
        for name in names:
            found = table.get(name)
            if found is not None and (found.value is None or found.value.strip()):
                return True
        return False

    def invalidate(self) -> None:
        self._relaxed = None

    def first(self, names: tuple[str, ...], relaxed: bool) -> EnvSetting | None:
        table = self._table(relaxed)
        return next((table[name] for name in names if name in table), None)


def inspect_container(
    container: Mapping[str, Any],
    field_path: str,
    is_app: bool,
    namespace: str,
    config_maps: ConfigMaps,
    volumes: Mapping[str, Mapping[str, Any]] | None = None,
) -> ContainerFindings:
    env = container_env(container, namespace, config_maps)
    findings = ContainerFindings(str(container.get("name", "")), field_path, is_app, env)
    inspector = _Inspector(findings)
    settings = env.settings
    seen = _Settings(settings)
    defaulted: list[Target] = []

    def judge_setting(setting: EnvSetting, kind: int) -> None:
        if kind & _ASPIRE:
            seen.aspire = True
        if kind & _ENDPOINT:
            inspector.endpoint_setting(setting)
        elif kind & _CONNECTION:
            defaulted.extend(inspector.connection_string(setting))
        elif kind & _CREDENTIAL:
            seen.has_credential = True
            if setting.name not in OPENAI_CREDENTIALS:
                findings.signals.append(f"{setting.name} is set")
            if setting.source is Source.LITERAL and setting.value:
                findings.warnings.append(
                    f"container {findings.name}: {setting.name} is a literal value in the manifest; "
                    "keep API keys in a Secret (spec.inject.credentialsSecretRef)"
                )
        elif setting.value:
            label = setting.in_file or f"env {setting.name}"
            inspector.embedded_urls(setting.value, label, setting.field, setting.remedy)

    def judge_property(setting: EnvSetting) -> None:
        seen.properties.setdefault(setting.name, setting)
        judge_setting(setting, _name_kind(setting.name))

    for name, setting in settings.items():
        kind = _KINDS.get(name)
        if kind is None:
            kind = _name_kind(name)
        if kind == _OTHER:  # most settings: only a URL inside could matter
            if setting.value and ":" in setting.value:
                inspector.embedded_urls(setting.value, f"env {name}", setting.field)
            continue
        judge_setting(setting, kind)
        if kind & _CARRIER:
            inspector.unseen_carrier(setting)
            if name in PROPERTY_CARRIERS:
                for prop in carried_properties(setting):
                    judge_property(prop)

    api_type_setting = settings.get(API_TYPE_VARIABLE)
    api_type = (api_type_setting.value or "").strip().lower() if api_type_setting is not None else ""
    if api_type in BEDROCK_API_TYPES:
        field_of = settings[API_TYPE_VARIABLE].field
        findings.targets.append(
            Target(TargetKind.BEDROCK, None, f"{API_TYPE_VARIABLE}={api_type}", inspector.path(field_of))
        )
    if any(name in settings for name in BEDROCK_CREDENTIALS):
        findings.signals.append("AWS Bedrock credentials are set")

    commands = container_commands(container)
    for part, argv in commands:
        for index, arg in enumerate(argv):
            if ":" not in arg and "$" not in arg and "-D" not in arg and "--s" not in arg and "--S" not in arg:
                continue  # no URL, no $(VAR), no -D or --spring. property: nothing to judge
            where = f"{part}[{index}]"
            expanded, hidden = env.expand_fully(str(arg))
            inspector.embedded_urls(expanded, where, where)
            pairs = command_line_properties(expanded)
            if pairs:
                holder = EnvSetting(where, expanded, Source.LITERAL, where, "the command line", hidden)
                for prop in _property_settings(holder, pairs, "{name} on the command line"):
                    judge_property(prop)

    named = _names_config_files(settings, commands)
    if named or container.get("volumeMounts"):
        files = container_files(container, volumes or {}, env, namespace, config_maps)
        found = read_files(container, files, env, commands, seen, inspector, named)
        for setting in found:
            judge_property(setting)
        seen.invalidate()

    # a connection string with a Key and no Endpoint: Aspire's client takes its own Endpoint setting, or OpenAI
    if defaulted and any(is_aspire_endpoint(name) for name in settings):
        findings.signals.extend(f"{t.setting} is set" for t in defaulted)
    else:
        findings.targets.extend(defaulted)
    # env and the settings files alike (appsettings.json), the env winning
    if seen.aspire and (aspire_key := aspire_key_without_endpoint(seen._table(False))) is not None:
        url = _DEFAULT_URLS[OPENAI_DEFAULT_BASE_URL]
        what = (
            f"{aspire_key.in_file or aspire_key.name} with no Aspire Endpoint (so Aspire's OpenAI client would "
            f"call {url.origin}/v1)"
        )
        findings.targets.append(
            Target(TargetKind.DEFAULT, url, what, inspector.path(aspire_key.field), remedy=aspire_key.remedy)
        )
    # a key whose client has no base URL setting goes to that client's default: OpenAI itself
    for route in DEFAULT_ROUTES if seen.has_credential else ():
        relaxed = route.relaxed
        credential = seen.first(route.credentials, relaxed)
        if credential is None:
            continue
        if seen.has_value(route.bases, relaxed):
            findings.signals.append(f"{credential.name} is set")
            continue
        base_names = " or ".join(sorted(route.base_names)) or "endpoint"
        findings.targets.append(
            Target(
                TargetKind.DEFAULT,
                _DEFAULT_URLS[route.url],
                f"{credential.in_file or credential.name} with no {base_names} (so {route.client} would call "
                f"{route.url})",
                inspector.path(credential.field),
                remedy=credential.remedy.without_base_url() if credential.remedy else None,
            )
        )

    for source in env.opaque:
        if source.unresolved:
            when = "resolves to nothing now but is loaded if it appears" if source.optional else "cannot be resolved"
            inspector.problem(
                Code.UNRESOLVED_REFERENCE,
                f"{source.field} {when}: {source.detail}; it may set endpoint variables",
                source.field,
            )
        else:
            inspector.problem(
                Code.ENDPOINT_NOT_VISIBLE,
                f"{source.field} loads every key of {source.detail}, which ModelRoute never reads; it may set "
                "endpoint or provider settings. Load the keys the container needs with secretKeyRef instead",
                source.field,
            )
    for skipped in env.skipped:
        if _route_relevant(skipped.name):
            inspector.problem(
                Code.UNRESOLVED_REFERENCE,
                f"{skipped.name} is an optional reference that resolves to nothing now ({skipped.detail}); "
                "it takes effect when it appears, unchecked",
                skipped.field,
            )
    if findings.doubts and findings.configured_for_openai:
        findings.problems.extend(findings.doubts)
        findings.doubts.clear()
    return findings


def _route_relevant(name: str) -> bool:
    return (
        endpoint_variable(name) is not None
        or canonical_name(name) in CREDENTIAL_NAMES
        or name in PROVIDER_SELECTORS
        or name in PROPERTY_CARRIERS
    )


def inspect_pod_spec(
    spec: Mapping[str, Any], field_prefix: str, namespace: str, config_maps: ConfigMaps
) -> list[ContainerFindings]:
    volumes = volumes_by_name(spec) if spec.get("volumes") else None
    return [
        _inspect_at(list_name, index, container, field_prefix, namespace, config_maps, volumes)
        for list_name, index, container in iter_containers(spec, field_prefix)
    ]


def _inspect_at(
    list_name: str,
    index: int,
    container: Mapping[str, Any],
    field_prefix: str,
    namespace: str,
    config_maps: ConfigMaps,
    volumes: Mapping[str, Mapping[str, Any]] | None,
) -> ContainerFindings:
    path = f"{field_prefix}.{list_name}[{index}]"
    return inspect_container(container, path, list_name == "containers", namespace, config_maps, volumes)


def reinspect_pod_spec(
    spec: Mapping[str, Any],
    before: Mapping[str, Any],
    findings: list[ContainerFindings],
    field_prefix: str,
    namespace: str,
    config_maps: ConfigMaps,
) -> list[ContainerFindings]:
    """inspect_pod_spec(spec), where `spec` is `before` with some containers replaced and `findings` is what
    inspect_pod_spec(before) found: a container that is the very object it was, under the same volumes, is not
    read again, since what a container's inspection finds depends on nothing else of the pod."""
    if spec.get("volumes") is not before.get("volumes"):
        return inspect_pod_spec(spec, field_prefix, namespace, config_maps)
    volumes = volumes_by_name(spec) if spec.get("volumes") else None
    old = iter_containers(before, field_prefix)
    out = []
    for (list_name, index, container), (_, _, was), found in zip(
        iter_containers(spec, field_prefix), old, findings, strict=True
    ):
        if container is not was:
            found = _inspect_at(list_name, index, container, field_prefix, namespace, config_maps, volumes)
        out.append(found)
    return out


#: Arguments that name configuration files: a container with none of them, none of the variables
#: that do (FILE_NAMING_VARIABLES) and no volume mount reads no configuration file, and pays nothing.
_FILE_NAMING_ARGUMENTS = ("--config", "-c", "--env-file", "dotenv_config_path", "spring.config.", *CODEX_COMMANDS)


def _names_config_files(settings: Mapping[str, EnvSetting], commands: list[tuple[str, list[str]]]) -> bool:
    if not FILE_NAMING_VARIABLES.isdisjoint(settings) or "HOME" in settings:
        return True
    if not PROPERTY_CARRIERS.isdisjoint(settings):  # -Dspring.config.location=..., SPRING_APPLICATION_JSON
        return True
    if any(posixpath.basename(str(argv[0])) in SHELLS for part, argv in commands if part in ("command", "args")):
        return True  # a shell script may source a file over the environment
    return any(hint in str(arg) for _, argv in commands for arg in argv for hint in _FILE_NAMING_ARGUMENTS)


def read_files(
    container: Mapping[str, Any],
    files: ContainerFiles,
    env: ContainerEnv,
    commands: list[tuple[str, list[str]]],
    seen: _Settings,
    inspector: _Inspector,
    named: bool,
) -> list[EnvSetting]:
    """The container's mounted configuration: problems, URLs and client destinations are judged here;
    the settings the files set are returned, to be judged as env settings are. `named`: whether a
    variable or an argument may name a configuration file (otherwise only the mounts are read)."""

    def spring_value(name: str) -> EnvSetting | None:
        return seen._table(True).get(canonical_name(name))

    runs_at = "command" if container.get("command") else "args"
    if not named:
        config = read_mounted_config(files, env, [], spring_value, {}, named=False)
        return _judge_config(config, env, inspector, runs_at)
    argv = [env.expand(str(arg)) for part, args in commands if part in ("command", "args") for arg in args]

    locations: dict[str, str] = {}
    for name in SPRING_LOCATION_PROPERTIES:
        setting = spring_value(name)
        if setting is None:
            continue
        if setting.value is None or setting.hidden_refs:
            inspector.problem(
                Code.ENDPOINT_NOT_VISIBLE,
                f"{setting.name} names the configuration files Spring Boot loads, and comes from {setting.detail}, "
                "whose value ModelRoute cannot see; set it as a plain value or from a ConfigMap",
                setting.field,
            )
        elif setting.value.strip():
            locations[setting.name] = setting.value
    return _judge_config(read_mounted_config(files, env, argv, spring_value, locations), env, inspector, runs_at)


def _judge_config(config: MountedConfig, env: ContainerEnv, inspector: _Inspector, runs_at: str) -> list[EnvSetting]:
    for problem in config.problems:
        inspector.problem(problem.code, problem.message, problem.field, problem.possible)
    for scan in config.scans:
        inspector.embedded_urls(scan.text, scan.label, scan.field, remedy(_file_of(scan), "the URL", "scan"))
    for found in config.destinations:
        _judge_destination(found, env, inspector)
    for default in config.defaults:  # a client the command runs, with no file to name its base URL
        url = hosts.parse_url(default.url)
        inspector.f.targets.append(
            Target(TargetKind.DEFAULT, url, default.what, inspector.path(runs_at), remedy=default.remedy)
        )
    return config.settings


def _references(setting: EnvSetting) -> str:
    """The hidden references of a value as written: the kubelet's $(VAR) in env, ${VAR} in a file
    (Spring placeholders, dotenv expansion)."""
    if setting.in_file:
        return ", ".join(f"${{{name}}}" for name in setting.hidden_refs)
    return f"$({', '.join(setting.hidden_refs)})"


def _file_of(scan: FileScan) -> MountedFile:
    return MountedFile(scan.label, Origin.CONFIG_MAP, scan.field, scan.label)


def _judge_destination(found: ClientDestination, env: ContainerEnv, inspector: _Inspector) -> None:
    """A URL a client takes from its configuration file, in the client's order (clientfiles.resolve):
    the variable the file names, the literal URL, the variables the client falls back to, its default."""
    destination, file = found.destination, found.file
    at = f" line {destination.line}" if destination.line else ""
    label = f"{destination.note} ({destination.key}) in {file.where()}{at}"
    fix = remedy(file, destination.key, found.client)
    chain = [destination.variable] if destination.variable is not None else []
    if destination.url is None:
        chain += destination.fallback
    for index, name in enumerate(chain):
        setting = env.settings.get(name)
        if setting is None:
            continue
        is_fallback = index > 0 or destination.variable is None
        if is_fallback and endpoint_variable(name) is not None:
            return  # an endpoint variable the client falls back to: judged as env already
        if setting.value is None or setting.hidden_refs:
            inspector.problem(
                Code.ENDPOINT_NOT_VISIBLE,
                f"{label} takes its URL from {name}, which comes from {setting.detail}; ModelRoute cannot see "
                "its value",
                file.field,
            )
            return
        if setting.value.strip():
            _file_target(inspector, f"{label}, from {name}", setting.value, file.field, fix)
            return
    if destination.url is not None:
        _file_target(inspector, label, destination.url, file.field, fix)
    elif destination.default is not None and destination.default_from:
        # the file writes the variable the client falls back to (LiteLLM environment_variables)
        written = f"{label}, from {destination.default_from}"
        _file_target(inspector, written, destination.default, file.field, remedy(file, destination.default_from, "env"))
    elif destination.default is not None:
        inspector.f.targets.append(
            Target(
                TargetKind.DEFAULT,
                hosts.parse_url(destination.default),
                f"{label} names no base URL (so the client would call {destination.default})",
                inspector.path(file.field),
                remedy=fix,
            )
        )


def _file_target(inspector: _Inspector, label: str, text: str, field: str, fix: Remedy) -> None:
    try:
        url = hosts.parse_url(text.strip())
    except hosts.URLError as error:
        inspector.problem(Code.MALFORMED_ENDPOINT_URL, f"{label} is not a usable URL ({error})", field)
        return
    field_path = inspector.path(field)
    if any(t.field == field_path and t.url == url for t in inspector.f.targets):
        return  # the same URL, already found in the same place (OAI_CONFIG_LIST's JSON is an env value too)
    inspector.f.targets.append(Target(TargetKind.FILE, url, label, field_path, remedy=fix))

"""Which containers are configured for OpenAI traffic, and where that traffic would go.

Per container (init, app and ephemeral alike), after Kubernetes' own env resolution, the engine
finds every *target*: a host the container's OpenAI clients would call, with the setting that
names it, plus the *problems* that stop it from knowing (hidden or unresolvable values).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from modelroute.engine import hosts
from modelroute.engine.clients import (
    API_TYPE_VARIABLE,
    BEDROCK_API_TYPES,
    BEDROCK_CREDENTIALS,
    CREDENTIALS,
    ENDPOINT_VARIABLES,
    OPENAI_BASE_URL,
    OPENAI_CREDENTIALS,
    OPENAI_DEFAULT_BASE_URL,
    Route,
)
from modelroute.engine.environment import ConfigMaps, ContainerEnv, EnvSetting, Source, container_env
from modelroute.engine.redaction import redact_url
from modelroute.engine.verdict import Code, Violation

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_DEPLOYMENT_IN_PATH = re.compile(r"/openai/deployments/([^/?#]+)", re.IGNORECASE)
_DEFAULT_URL = hosts.parse_url(OPENAI_DEFAULT_BASE_URL)


_MODEL_HOST_HINTS = (
    "openai.com",
    "openai.azure.",
    "cognitiveservices.azure.",
    "services.ai.azure.",
    "cognitive.microsoft.com",
    "amazonaws.com",
)


def _names_model_host(candidate: str) -> bool:
    """A loose look at a URL parse_url refused: fine for reporting it, never used to approve anything."""
    from urllib.parse import unquote

    text = unquote(candidate).lower().replace("\\", "/").replace("\u3002", ".").replace("\uff0e", ".")
    return any(hint in text for hint in _MODEL_HOST_HINTS)


class TargetKind(Enum):
    SETTING = "setting"  # an endpoint variable
    EMBEDDED = "embedded"  # a URL inside another env value, the command or the args
    DEFAULT = "default"  # a credential with no endpoint: the SDK default, api.openai.com
    BEDROCK = "bedrock"  # an API type that routes to AWS Bedrock, no URL


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    url: hosts.ParsedURL | None
    setting: str  # what names it, for messages: "OPENAI_BASE_URL", "args[1]"
    field: str  # full field path
    variable: str | None = None  # the endpoint variable, when kind is SETTING

    @property
    def deployment(self) -> str | None:
        if self.url is None:
            return None
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

    @property
    def configured_for_openai(self) -> bool:
        return bool(self.targets or self.problems or self.signals)


def iter_containers(spec: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(spec.get(list_name) or ()):
            yield list_name, index, container


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

    def problem(self, code: Code, message: str, relative: str) -> None:
        self.f.problems.append(Violation(code, message, self.f.name, self.path(relative)))

    def endpoint_setting(self, setting: EnvSetting) -> None:
        variable = ENDPOINT_VARIABLES[setting.name]
        if setting.source is Source.UNRESOLVED:
            self.problem(
                Code.UNRESOLVED_REFERENCE,
                f"{setting.name} cannot be resolved: {setting.detail}; ModelRoute cannot tell where it points",
                setting.field,
            )
            return
        if setting.value is None or setting.hidden_refs:
            hidden_from = setting.detail if setting.value is None else f"$({', '.join(setting.hidden_refs)})"
            self.problem(
                Code.ENDPOINT_NOT_VISIBLE,
                f"{setting.name} depends on {hidden_from}, whose value ModelRoute cannot see; set the endpoint "
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
                    f"{setting.name} is not a usable URL ({error})",
                    setting.field,
                )
                continue
            kind = TargetKind.SETTING
            self.f.targets.append(Target(kind, url, setting.name, self.path(setting.field), setting.name))

    def embedded_urls(self, text: str, setting: str, relative: str) -> None:
        if "://" not in text:  # most values hold no URL at all; skip the scan
            return
        for candidate in hosts.find_urls(text):
            try:
                url = hosts.parse_url(candidate)
            except hosts.URLError as error:
                # clients disagree on such URLs, and some follow them to the host they seem to name
                if _names_model_host(candidate):
                    self.problem(
                        Code.MALFORMED_ENDPOINT_URL,
                        f"{setting} holds a URL naming an OpenAI host in a form HTTP clients read "
                        f"differently ({error})",
                        relative,
                    )
                continue
            host_class = hosts.classify_host(url.host)
            if host_class.is_openai_model_host or host_class.family is hosts.HostFamily.AWS_BEDROCK:
                self.f.targets.append(Target(TargetKind.EMBEDDED, url, setting, self.path(relative)))


def inspect_container(
    container: Mapping[str, Any], field_path: str, is_app: bool, namespace: str, config_maps: ConfigMaps
) -> ContainerFindings:
    env = container_env(container, namespace, config_maps)
    findings = ContainerFindings(str(container.get("name", "")), field_path, is_app, env)
    inspector = _Inspector(findings)
    settings = env.settings

    for name, setting in settings.items():
        if name in ENDPOINT_VARIABLES:
            inspector.endpoint_setting(setting)
        elif name in CREDENTIALS:
            if name not in OPENAI_CREDENTIALS:
                findings.signals.append(f"{name} is set")
            if setting.source is Source.LITERAL and setting.value:
                findings.warnings.append(
                    f"container {findings.name}: {name} is a literal value in the manifest; "
                    "keep API keys in a Secret (spec.inject.credentialsSecretRef)"
                )
        elif setting.value:
            inspector.embedded_urls(setting.value, f"env {name}", setting.field)

    api_type = (settings.get(API_TYPE_VARIABLE) or EnvSetting("", "", Source.LITERAL, "")).value or ""
    api_type = api_type.strip().lower()
    if api_type in BEDROCK_API_TYPES:
        field_of = settings[API_TYPE_VARIABLE].field
        findings.targets.append(
            Target(TargetKind.BEDROCK, None, f"{API_TYPE_VARIABLE}={api_type}", inspector.path(field_of))
        )
    if any(name in settings for name in BEDROCK_CREDENTIALS):
        findings.signals.append("AWS Bedrock credentials are set")

    # openai.OpenAI() reads OPENAI_BASE_URL and nothing else (not OPENAI_API_BASE, not OPENAI_API_TYPE):
    # a key without it reaches api.openai.com whatever other clients in the image would do
    base = settings.get(OPENAI_BASE_URL)
    has_openai_base = base is not None and (base.value is None or bool(base.value.strip()))
    credential = next((name for name in sorted(OPENAI_CREDENTIALS) if name in settings), None)
    if credential and has_openai_base:
        findings.signals.append(f"{credential} is set")
    elif credential:
        findings.targets.append(
            Target(
                TargetKind.DEFAULT,
                _DEFAULT_URL,
                f"{credential} with no OPENAI_BASE_URL (the SDKs then call {OPENAI_DEFAULT_BASE_URL})",
                inspector.path(settings[credential].field),
            )
        )

    for part in ("command", "args"):
        for index, arg in enumerate(container.get(part) or ()):
            inspector.embedded_urls(env.expand(str(arg)), f"{part}[{index}]", f"{part}[{index}]")

    if findings.targets or findings.problems or findings.signals:
        for source in env.opaque:
            if source.unresolved:
                inspector.problem(
                    Code.UNRESOLVED_REFERENCE,
                    f"{source.field} cannot be resolved: {source.detail}; it may set endpoint variables",
                    source.field,
                )
            else:
                findings.warnings.append(
                    f"container {findings.name}: {source.field} loads {source.detail}, which ModelRoute "
                    "never reads; endpoint variables set there are not checked"
                )
    return findings


def inspect_pod_spec(
    spec: Mapping[str, Any], field_prefix: str, namespace: str, config_maps: ConfigMaps
) -> list[ContainerFindings]:
    return [
        inspect_container(
            container, f"{field_prefix}.{list_name}[{index}]", list_name == "containers", namespace, config_maps
        )
        for list_name, index, container in iter_containers(spec, field_prefix)
    ]

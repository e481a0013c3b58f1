"""A container's environment as the kubelet will build it: envFrom, then env in order, `$(VAR)`
expanded against what is defined so far, later definitions winning.

ConfigMaps come from the caller (a cluster cache or the CLI's input files); Secrets are never read,
so values that come from them are known to exist but not known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from modelroute.engine.values import value_object

if TYPE_CHECKING:
    from modelroute.engine.remedies import Remedy

ConfigMaps = Mapping[tuple[str, str], Mapping[str, str]]


class ConfigMapData(dict[str, str]):
    """A ConfigMap's `data`, which env references read, with its `binaryData` apart: the kubelet writes
    those keys as files too, but `configMapKeyRef` and `envFrom` never see them. `binary` holds each
    value as the ConfigMap holds it (base64); it is decoded only when a volume lays the key out."""

    __slots__ = ("binary",)

    def __init__(self, data: Mapping[str, str], binary: Mapping[str, str] | None = None) -> None:
        super().__init__(data)
        self.binary: dict[str, str] = dict(binary or {})


def binary_data_of(data: Mapping[str, str]) -> Mapping[str, str]:
    """The `binaryData` keys of a ConfigMap's data (base64), none for a plain mapping."""
    return data.binary if isinstance(data, ConfigMapData) else {}


class Source(Enum):
    LITERAL = "value"
    CONFIG_MAP = "configMap"
    SECRET = "secret"
    FIELD = "field"
    UNRESOLVED = "unresolved"


@value_object
class EnvSetting:
    name: str
    value: str | None  # None when not visible to ModelRoute (Secret, field reference) or unresolved
    source: Source
    field: str  # where it is set, relative to the container: "env[2]" or "envFrom[0]"
    detail: str = ""  # human description of the source, for messages
    hidden_refs: tuple[str, ...] = ()  # $(VAR)s in the value whose values ModelRoute cannot see
    # the value depends on a ConfigMap, directly or through $(VAR): the kubelet reads it again at
    # every container start, so what was approved at admission may not be what runs
    volatile: bool = False
    #: a setting read from a mounted file: where it is, for messages ("OPENAI_API_BASE in /app/.env (...)")
    in_file: str = ""
    #: what to change when it is not approved (a mounted file, which the mutation cannot fix)
    remedy: Remedy | None = None


@dataclass(frozen=True, slots=True)
class OpaqueSource:
    """An envFrom whose variable names ModelRoute cannot know."""

    field: str
    detail: str
    unresolved: bool  # True: a missing ConfigMap; False: a Secret, which is never read
    optional: bool = False  # a missing ConfigMap marked optional: skipped now, loaded if it appears


@dataclass(frozen=True, slots=True)
class SkippedReference:
    """An optional configMapKeyRef that resolves to nothing now, and may at the next container start."""

    name: str
    field: str
    detail: str


@value_object
class ContainerEnv:
    settings: dict[str, EnvSetting]
    opaque: tuple[OpaqueSource, ...]
    skipped: tuple[SkippedReference, ...] = ()

    def expand(self, text: str) -> str:
        return expand(text, self.settings)[0]

    def expand_fully(self, text: str) -> tuple[str, tuple[str, ...]]:
        """The expanded text and the $(VAR)s in it whose values ModelRoute cannot see."""
        expanded, hidden, _ = expand(text, self.settings)
        return expanded, hidden


def expand(text: str, defined: Mapping[str, EnvSetting]) -> tuple[str, tuple[str, ...], bool]:
    """Kubernetes' `$(VAR)` expansion: `$$` is a literal `$`; undefined references stay as written.

    Returns the text, the references whose values are not visible, and whether any value used
    depends on a ConfigMap."""
    if "$" not in text:
        return text, (), False
    out: list[str] = []
    hidden: list[str] = []
    volatile = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            setting = defined.get(name)
            if setting is None or setting.value is None:
                # undefined here is not undefined for the kubelet: envFrom Secrets and service links
                # (KUBERNETES_PORT, ...) may fill it in, so its value is unknown, not literal
                hidden.append(name)
                out.append(f"$({name})")
            else:
                out.append(setting.value)
                hidden.extend(setting.hidden_refs)
                volatile = volatile or setting.volatile
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out), tuple(hidden), volatile


def literal(value: str) -> str:
    """A value written so that `$(VAR)` expansion gives it back unchanged."""
    return value.replace("$", "$$")


def _config_map_value(config_maps: ConfigMaps, namespace: str, name: str, key: str) -> tuple[str | None, str | None]:
    data = config_maps.get((namespace, name))
    if data is None:
        return None, f"ConfigMap {namespace}/{name} does not exist"
    if key not in data:
        return None, f"ConfigMap {namespace}/{name} has no key {key!r}"
    return data[key], None


def container_env(container: Mapping[str, Any], namespace: str, config_maps: ConfigMaps) -> ContainerEnv:
    settings: dict[str, EnvSetting] = {}
    opaque: list[OpaqueSource] = []
    skipped: list[SkippedReference] = []

    for index, source in enumerate(container.get("envFrom") or ()):
        field = f"envFrom[{index}]"
        prefix = source.get("prefix") or ""
        if ref := source.get("configMapRef"):
            name = ref.get("name", "")
            data = config_maps.get((namespace, name))
            if data is None:
                optional = bool(ref.get("optional"))
                opaque.append(OpaqueSource(field, f"ConfigMap {namespace}/{name} does not exist", True, optional))
                continue
            for key, value in data.items():
                settings[prefix + key] = EnvSetting(
                    prefix + key,
                    value,
                    Source.CONFIG_MAP,
                    field,
                    f"ConfigMap {namespace}/{name} key {key!r}",
                    volatile=True,
                )
        elif ref := source.get("secretRef"):
            opaque.append(OpaqueSource(field, f"Secret {namespace}/{ref.get('name', '')}", False))

    for index, entry in enumerate(container.get("env") or ()):
        name = entry.get("name", "")
        field = f"env[{index}]"
        value_from = entry.get("valueFrom")
        if not value_from:
            text, hidden, volatile = expand(str(entry.get("value") or ""), settings)
            settings[name] = EnvSetting(name, text, Source.LITERAL, field, "value", hidden, volatile)
        elif ref := value_from.get("configMapKeyRef"):
            cm_name, key = ref.get("name", ""), ref.get("key", "")
            resolved, problem = _config_map_value(config_maps, namespace, cm_name, key)
            if problem is None:
                detail = f"ConfigMap {namespace}/{cm_name} key {key!r}"
                settings[name] = EnvSetting(name, resolved, Source.CONFIG_MAP, field, detail, volatile=True)
            elif ref.get("optional"):
                # the kubelet skips it and an earlier definition stays in force, until it appears
                skipped.append(SkippedReference(name, field, problem or ""))
            else:
                settings[name] = EnvSetting(name, None, Source.UNRESOLVED, field, problem)
        elif ref := value_from.get("secretKeyRef"):
            detail = f"Secret {namespace}/{ref.get('name', '')} key {ref.get('key', '')!r}"
            settings[name] = EnvSetting(name, None, Source.SECRET, field, detail)
        else:
            settings[name] = EnvSetting(name, None, Source.FIELD, field, "a field reference")
    return ContainerEnv(settings, tuple(opaque), tuple(skipped))

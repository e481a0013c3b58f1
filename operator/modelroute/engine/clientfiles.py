"""Where the LiteLLM proxy, the Codex CLI and AutoGen's OAI_CONFIG_LIST send requests, read from
their configuration files (a minimal reading of each schema; the full one replaces it)."""

from __future__ import annotations

import json
import posixpath
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

_OPENAI = "https://api.openai.com/v1"
_ENV_PREFIX = "os.environ/"


@dataclass(frozen=True, slots=True)
class FileDestination:
    key: str  # where in the file: "model_list[0].litellm_params.api_base"
    url: str | None  # the literal URL the client calls; None when it takes it from elsewhere
    variable: str | None  # an env variable the file names for it (LiteLLM os.environ/VAR)
    fallback: tuple[str, ...]  # env variables the client reads when neither is set, in order
    default: str | None  # the URL the client calls when none of them is set
    line: int | None
    note: str  # for messages, e.g. "LiteLLM model gpt-4o (openai/gpt-4o)"


class ConfigFileError(ValueError):
    """A configuration file that cannot be read; str() says what and where."""


def _yaml(text: str, what: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigFileError(f"{what} is not valid YAML ({error})") from None


def litellm_destinations(text: str) -> tuple[FileDestination, ...]:
    data = _yaml(text, "the LiteLLM config")
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise ConfigFileError("the LiteLLM config is not a mapping")
    found: list[FileDestination] = []
    for index, entry in enumerate(data.get("model_list") or ()):
        params = entry.get("litellm_params") if isinstance(entry, dict) else None
        if not isinstance(params, dict):
            continue
        model = str(params.get("model") or "")
        provider = model.partition("/")[0] if "/" in model else "openai"
        name = entry.get("model_name", model)
        note = f"LiteLLM model {name} ({model})"
        for key in ("api_base", "base_url"):
            value = params.get(key)
            if value:
                where = f"model_list[{index}].litellm_params.{key}"
                value = str(value)
                if value.startswith(_ENV_PREFIX):
                    variable = value.removeprefix(_ENV_PREFIX)
                    found.append(
                        FileDestination(where, None, variable, _fallback(provider), _default(provider), None, note)
                    )
                else:
                    found.append(FileDestination(where, value, None, (), None, None, note))
                break
        else:
            if provider in ("openai", "azure", "azure_ai"):
                where = f"model_list[{index}].litellm_params"
                found.append(FileDestination(where, None, None, _fallback(provider), _default(provider), None, note))
    return tuple(found)


def _fallback(provider: str) -> tuple[str, ...]:
    if provider == "openai":
        return ("OPENAI_BASE_URL", "OPENAI_API_BASE")
    return ("AZURE_API_BASE",) if provider == "azure" else ("AZURE_AI_API_BASE",)


def _default(provider: str) -> str | None:
    return _OPENAI if provider == "openai" else None


def litellm_config_paths(argv: Sequence[str], env: Mapping[str, str | None]) -> tuple[str, ...]:
    paths: list[str] = []
    if env.get("CONFIG_FILE_PATH"):
        paths.append(str(env["CONFIG_FILE_PATH"]))
    for index, arg in enumerate(argv):
        if arg in ("--config", "-c") and index + 1 < len(argv):
            paths.append(argv[index + 1])
        elif arg.startswith("--config="):
            paths.append(arg.removeprefix("--config="))
    return tuple(dict.fromkeys(paths))


def codex_config_path(env: Mapping[str, str | None], home: str | None) -> str | None:
    codex_home = env.get("CODEX_HOME")
    if codex_home:
        return posixpath.join(codex_home, "config.toml")
    return posixpath.join(home, ".codex", "config.toml") if home else None


def codex_destinations(text: str) -> tuple[FileDestination, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"the Codex config is not valid TOML ({error})") from None
    found: list[FileDestination] = []
    for name, provider in (data.get("model_providers") or {}).items():
        if isinstance(provider, dict) and provider.get("base_url"):
            key = f"model_providers.{name}.base_url"
            found.append(
                FileDestination(key, str(provider["base_url"]), None, (), None, None, f"Codex provider {name}")
            )
    return tuple(found)


def oai_config_list_destinations(text: str) -> tuple[FileDestination, ...]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ConfigFileError(f"OAI_CONFIG_LIST is not valid JSON ({error})") from None
    if not isinstance(data, list):
        raise ConfigFileError("OAI_CONFIG_LIST is not a JSON list")
    found: list[FileDestination] = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            continue
        note = f"OAI_CONFIG_LIST model {entry.get('model', '')}"
        base = entry.get("base_url") or entry.get("api_base")
        if base:
            found.append(FileDestination(f"[{index}].base_url", str(base), None, (), None, None, note))
        elif str(entry.get("api_type") or "openai") == "openai":
            found.append(FileDestination(f"[{index}]", None, None, ("OPENAI_BASE_URL",), _OPENAI, None, note))
    return tuple(found)

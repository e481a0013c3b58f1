"""Where clients that read a configuration file send OpenAI traffic, read from the file's text.

Each reader returns the destinations the file gives the client, one per model or provider, with the
rule the client applies when the file does not name a URL: the environment variables it falls back
to and its built-in default. `resolve` applies that rule to a container's environment, so a reader
and the client can be compared on the same table (tests/unit/test_client_files_real.py does, with
the clients from PyPI). Pure: no I/O; the caller reads the files and resolves the paths.

Checked against the clients' sources:
- LiteLLM proxy 1.110 (`litellm/proxy/proxy_server.py` ProxyConfig.get_config/load_config,
  `litellm/proxy/proxy_cli.py`, `litellm/main.py`, `litellm/responses/bridge_check.py`
  `_resolve_openai_api_base`, `litellm/llms/azure_ai/common_utils.py`);
- Codex CLI (`codex-rs/model-provider-info/src/lib.rs` built_in_model_providers and
  merge_configured_model_providers, `codex-rs/core/src/config`, `codex-rs/arg0/src/lib.rs` load_dotenv);
- AG2 0.14 (`autogen/llm_config/utils.py` config_list_from_json, `autogen/oai/client.py`
  OpenAIWrapper._register_default_client and _configure_azure_openai).
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from modelroute.engine.clients import OPENAI_DEFAULT_BASE_URL, endpoint_variable
from modelroute.engine.configtext import ConfigFileError, compose_yaml, construct_yaml, load_json, load_toml

__all__ = [
    "CODEX_HOME_VARIABLE",
    "LITELLM_CONFIG_BUCKET_VARIABLE",
    "LITELLM_CONFIG_VARIABLE",
    "OAI_CONFIG_LIST_VARIABLE",
    "ConfigFileError",
    "FileDestination",
    "codex_config_path",
    "codex_destinations",
    "codex_dotenv_path",
    "litellm_config_paths",
    "litellm_destinations",
    "litellm_includes",
    "oai_config_list_destinations",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class FileDestination:
    """One place a client configuration file sends traffic, and how the client resolves it.

    The client calls, in this order: the value of `variable` when it is set and not empty; else
    `url`; else the first of `fallback` that is set and not empty; else `default`. LiteLLM and Codex
    skip a variable set to the empty string; the OpenAI SDK (under AG2) would keep it and have no
    usable URL, so counting it as not set errs toward the default, never away from a call.
    """

    key: str  # where in the file: "model_list[0].litellm_params.api_base"
    url: str | None  # the literal URL the client calls; None when it takes it from elsewhere
    variable: str | None  # an env variable the file names for it (LiteLLM os.environ/VAR)
    fallback: tuple[str, ...]  # env variables the client reads when neither is set, in order
    default: str | None  # the URL the client calls when none of them is set
    line: int | None
    note: str  # for messages, e.g. "LiteLLM model gpt-4o (openai/gpt-4o)"
    #: the config key that sets `default` when the file writes it (LiteLLM environment_variables)
    default_from: str = ""
    #: the file it is written in: 0 the main file, n the n-th file its `include:` names (LiteLLM)
    included: int = 0


def resolve(destination: FileDestination, env: Mapping[str, str | None]) -> str | None:
    """The URL the client calls given its environment; None when it calls nothing it can name (or
    when a variable it would read is set but not visible: a None value in `env`)."""
    if destination.variable is not None:
        value = env.get(destination.variable)
        if value is None and destination.variable in env:
            return None
        if value:
            return value
    if destination.url is not None:
        return destination.url
    for name in destination.fallback:
        value = env.get(name)
        if value is None and name in env:
            return None
        if value:
            return value
    return destination.default


# --- shared: a chain of sources folded into a destination -------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    url: str
    origin: str = ""  # the config key that writes it into the environment: "environment_variables.X"


@dataclass(frozen=True, slots=True)
class _Variable:
    name: str


_Source = _Literal | _Variable


def _destination(
    key: str, chain: Iterable[_Source], default: str | None, line: int | None, note: str, from_file: int
) -> FileDestination:
    """Fold the sources the client tries in order (the first `from_file` of them written in the
    file) into a destination. A literal ends the chain: nothing after it is ever read."""
    sources = list(chain)
    variable: str | None = None
    url: str | None = None
    fallback: list[str] = []
    default_from = ""
    position = 0
    if sources and from_file > 0 and isinstance(sources[0], _Variable):
        variable = sources[0].name
        position = 1
    for index in range(position, len(sources)):
        source = sources[index]
        if isinstance(source, _Literal):
            if index < from_file and not fallback:
                url = source.url
            else:
                default = source.url
                default_from = source.origin
            break
        fallback.append(source.name)
    return FileDestination(key, url, variable, tuple(dict.fromkeys(fallback)), default, line, note, default_from)


# --- YAML positions ------------------------------------------------------------------------------


def _mapping_value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    found = None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found = value_node  # the last wins, as in the loader
    return found


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None and node.start_mark is not None else None


# --- LiteLLM ---------------------------------------------------------------------------------------

#: The proxy reads its config file from this variable ahead of `--config` (proxy_server.py startup:
#: a path ending in .yaml or .yml; when it is set, `--config` is not read).
LITELLM_CONFIG_VARIABLE = "CONFIG_FILE_PATH"
#: With this variable set the proxy reads its config from a cloud bucket instead: not visible.
LITELLM_CONFIG_BUCKET_VARIABLE = "LITELLM_CONFIG_BUCKET_NAME"
_ENVIRON_PREFIX = "os.environ/"
_OPENAI_FALLBACK = ("OPENAI_BASE_URL", "OPENAI_API_BASE")


@dataclass(frozen=True, slots=True)
class _Provider:
    fallback: tuple[str, ...]
    default: str | None


#: Providers whose calls go to OpenAI or Azure OpenAI, with where LiteLLM looks when a model has no
#: api_base: `_resolve_openai_api_base` (openai, custom_openai, text-completion-openai and aiohttp
#: share it), `_complete_azure` (AZURE_API_BASE, no default: an error), AzureFoundryModelInfo.
_LITELLM_PROVIDERS: dict[str, _Provider] = {
    "openai": _Provider(_OPENAI_FALLBACK, OPENAI_DEFAULT_BASE_URL),
    "custom_openai": _Provider(_OPENAI_FALLBACK, OPENAI_DEFAULT_BASE_URL),
    "text-completion-openai": _Provider(_OPENAI_FALLBACK, OPENAI_DEFAULT_BASE_URL),
    "aiohttp_openai": _Provider(_OPENAI_FALLBACK, OPENAI_DEFAULT_BASE_URL),
    "azure": _Provider(("AZURE_API_BASE",), None),
    "azure_text": _Provider(("AZURE_API_BASE",), None),
    "azure_ai": _Provider(("AZURE_AI_API_BASE",), None),
}
#: Bare model names LiteLLM's registry maps to OpenAI (open_ai_chat_completion_models, the text
#: completion and embedding lists); a bare name it does not know is refused, so none is called.
_OPENAI_MODEL_PREFIXES = (
    "gpt-",
    "gpt4",
    "chatgpt-",
    "o1",
    "o3",
    "o4",
    "ft:gpt-",
    "ft:babbage-",
    "ft:davinci-",
    "davinci-",
    "babbage-",
    "text-embedding-",
    "text-moderation-",
    "omni-moderation-",
    "computer-use-",
    "codex-",
    "whisper-",
    "tts-",
    "dall-e-",
    "sora-",
)
#: Keys the proxy refuses to copy from `environment_variables` into its environment.
_LITELLM_BLOCKED_ENV = frozenset({"PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME"})


def _litellm_provider(params: Mapping[str, Any]) -> tuple[str, _Provider] | None:
    model = params.get("model")
    explicit = params.get("custom_llm_provider")
    if isinstance(explicit, str) and explicit:
        found = _LITELLM_PROVIDERS.get(explicit)
        return (explicit, found) if found is not None else None
    if not isinstance(model, str):
        return None
    prefix, slash, _ = model.partition("/")
    if slash:
        found = _LITELLM_PROVIDERS.get(prefix)
        return (prefix, found) if found is not None else None
    if model.startswith(_OPENAI_MODEL_PREFIXES):
        return "openai", _LITELLM_PROVIDERS["openai"]
    return None


def _litellm_value(value: object, key: str, line: int | None) -> _Source | None:
    """A URL setting as LiteLLM reads it: `os.environ/NAME` names a variable, read when the config is
    loaded (get_secret strips every `os.environ/`); an empty value is not set."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigFileError(f"{key} must be a string", line)
    if value.startswith(_ENVIRON_PREFIX):
        return _Variable(value.replace(_ENVIRON_PREFIX, ""))
    return _Literal(value) if value else None


def _litellm_environment(config: Mapping[str, Any]) -> dict[str, _Source | None]:
    """What `environment_variables` writes into the proxy's environment, replacing the container's
    values, before any model is called (None: written empty, which LiteLLM then reads as not set)."""
    section = config.get("environment_variables")
    if not isinstance(section, Mapping):
        return {}
    written: dict[str, _Source | None] = {}
    for name, value in section.items():
        if not isinstance(name, str) or name in _LITELLM_BLOCKED_ENV or value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if text.startswith(_ENVIRON_PREFIX):
            written[name] = _Variable(text.replace(_ENVIRON_PREFIX, ""))
        else:
            written[name] = _Literal(text, f"environment_variables.{name}") if text else None
    return written


def _env_chain(names: Sequence[str], written: Mapping[str, _Source | None]) -> list[_Source]:
    chain: list[_Source] = []
    for name in names:
        if name in written:
            source = written[name]
            if source is None:
                continue  # blanked by the config
            if isinstance(source, _Literal):
                chain.append(source)
                break
            chain.append(source)  # copied over the container's value when that variable is set
        chain.append(_Variable(name))
    return chain


def _merged_includes(config: dict[str, Any], included: Sequence[str]) -> dict[str, Any]:
    """The config with its included files merged as litellm's config_includes does: lists appended,
    other keys replaced by the included file's."""
    for number, text in enumerate(included):
        data = construct_yaml(compose_yaml(text))
        if not isinstance(data, dict):
            raise ConfigFileError(f"included file {number + 1} is not a YAML mapping")
        for key, value in data.items():
            if key == "include":
                continue
            base = config.get(key)
            config[key] = [*base, *value] if isinstance(base, list) and isinstance(value, list) else value
    return config


def litellm_includes(text: str) -> tuple[str, ...]:
    """The files a LiteLLM config's `include:` list names, relative to the config's directory."""
    data = construct_yaml(compose_yaml(text))
    if not isinstance(data, dict) or "include" not in data:
        return ()
    entries = data["include"]
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        raise ConfigFileError("'include' must be a list of file paths")
    return tuple(entries)


def litellm_destinations(text: str, included: Sequence[str] = ()) -> tuple[FileDestination, ...]:
    """Where each model of a LiteLLM proxy config calls, and the endpoint variables the config writes
    into the proxy's environment (`environment_variables`). `included` holds the texts of the files
    `litellm_includes` names, in order; their models follow the main file's."""
    root = compose_yaml(text)
    config = construct_yaml(root)
    if config is None:
        return ()
    if not isinstance(config, dict):
        raise ConfigFileError("a LiteLLM config must be a mapping", _line(root))
    models_node = _mapping_value(root, "model_list")
    origins = _model_origins(models_node, config.get("model_list"), included)
    config = _merged_includes(config, included)
    models = config.get("model_list") or []
    if not isinstance(models, list):
        raise ConfigFileError("model_list must be a list", _line(models_node))
    written = _litellm_environment(config)
    settings = config.get("litellm_settings")
    settings_node = _mapping_value(root, "litellm_settings")
    global_base: tuple[_Source, int | None] | None = None
    if isinstance(settings, Mapping):
        global_line = _line(_mapping_value(settings_node, "api_base"))
        source = _litellm_value(settings.get("api_base"), "litellm_settings.api_base", global_line)
        global_base = (source, global_line) if source is not None else None
    out: list[FileDestination] = []
    for index, entry in enumerate(models):
        in_file, local, node = origins[index] if index < len(origins) else (0, index, None)
        found = _litellm_model(local, entry, node, global_base, written)
        if found is not None:
            out.append(replace(found, included=in_file) if in_file else found)
    for name, written_source in written.items():
        if endpoint_variable(name) is None or written_source is None:
            continue
        line = _line(_mapping_value(_mapping_value(root, "environment_variables"), name))
        note = f"LiteLLM environment_variables {name} (written over the container's {name})"
        key = f"environment_variables.{name}"
        if isinstance(written_source, _Literal):
            out.append(FileDestination(key, written_source.url, None, (), None, line, note))
        else:
            out.append(FileDestination(key, None, written_source.name, (name,), None, line, note))
    return tuple(out)


def _model_origins(
    main_node: yaml.Node | None, main_models: object, included: Sequence[str]
) -> list[tuple[int, int, yaml.Node | None]]:
    """For each model of the merged model_list (as `_merged_includes` builds it): which file it comes
    from (0: the main file, n: the n-th included one), its index there and its node (for lines)."""

    def listed(node: yaml.Node | None, models: object, source: int) -> list[tuple[int, int, yaml.Node | None]]:
        if not isinstance(models, list):
            return []
        nodes = node.value if isinstance(node, yaml.SequenceNode) else []
        return [(source, index, nodes[index] if index < len(nodes) else None) for index in range(len(models))]

    origins = listed(main_node, main_models, 0)
    merged_is_list = isinstance(main_models, list)
    for number, text in enumerate(included, start=1):
        root = compose_yaml(text)
        data = construct_yaml(root)
        if not isinstance(data, dict) or "model_list" not in data:
            continue
        own = listed(_mapping_value(root, "model_list"), data["model_list"], number)
        origins = [*origins, *own] if merged_is_list and isinstance(data["model_list"], list) else own
        merged_is_list = isinstance(data["model_list"], list)
    return origins


def _litellm_model(
    index: int,
    entry: object,
    node: yaml.Node | None,
    global_base: tuple[_Source, int | None] | None,
    written: Mapping[str, _Source | None],
) -> FileDestination | None:
    where = f"model_list[{index}]"
    if not isinstance(entry, dict):
        raise ConfigFileError(f"{where} must be a mapping", _line(node))
    params = entry.get("litellm_params")
    params_node = _mapping_value(node, "litellm_params")
    if not isinstance(params, dict):
        raise ConfigFileError(f"{where}.litellm_params must be a mapping", _line(params_node or node))
    name = entry.get("model_name")
    model = params.get("model")
    note = f"LiteLLM model {name} ({model})" if isinstance(name, str) else f"LiteLLM model {model}"
    # completion(): a base_url argument replaces api_base; the Router passes litellm_params as arguments
    file_chain: list[_Source] = []
    key, line = f"{where}.litellm_params.api_base", _line(_mapping_value(params_node, "api_base") or params_node)
    for setting in ("base_url", "api_base"):
        value_node = _mapping_value(params_node, setting)
        source = _litellm_value(params.get(setting), f"{where}.litellm_params.{setting}", _line(value_node))
        if source is not None:
            if not file_chain:
                key, line = f"{where}.litellm_params.{setting}", _line(value_node)
            file_chain.append(source)
    provider = _litellm_provider(params)
    if provider is None:
        if not file_chain:
            return None  # not an OpenAI or Azure OpenAI provider, and no URL of its own
        chain = file_chain
        default = None
    else:
        prefix, known = provider
        note = note if f"{prefix}/" in str(model) else f"{note} [{prefix}]"
        chain = list(file_chain)
        if global_base is not None:
            # litellm_settings.api_base sets litellm.api_base, read after the model's own setting
            if not chain:
                key, line = "litellm_settings.api_base", global_base[1]
                note = f"{note}, from litellm_settings.api_base"
            chain.append(global_base[0])
        chain.extend(_env_chain(known.fallback, written))
        default = known.default
    from_file = len(file_chain) + (1 if global_base is not None else 0)
    return _destination(key, chain, default, line, note, from_file)


def _shell_script(argv: Sequence[str]) -> str | None:
    if len(argv) >= 3 and posixpath.basename(argv[0]) in {"sh", "bash", "dash", "ash", "zsh"} and argv[1] == "-c":
        return argv[2]
    return None


def _litellm_argv(argv: Sequence[str]) -> Sequence[str] | None:
    """The proxy's own arguments: after `litellm` (or `python -m litellm...`) when the command names
    it, else all of them (the image's entrypoint is the proxy and the pod gives only args)."""
    for index, token in enumerate(argv):
        if posixpath.basename(token) in {"litellm", "litellm-proxy"}:
            return argv[index + 1 :]
        if token == "-m" and index + 1 < len(argv) and argv[index + 1].startswith("litellm"):
            return argv[index + 2 :]
    return None


def _config_option(arguments: Sequence[str]) -> str | None:
    """The value of click's `--config`/`-c` option, the last one winning."""
    found: str | None = None
    index = 0
    while index < len(arguments):
        token = arguments[index]
        if token == "--":
            break
        if token in {"--config", "-c"}:
            if index + 1 < len(arguments):
                found = arguments[index + 1]
            index += 2
            continue
        if token.startswith("--config="):
            found = token.removeprefix("--config=")
        elif token.startswith("-c") and not token.startswith("--") and len(token) > 2:
            found = token[2:]
        index += 1
    return found


def litellm_config_paths(argv: Sequence[str], env: Mapping[str, str | None]) -> tuple[str, ...]:
    """The config file the LiteLLM proxy loads at startup, as written (relative to the working
    directory when not absolute): CONFIG_FILE_PATH when set (and only if it ends in .yaml or .yml),
    else `--config`/`-c` from the command line. Empty when it loads none, or when the location is not
    visible (CONFIG_FILE_PATH with a None value) or the config comes from a bucket
    (LITELLM_CONFIG_BUCKET_NAME): the caller reports those."""
    if LITELLM_CONFIG_BUCKET_VARIABLE in env:
        return ()
    if LITELLM_CONFIG_VARIABLE in env:
        path = env[LITELLM_CONFIG_VARIABLE]
        if path is None or posixpath.splitext(path)[1].lower() not in {".yaml", ".yml"}:
            return ()
        return (path,)
    script = _shell_script(argv)
    if script is not None:
        try:
            argv = shlex.split(script)
        except ValueError:
            return ()
    arguments = _litellm_argv(argv)
    found = _config_option(arguments if arguments is not None else argv)
    return (found,) if found else ()


# --- Codex CLI --------------------------------------------------------------------------------------

CODEX_HOME_VARIABLE = "CODEX_HOME"
_CODEX_OPENAI = "openai"
#: Built-in providers, which `[model_providers.<id>]` cannot name (Codex refuses the file): the local
#: open-source servers read CODEX_OSS_BASE_URL.
_CODEX_OSS = {"ollama": "http://localhost:11434/v1", "lmstudio": "http://localhost:1234/v1"}
_CODEX_BEDROCK = "amazon-bedrock"
_CODEX_BUILT_IN = frozenset({_CODEX_OPENAI, _CODEX_BEDROCK, *_CODEX_OSS})


def codex_config_path(env: Mapping[str, str | None], home: str | None) -> str | None:
    """`$CODEX_HOME/config.toml` when CODEX_HOME is set and not empty, else `~/.codex/config.toml`;
    None when the location is not known (CODEX_HOME not visible, or no home directory)."""
    codex_home = _codex_home(env, home)
    return posixpath.join(codex_home, "config.toml") if codex_home is not None else None


def codex_dotenv_path(env: Mapping[str, str | None], home: str | None) -> str | None:
    """`$CODEX_HOME/.env`, which the CLI loads at startup OVER the process environment (dotenvy
    from_path_iter + set_var), except names starting with CODEX_."""
    codex_home = _codex_home(env, home)
    return posixpath.join(codex_home, ".env") if codex_home is not None else None


def _codex_home(env: Mapping[str, str | None], home: str | None) -> str | None:
    if CODEX_HOME_VARIABLE in env:
        value = env[CODEX_HOME_VARIABLE]
        if value is None:
            return None
        if value:
            return value
    return posixpath.join(home, ".codex") if home else None


def _codex_string(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigFileError(f"{where}{key} must be a string")
    return value


def codex_destinations(text: str) -> tuple[FileDestination, ...]:
    """Where the Codex CLI calls with this config.toml: the selected provider first (`model_provider`,
    or the active `profile`'s), then every other provider the file defines or a profile selects (a
    `--profile` or `-c model_provider=` on the command line can pick any of them)."""
    config = load_toml(text)
    providers = config.get("model_providers", {})
    if not isinstance(providers, dict):
        raise ConfigFileError("model_providers must be a table")
    profiles = config.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigFileError("profiles must be a table")
    reserved = sorted(str(name) for name in providers if name in _CODEX_BUILT_IN)
    if reserved:
        # Codex 0.171 refuses to load such a file (validate_model_providers); older ones ignored the table
        raise ConfigFileError(f"model_providers names built-in providers, which Codex refuses: {', '.join(reserved)}")
    selected = _codex_string(config, "model_provider", "") or _CODEX_OPENAI
    active = _codex_string(config, "profile", "")
    if active is not None and isinstance(profiles.get(active), dict):
        selected = _codex_string(profiles[active], "model_provider", f"profiles.{active}.") or selected
    ids = [selected]
    for name, profile in profiles.items():
        if isinstance(profile, dict):
            chosen = _codex_string(profile, "model_provider", f"profiles.{name}.")
            if chosen is not None:
                ids.append(chosen)
    ids.extend(str(name) for name in providers)
    openai_base = _codex_string(config, "openai_base_url", "")
    out = []
    for provider_id in dict.fromkeys(ids):
        if provider_id != selected and provider_id not in providers and provider_id not in _CODEX_BUILT_IN:
            continue  # a profile not in use names an undefined provider: Codex fails only when it is chosen
        found = _codex_provider(provider_id, providers, openai_base, text)
        if found is not None:
            how = "selected" if provider_id == selected else "selectable"
            out.append(FileDestination(*found[:6], f"{found[6]} ({how})"))
    return tuple(out)


def _codex_provider(
    provider_id: str, providers: Mapping[str, Any], openai_base: str | None, text: str
) -> tuple[str, str | None, str | None, tuple[str, ...], str | None, int | None, str] | None:
    if provider_id == _CODEX_OPENAI:
        # the built-in provider: openai_base_url, else OpenAI. Codex 0.171 no longer reads the deprecated
        # OPENAI_BASE_URL (its real binary, given only that variable, calls api.openai.com: tests/unit/
        # test_codex_cli.py), so the injected variable does not move it
        line = _toml_key_line(text, None, "openai_base_url")
        url = openai_base or None
        return ("openai_base_url", url, None, (), OPENAI_DEFAULT_BASE_URL, line,
                "Codex built-in provider openai")  # fmt: skip
    if provider_id in _CODEX_OSS:
        return (f"model_providers.{provider_id}", None, None, ("CODEX_OSS_BASE_URL",), _CODEX_OSS[provider_id],
                None, f"Codex built-in provider {provider_id}")  # fmt: skip
    if provider_id == _CODEX_BEDROCK:
        return None  # AWS, not an OpenAI or Azure OpenAI route
    table = providers.get(provider_id)
    if table is None:
        raise ConfigFileError(f"model_provider {provider_id!r} is selected but model_providers does not define it")
    if not isinstance(table, dict):
        raise ConfigFileError(f"model_providers.{provider_id} must be a table")
    where = f"model_providers.{provider_id}."
    url = _codex_string(table, "base_url", where)
    line = _toml_key_line(text, f"model_providers.{provider_id}", "base_url")
    # to_api_provider: a provider without base_url calls OpenAI (chatgpt.com's Codex backend when
    # signed in with ChatGPT; an API key is what a pod has)
    return (f"{where}base_url", url, None, (), OPENAI_DEFAULT_BASE_URL, line, f"Codex model provider {provider_id}")


def _toml_key_line(text: str, table: str | None, key: str) -> int | None:
    """The line of `key = ...` in the `[table]` section (None: the top level, before any header);
    a best effort for messages, None when the file writes it another way (inline or dotted)."""
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            current = line.strip("[]").strip().replace('"', "").replace("'", "")
            continue
        if current == table and line.partition("=")[0].strip().strip("\"'") == key and "=" in line:
            return number
    return None


# --- AG2 / AutoGen OAI_CONFIG_LIST ------------------------------------------------------------------

#: config_list_from_json("OAI_CONFIG_LIST"): the variable holds the JSON, or the path of a file that
#: does (when a file exists there); without the variable, a file of that name in the working directory.
OAI_CONFIG_LIST_VARIABLE = "OAI_CONFIG_LIST"
#: api_type prefixes whose entries AG2 hands to a client of another provider (not OpenAI's SDK).
_AG2_OTHER_PROVIDERS = (
    "cerebras",
    "google",
    "anthropic",
    "mistral",
    "together",
    "groq",
    "cohere",
    "ollama",
    "bedrock",
)


def oai_config_list_destinations(text: str) -> tuple[FileDestination, ...]:
    """Where each entry of an AG2/AutoGen OAI_CONFIG_LIST (the file's text or the variable's JSON) calls."""
    entries = load_json(text)
    if not isinstance(entries, list):
        raise ConfigFileError("OAI_CONFIG_LIST must be a JSON list of model configurations")
    out = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigFileError(f"OAI_CONFIG_LIST[{index}] must be an object")
        found = _ag2_entry(index, entry)
        if found is not None:
            out.append(found)
    return tuple(out)


def _ag2_entry(index: int, entry: Mapping[str, Any]) -> FileDestination | None:
    where = f"[{index}]"
    for setting in ("base_url", "azure_endpoint", "api_type", "model_client_cls"):
        value = entry.get(setting)
        if value is not None and not isinstance(value, str):
            raise ConfigFileError(f"OAI_CONFIG_LIST{where}.{setting} must be a string")
    if entry.get("model_client_cls") is not None:
        return None  # a custom client class the application registers: its own business
    api_type = entry.get("api_type") or "openai"
    model = entry.get("model")
    note = f"AG2 config {model} (api_type {api_type})"
    if api_type.startswith("azure"):
        # _configure_azure_openai: azure_endpoint, else base_url; AzureOpenAI then reads AZURE_OPENAI_ENDPOINT
        endpoint = entry.get("azure_endpoint")
        setting = "azure_endpoint" if endpoint is not None else "base_url"
        url = endpoint if endpoint is not None else entry.get("base_url")
        return FileDestination(f"{where}.{setting}", url or None, None, ("AZURE_OPENAI_ENDPOINT",), None, None, note)
    if api_type.startswith(_AG2_OTHER_PROVIDERS):
        base = entry.get("base_url")
        return FileDestination(f"{where}.base_url", base, None, (), None, None, note) if base else None
    # OpenAI(**config): base_url, else OPENAI_BASE_URL, else OpenAI
    return FileDestination(
        f"{where}.base_url",
        entry.get("base_url") or None,
        None,
        ("OPENAI_BASE_URL",),
        OPENAI_DEFAULT_BASE_URL,
        None,
        note,
    )

"""The configuration files of the LiteLLM proxy, the Codex CLI and AutoGen/AG2, found where the
clients load them and read with modelroute.engine.clientfiles, each text once."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from modelroute.engine import clientfiles, shellcommands
from modelroute.engine.clients import OPENAI_DEFAULT_BASE_URL
from modelroute.engine.environment import ContainerEnv
from modelroute.engine.mounts import MountedFile, Origin
from modelroute.engine.remedies import Remedy
from modelroute.engine.verdict import Code

if TYPE_CHECKING:
    from modelroute.engine.mountedconfig import FileReader

OAI_CONFIG_LIST = clientfiles.OAI_CONFIG_LIST_VARIABLE


@dataclass(frozen=True, slots=True)
class ClientDestination:
    destination: clientfiles.FileDestination
    file: MountedFile
    client: str


@dataclass(frozen=True, slots=True)
class ClientDefault:
    """A client the container runs whose configuration names no base URL: it calls its built-in default."""

    what: str  # for messages
    url: str
    remedy: Remedy


def _env_values(env: ContainerEnv) -> dict[str, str | None]:
    return {name: setting.value for name, setting in env.settings.items()}


def client_files(reader: FileReader) -> None:
    env = reader.env
    values = _env_values(env)
    _litellm(reader, values)
    _codex(reader, values)
    oai = env.settings.get(clientfiles.OAI_CONFIG_LIST_VARIABLE)
    if oai is not None and oai.value is not None:
        text = oai.value.strip()
        if text.startswith("["):  # AG2 decodes the variable as JSON when it names no file
            origin = MountedFile(OAI_CONFIG_LIST, Origin.CONFIG_MAP, oai.field, f"env {OAI_CONFIG_LIST}", text)
            _destinations(reader, origin, "OAI_CONFIG_LIST", clientfiles.oai_config_list_destinations, "oai")
        elif text:
            file = reader.named(text, OAI_CONFIG_LIST)
            if file is not None:
                oai_file(reader, file)


def _hidden_location(reader: FileReader, name: str, what: str) -> None:
    setting = reader.env.settings[name]
    reader.problem(
        Code.ENDPOINT_NOT_VISIBLE,
        f"{name} names {what}, and comes from {setting.detail}, whose value ModelRoute cannot see; set it as a "
        "plain value or from a ConfigMap",
        setting.field,
    )


def _litellm(reader: FileReader, values: Mapping[str, str | None]) -> None:
    bucket = clientfiles.LITELLM_CONFIG_BUCKET_VARIABLE
    if bucket in values:
        setting = reader.env.settings[bucket]
        reader.problem(
            Code.ENDPOINT_NOT_VISIBLE,
            f"{bucket} makes the LiteLLM proxy load its config from a bucket, which ModelRoute cannot read; "
            "mount the config from a ConfigMap and name it with --config",
            setting.field,
        )
        return
    if values.get(clientfiles.LITELLM_CONFIG_VARIABLE, "") is None:
        _hidden_location(reader, clientfiles.LITELLM_CONFIG_VARIABLE, "the LiteLLM proxy's config file")
        return
    for path in clientfiles.litellm_config_paths(reader.argv, values):
        file = reader.named(path, "the LiteLLM proxy's config file")
        if file is None or file.text is None:
            continue
        try:
            includes = _once(clientfiles.litellm_includes, file.text)
        except clientfiles.ConfigFileError as error:
            reader.unreadable(file, "LiteLLM proxy config", str(error))
            continue
        texts: list[str] = []
        included_files: list[MountedFile] = []
        for include in includes:
            included = reader.named(posixpath.join(posixpath.dirname(file.path), include), f"include: in {file.path}")
            if included is not None and included.text is not None:
                texts.append(included.text)
                included_files.append(included)
        _destinations(
            reader,
            file,
            "LiteLLM proxy config",
            clientfiles.litellm_destinations,
            "litellm",
            tuple(texts),
            tuple(included_files),
        )


def _codex(reader: FileReader, values: Mapping[str, str | None]) -> None:
    named = clientfiles.CODEX_HOME_VARIABLE in values
    if named and values[clientfiles.CODEX_HOME_VARIABLE] is None:
        _hidden_location(reader, clientfiles.CODEX_HOME_VARIABLE, "the Codex CLI's configuration directory")
        return
    runs = shellcommands.runs_codex(reader.argv)
    home = values.get("HOME")
    config_path = clientfiles.codex_config_path(values, home)
    if config_path is None and runs:
        config_path = _mounted_codex_config(reader)
    configured = False  # a config.toml the CLI reads is provided by a volume (or named: reported if not)
    for path, read_as in (
        (config_path, "config"),
        (clientfiles.codex_dotenv_path(values, home), "dotenv"),
    ):
        if path is None:
            continue
        file = reader.files.file_at(path)
        if read_as == "config":
            configured = named or file.origin is not Origin.IMAGE
        if named and read_as == "config":
            found = reader.named(path, clientfiles.CODEX_HOME_VARIABLE)
        elif runs and read_as == "config":
            found = reader.named(path, "the Codex CLI's config file", optional=True)
        elif file.origin is Origin.SECRET:
            reader.claimed.add(file.path)
            reader.not_visible(file, f"the Codex CLI's {read_as} file")
            found = None
        else:
            found = file if file.origin is Origin.CONFIG_MAP and file.text is not None else None
        if found is None:
            continue
        reader.claimed.add(found.path)
        if read_as == "config":
            _destinations(reader, found, "Codex config", clientfiles.codex_destinations, "codex")
        else:
            reader.dotenv(found, override=True)  # the CLI loads it over its environment (but CODEX_ names)
    if runs and not configured:
        where = (
            f"no config.toml mounted at {config_path}"
            if config_path
            else "no config.toml mounted in a .codex directory (the container's env sets no HOME)"
        )
        reader.out.defaults.append(
            ClientDefault(
                f"the Codex CLI with {where} (so it would call "
                f"{OPENAI_DEFAULT_BASE_URL}: Codex does not read OPENAI_BASE_URL)",
                OPENAI_DEFAULT_BASE_URL,
                Remedy.instead(
                    "mount a $CODEX_HOME/config.toml (default $HOME/.codex/config.toml) from a ConfigMap that sets "
                    "openai_base_url, or the selected model provider's base_url, to {url}"
                ),
            )
        )


def _mounted_codex_config(reader: FileReader) -> str | None:
    """With no HOME in the env (the image's is unknown), a config.toml mounted in a `.codex` directory."""
    suffix = "/.codex/config.toml"
    return next((file.path for file in reader.files.files() if file.path.endswith(suffix)), None)


def oai_file(reader: FileReader, file: MountedFile) -> None:
    _destinations(reader, file, "OAI_CONFIG_LIST file", clientfiles.oai_config_list_destinations, "oai")


def _destinations(
    reader: FileReader,
    file: MountedFile,
    what: str,
    parse: Callable[..., tuple[clientfiles.FileDestination, ...]],
    client: str,
    included: tuple[str, ...] = (),
    included_files: tuple[MountedFile, ...] = (),
) -> None:
    assert file.text is not None
    reader.claimed.add(file.path)
    try:
        found = _once(parse, file.text, included) if included else _once(parse, file.text)
    except clientfiles.ConfigFileError as error:
        reader.unreadable(file, what, str(error))
        return
    # a destination written in an included file names that file (its path, its ConfigMap key, its mount)
    files = (file, *included_files)
    reader.out.destinations.extend(
        ClientDestination(d, files[d.included] if d.included < len(files) else file, client) for d in found
    )


_PARSED: dict[tuple[Any, ...], Any] = {}
_MAX_PARSED = 512
_T = TypeVar("_T")


def _once(parse: Callable[..., _T], *args: Any) -> _T:
    """A client file's reading, once per text (errors included): the key holds the ConfigMap's own
    string, whose hash Python keeps, so a pod that mounts a cached ConfigMap costs a dict look-up."""
    key = (parse, *args)
    result = _PARSED.get(key)
    if result is None:
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.clear()
        try:
            result = parse(*args)
        except clientfiles.ConfigFileError as error:
            result = error
        _PARSED[key] = result
    if isinstance(result, clientfiles.ConfigFileError):
        raise result
    return cast(_T, result)

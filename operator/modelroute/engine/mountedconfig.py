"""The configuration files a container's clients load, found among its mounts and read as settings.

What is read, and from where (docs/concepts.md, "What counts as configured", says the same):
- dotenv: `.env`, `.env.*` and `*.env` files wherever a ConfigMap mounts them, and the paths named by
  DOTENV_PATH, DOTENV_CONFIG_PATH, `dotenv_config_path=` and `--env-file=`; a name the container's
  env already sets is not read (neither python-dotenv nor node overrides the environment);
- a file the container's `sh -c` script sources (engine.shellcommands): read as dotenv OVER the env;
- Spring Boot: `application[-profile].{properties,yml,yaml}` wherever mounted (every profile and
  every document, whichever profiles are active), the files and directories named by
  spring.config.location, spring.config.additional-location and spring.config.import (as variables,
  `-D`/`--spring.` properties or properties in the files), and `configtree:` directories; a property
  the environment, the command line or SPRING_APPLICATION_JSON sets under the same relaxed name wins;
- .NET: `appsettings*.json` wherever mounted; a key the environment sets as `Section__Key` wins;
- the LiteLLM proxy config, the Codex CLI's config.toml and AutoGen's OAI_CONFIG_LIST, at the paths
  the clients load them from (modelroute.engine.clientconfig, with the readers of clientfiles);
- every other file a ConfigMap mounts: scanned for model-host URLs, as env values are.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from dotenv.variables import parse_variables

from modelroute.engine import clientfiles, shellcommands
from modelroute.engine.clientconfig import OAI_CONFIG_LIST, ClientDefault, ClientDestination, client_files, oai_file
from modelroute.engine.clients import canonical_name
from modelroute.engine.configfiles import Format, read
from modelroute.engine.environment import ContainerEnv, EnvSetting, Source
from modelroute.engine.mounts import ContainerFiles, MountedFile, Origin
from modelroute.engine.remedies import Remedy
from modelroute.engine.verdict import Code

_DOTENV_VARIABLES = ("DOTENV_PATH", "DOTENV_CONFIG_PATH")
#: Variables that name configuration files (or where they come from).
FILE_NAMING_VARIABLES = frozenset(
    {
        *_DOTENV_VARIABLES,
        "SPRING_CONFIG_LOCATION",
        "SPRING_CONFIG_ADDITIONAL_LOCATION",
        "SPRING_CONFIG_IMPORT",
        "SPRING_CONFIG_NAME",
        clientfiles.OAI_CONFIG_LIST_VARIABLE,
        clientfiles.CODEX_HOME_VARIABLE,
        clientfiles.LITELLM_CONFIG_VARIABLE,
        clientfiles.LITELLM_CONFIG_BUCKET_VARIABLE,
    }
)
_DOTENV_ARGUMENT = re.compile(r"(?:^|\s)(?:dotenv_config_path=|--env-file=)(\S+)")
#: Spring Boot properties that name the configuration files it loads.
SPRING_LOCATION_PROPERTIES = ("spring.config.location", "spring.config.additional-location", "spring.config.import")
_SPRING_FILE = re.compile(r"application(-[^/]+)?\.(properties|ya?ml)", re.IGNORECASE)
_APPSETTINGS_FILE = re.compile(r"appsettings(\.[^/]+)?\.json", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\$\{([^}:]+)(?::([^}]*))?\}")
_SPRING_FORMAT = {".properties": Format.PROPERTIES, ".yml": Format.YAML, ".yaml": Format.YAML}
_DEFAULT_CONFIG_DIRS = ("", "config")
_SOURCED = "which the container's shell sources over its environment"
_SHELL_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _is_dotenv(name: str) -> bool:
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def _spring_format(path: str) -> Format | None:
    return _SPRING_FORMAT.get(posixpath.splitext(path)[1].lower())


def config_format(path: str, spring_names: frozenset[str] = frozenset()) -> Format | None:
    """The format a file's name says clients read it in, when it is one of the well-known names
    (`spring_names`: the base names spring.config.name sets besides `application`)."""
    name = posixpath.basename(path)
    if _is_dotenv(name):
        return Format.DOTENV
    if _SPRING_FILE.fullmatch(name):
        return _spring_format(name)
    if spring_names and (fmt := _spring_format(name)) is not None:
        base = name.rsplit(".", 1)[0]
        if base in spring_names or base.split("-", 1)[0] in spring_names:
            return fmt
    if _APPSETTINGS_FILE.fullmatch(name):
        return Format.APPSETTINGS
    return None


@dataclass(frozen=True, slots=True)
class FileProblem:
    code: Code
    message: str
    field: str
    possible: bool = False  # a file a client may load that nothing names: see ContainerFindings.doubts


@dataclass(frozen=True, slots=True)
class FileScan:
    """A ConfigMap file no reader claims: its text is scanned for model-host URLs."""

    text: str
    label: str
    field: str


@dataclass(slots=True)
class MountedConfig:
    settings: list[EnvSetting] = field(default_factory=list)
    scans: list[FileScan] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    destinations: list[ClientDestination] = field(default_factory=list)
    defaults: list[ClientDefault] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.settings or self.scans or self.problems or self.destinations or self.defaults)


def remedy(file: MountedFile, key: str, fmt: Format | str) -> Remedy:
    """What to change, for messages: the mutation cannot edit a mounted file (engine.remedies)."""
    mounted = not (file.source or "").startswith("env ")  # OAI_CONFIG_LIST's JSON in a variable
    return Remedy(key, file.source or file.path, str(fmt), mounted)


class FileReader:
    """Reads a container's configuration files into a MountedConfig, reporting what it cannot read."""

    def __init__(
        self,
        files: ContainerFiles,
        env: ContainerEnv,
        argv: list[str],
        spring_value: Callable[[str], EnvSetting | None],
    ) -> None:
        self.files = files
        self.env = env
        self.argv = argv
        self.spring_value = spring_value
        self.out = MountedConfig()
        self.claimed: set[str] = set()  # paths a reader has read (or reported)
        self.config_dirs: set[str] = set()  # directories a client loads files from

    # -- where files come from ------------------------------------------------------------------
    def named(self, path: str, by: str, optional: bool = False) -> MountedFile | None:
        """A file a variable or an argument names: its text when a ConfigMap provides it, reported otherwise."""
        file = self.files.file_at(path)
        self.claimed.add(file.path)
        if file.origin is Origin.CONFIG_MAP:
            if file.text is None:
                self.problem(
                    Code.UNREADABLE_CONFIG_FILE,
                    f"{by} names {file.where()}, which {file.unreadable or 'has no text'}: its route cannot be checked",
                    file.field,
                )
                return None
            return file
        if file.origin is Origin.SECRET:
            self.not_visible(file, by)
        elif file.origin is Origin.MISSING:
            self.problem(
                Code.UNRESOLVED_REFERENCE,
                f"{by} names {file.path}, which comes from {file.source}; it is loaded, unchecked, when it appears",
                file.field,
            )
        elif file.origin is Origin.VOLUME:
            self.problem(
                Code.ENDPOINT_NOT_VISIBLE,
                f"{by} names {file.path}, which comes from {file.source}; "
                "ModelRoute cannot read it. Mount the file from a ConfigMap",
                file.field,
            )
        elif file.origin is Origin.IMAGE and not optional:
            self.problem(
                Code.ENDPOINT_NOT_VISIBLE,
                f"{by} names {file.path}, which no volume provides: it comes "
                "from the image, which ModelRoute cannot read. Mount the file from a ConfigMap",
                "",
            )
        return None

    def not_visible(self, file: MountedFile, by: str, possible: bool = False) -> None:
        """`possible`: nothing names the file, a client may load it (it counts only where the container
        is otherwise configured for OpenAI traffic)."""
        self.problem(
            Code.ENDPOINT_NOT_VISIBLE,
            f"{by}: {file.path} comes from {file.source}, which ModelRoute never reads; a client loads it as its "
            "configuration. Mount it from a ConfigMap so its route can be proven",
            file.field,
            possible,
        )

    def problem(self, code: Code, message: str, field: str, possible: bool = False) -> None:
        self.out.problems.append(FileProblem(code, message, field, possible))

    def unreadable(self, file: MountedFile, what: str, error: str) -> None:
        self.problem(
            Code.UNREADABLE_CONFIG_FILE,
            f"{file.where()} is a {what} that cannot be read: {error}; ModelRoute cannot tell where it routes",
            file.field,
        )

    # -- settings -------------------------------------------------------------------------------
    def setting(
        self,
        name: str,
        value: str,
        file: MountedFile,
        key: str,
        fmt: Format,
        hidden: tuple[str, ...] = (),
        condition: str = "",
        line: int | None = None,
        fix: Remedy | None = None,
    ) -> None:
        at = f" line {line}" if line else ""
        when = f", {condition}" if condition else ""
        label = f"{key} in {file.where()}{at}{when}"
        fix = remedy(file, key, fmt) if fix is None else fix
        self.out.settings.append(
            EnvSetting(name, value, Source.CONFIG_MAP, file.field, label, hidden, True, label, fix)
        )

    def dotenv(self, file: MountedFile, override: bool = False, sourced: bool = False) -> None:
        """A dotenv file: the environment wins over it, unless the client loads it over the environment
        (`override`: Codex's `.env`, except CODEX_ names) or a shell sources it (`sourced`: every name)."""
        assert file.text is not None
        reading = read(Format.DOTENV, file.text)
        if reading.error is not None:
            self.unreadable(file, "dotenv file", reading.error)
            return
        settings = self.env.settings
        loaded: dict[str, str | None] = {}
        for entry in reading.entries:
            if entry.value is None:
                continue
            hidden: list[str] = []
            value = entry.value
            if "${" in value:
                # python-dotenv expands ${VAR} with the environment winning over the file's own values;
                # a shell has already assigned the file's lines above
                known: dict[str, str | None] = dict(loaded)
                for atom in parse_variables(value):
                    name = getattr(atom, "name", None)
                    if name is not None and name in settings and not (sourced and name in loaded):
                        known[name] = settings[name].value
                        if settings[name].value is None:
                            hidden.append(name)
                value = "".join(atom.resolve(known) for atom in parse_variables(value))
            loaded[entry.key] = value
            if entry.key in settings and not sourced and not (override and not entry.key.startswith("CODEX_")):
                continue  # the container's env wins
            if sourced:
                fix = replace(
                    remedy(file, entry.key, ""), also="stop sourcing it: the shell assigns it over the environment"
                )
                self.setting(entry.key, value, file, entry.key, Format.DOTENV, tuple(hidden), _SOURCED, entry.line, fix)
                continue
            self.setting(entry.key, value, file, entry.key, Format.DOTENV, tuple(hidden), line=entry.line)

    def spring(self, file: MountedFile, fmt: Format) -> None:
        assert file.text is not None
        reading = read(fmt, file.text)
        if reading.error is not None:
            self.unreadable(file, "Spring Boot configuration file", reading.error)
            return
        for entry in reading.entries:
            self.spring_property(entry.key, entry.value or "", file, fmt, entry.condition, entry.line)
            if canonical_name(entry.key) == canonical_name("spring.config.import") and entry.value:
                self.spring_locations(entry.value, f"spring.config.import in {file.path}", file.path)

    def spring_property(
        self, key: str, value: str, file: MountedFile, fmt: Format, condition: str = "", line: int | None = None
    ) -> None:
        if self.spring_value(key) is not None:
            return  # the environment, the command line or SPRING_APPLICATION_JSON wins
        hidden: list[str] = []
        if "${" in value:
            value, hidden = self.placeholders(value)
        self.setting(key, value, file, key, fmt, tuple(hidden), condition, line)

    def placeholders(self, value: str) -> tuple[str, list[str]]:
        hidden: list[str] = []

        def one(match: re.Match[str]) -> str:
            found = self.spring_value(match.group(1))
            if found is None:
                return match.group(2) if match.group(2) is not None else match.group(0)
            if found.value is None:
                hidden.append(match.group(1))
                return match.group(0)
            return found.value

        return _PLACEHOLDER.sub(one, value), hidden

    def appsettings(self, file: MountedFile) -> None:
        assert file.text is not None
        reading = read(Format.APPSETTINGS, file.text)
        if reading.error is not None:
            self.unreadable(file, ".NET settings file", reading.error)
            return
        env_names = {name.upper() for name in self.env.settings}
        for entry in reading.entries:
            name = entry.key.replace(":", "__")
            if name.upper() in env_names:
                continue  # environment variables override appsettings.json in the .NET host
            self.setting(name, entry.value or "", file, entry.key, Format.APPSETTINGS)

    def configtree(self, directory: str, by: str) -> None:
        where = self.files.directory(directory)
        if where.origin in (Origin.SECRET, Origin.VOLUME):
            self.not_visible(where, by)
            return
        root = self.files.absolute(directory).rstrip("/") + "/"
        for file in self.files.files_under(directory):
            self.claimed.add(file.path)
            if file.origin is Origin.SECRET:
                self.not_visible(file, by)
            elif file.text is not None:
                key = file.path[len(root) :].replace("/", ".")
                self.spring_property(key, file.text.rstrip("\r\n"), file, Format.PROPERTIES)

    def spring_locations(self, value: str, by: str, relative_to: str | None = None) -> None:
        for raw in value.split(","):
            location = raw.strip()
            optional = location.startswith("optional:")
            location = location.removeprefix("optional:")
            if location.startswith("configtree:"):
                self.configtree(self.relative(location.removeprefix("configtree:"), relative_to), by)
                continue
            if location.startswith("classpath:") or not location:
                continue  # inside the application's jar: part of the image's build
            location = self.relative(location.removeprefix("file:"), relative_to)
            if location.endswith("/"):
                self.config_dirs.add(self.files.absolute(location.rstrip("*/").rstrip("/") or "/"))
                continue
            fmt = _spring_format(location)
            if fmt is None:
                continue
            file = self.named(location, by, optional)
            if file is not None:
                self.spring(file, fmt)

    def relative(self, path: str, relative_to: str | None) -> str:
        if relative_to is None or path.startswith("/"):
            return path
        return posixpath.join(posixpath.dirname(relative_to), path)


def read_mounted_config(
    files: ContainerFiles,
    env: ContainerEnv,
    argv: list[str],
    spring_value: Callable[[str], EnvSetting | None],
    spring_locations: Mapping[str, str],
    named: bool = True,
) -> MountedConfig:
    """Every setting, URL and problem the container's mounted configuration files hold.

    `spring_value(name)` finds a setting by Spring Boot's relaxed name among the environment, the
    command line and SPRING_APPLICATION_JSON; `spring_locations` are spring.config.* values set there.
    `named=False` says no variable or argument names a file (detection checks it cheaply first): the
    files are then judged by their names and contents alone."""
    reader = FileReader(files, env, argv, spring_value)
    spring_names = _named_files(reader, spring_locations) if named else frozenset()
    if files.working_dir:
        reader.config_dirs.update(files.absolute(d) for d in _DEFAULT_CONFIG_DIRS)
    for file in list(files.files()):
        if file.path in reader.claimed:
            continue
        fmt = config_format(file.path, spring_names)
        if file.origin is Origin.SECRET:
            if fmt is not None or posixpath.basename(file.path).startswith(OAI_CONFIG_LIST):
                reader.not_visible(file, "a configuration file by its name", possible=True)
            continue
        if file.text is None:
            if fmt is not None or posixpath.basename(file.path).startswith(OAI_CONFIG_LIST):
                reader.problem(
                    Code.UNREADABLE_CONFIG_FILE,
                    f"a client loads {file.where()} as configuration by its name, but it "
                    f"{file.unreadable or 'has no text'}: its route cannot be checked",
                    file.field,
                )
            continue
        if fmt is Format.DOTENV:
            reader.dotenv(file)
        elif fmt is Format.APPSETTINGS:
            reader.appsettings(file)
        elif fmt is not None:
            reader.spring(file, fmt)
        elif posixpath.basename(file.path).startswith(OAI_CONFIG_LIST):
            oai_file(reader, file)
        elif ":" in file.text:  # no colon, no URL (a CA bundle, most data files): nothing to scan
            reader.out.scans.append(FileScan(file.text, file.where(), file.field))
    reported: set[str] = set()
    for directory in sorted(reader.config_dirs):
        where = files.directory(directory)
        if where.origin is Origin.SECRET and where.source and where.field not in reported:
            reported.add(where.field)
            reader.not_visible(where, "a directory where clients look for configuration files", possible=True)
    return reader.out


def _shell_value(reader: FileReader, name: str, written: str) -> str:
    setting = reader.env.settings.get(name)
    return setting.value if setting is not None and setting.value is not None else written


def _sourced_file(reader: FileReader, path: str) -> None:
    """A file the container's shell sources: its assignments replace the container's env. One the image
    or another volume holds is reported only under a dotenv name (a virtualenv's `activate` or a
    profile script is no configuration)."""
    if "$" in path:  # the shell expands $NAME and ${NAME} from the container's env
        path = _SHELL_VARIABLE.sub(lambda m: _shell_value(reader, m.group(1) or m.group(2), m.group(0)), path)
    where = reader.files.file_at(path)
    if where.origin in (Origin.IMAGE, Origin.VOLUME) and not _is_dotenv(posixpath.basename(where.path)):
        return
    file = reader.named(path, "the container's shell script (which sources the file over the environment)")
    if file is not None:
        reader.dotenv(file, sourced=True)


def _named_files(reader: FileReader, spring_locations: Mapping[str, str]) -> frozenset[str]:
    """Read the files variables and arguments name; returns the base names spring.config.name sets."""
    settings = reader.env.settings
    for name in _DOTENV_VARIABLES:
        setting = settings.get(name)
        if setting is not None and setting.value:
            file = reader.named(setting.value.strip(), f"{name}")
            if file is not None:
                reader.dotenv(file)
    for arg in reader.argv:
        for match in _DOTENV_ARGUMENT.finditer(arg):
            file = reader.named(match.group(1).strip("\"'"), f"the argument {match.group(0).strip()}")
            if file is not None:
                reader.dotenv(file)
    for path in shellcommands.sourced_files(reader.argv):
        _sourced_file(reader, path)
    for name, value in spring_locations.items():
        reader.spring_locations(value, name)
    client_files(reader)
    config_name = reader.spring_value("spring.config.name")
    if config_name is None or not config_name.value:
        return frozenset()
    return frozenset(n.strip() for n in config_name.value.split(",") if n.strip())

"""Readers of the configuration file formats clients load, bounded and parse-once.

Every reader takes a file's text and returns its settings as (key, value, line) entries, or says
why the file cannot be read (too large, too deep, binary, invalid UTF-8, YAML aliases that expand
beyond reason, bad syntax). A reading is cached by (format, text): the text of a ConfigMap comes
from one cached object shared by every pod that mounts it, so each ConfigMap version is parsed once.

- dotenv: python-dotenv's own parser (`dotenv.parser.parse_stream`), as `load_dotenv` reads it;
- Java `.properties` (Spring Boot): `javaproperties`, which implements `java.util.Properties.load`
  (escapes, continuation lines, `:`/`=`/space separators), element by element so that every
  document of a multi-document file (`#---`) is kept;
- YAML (Spring Boot): PyYAML's safe loader, every document, flattened as Spring Boot binds it
  (`a.b[0].c`);
- `appsettings*.json` (.NET Microsoft.Extensions.Configuration): read as its JSON provider reads
  them (a byte order mark dropped, `//` and `/* */` comments skipped, trailing commas allowed:
  RapidJSON's parser in that mode); nested keys flatten to `Section:Key`, arrays to `Section:0`.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import javaproperties
import rapidjson
import yaml
from dotenv.parser import parse_stream

from modelroute.engine.configtext import MAX_DEPTH, MAX_FILE_CHARS, json_depth

#: Values one file may hold once flattened; a YAML alias bomb stops here.
MAX_VALUES = 20_000
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Format(StrEnum):
    DOTENV = "dotenv"
    PROPERTIES = "properties"
    YAML = "yaml"
    APPSETTINGS = "appsettings"


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    value: str | None  # None: a dotenv name with no `=`, which sets nothing
    line: int | None = None
    #: the document's condition, for messages: "on-profile prod"
    condition: str = ""


@dataclass(frozen=True, slots=True)
class Reading:
    entries: tuple[Entry, ...] = ()
    error: str | None = None  # why the file cannot be read; None when it could


class UnreadableFileError(ValueError):
    """A file that cannot be read; str() says what and where."""


def check_text(text: str) -> None:
    """Refuse what no reader should parse: oversized, binary or not valid UTF-8."""
    if len(text) > MAX_FILE_CHARS:
        raise UnreadableFileError(f"it is larger than {MAX_FILE_CHARS} characters")
    if "\x00" in text:
        raise UnreadableFileError(f"it is binary (a NUL character at offset {text.index(chr(0))})")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UnreadableFileError(f"it is not valid UTF-8 (at offset {error.start})") from None


@functools.lru_cache(maxsize=1024)
def read(fmt: Format, text: str) -> Reading:
    """The settings of a file in `fmt`; parsed once per (format, text)."""
    try:
        check_text(text)
        return Reading(tuple(_READERS[fmt](text)))
    except UnreadableFileError as error:
        return Reading(error=str(error))
    except RecursionError:
        return Reading(error=f"it is nested deeper than {MAX_DEPTH} levels")


def _dotenv(text: str) -> Iterator[Entry]:
    for binding in parse_stream(io.StringIO(text)):
        # python-dotenv skips a line it cannot parse (with a warning) and loads the rest: so do we
        if binding.key is not None and not binding.error:
            yield Entry(binding.key, binding.value, binding.original.line)


_DOCUMENT_SEPARATORS = frozenset({"#---", "!---"})


def _properties(text: str) -> Iterator[Entry]:
    line = 1
    condition = ""
    try:
        elements = list(javaproperties.parse(text))
    except ValueError as error:  # an invalid \\u escape
        raise UnreadableFileError(f"it is not a valid properties file ({error})") from None
    for element in elements:
        if isinstance(element, javaproperties.KeyValue):
            if element.key in _PROFILE_KEYS:
                condition = f"on-profile {element.value}"
            yield Entry(element.key, element.value, line, condition)
        elif isinstance(element, javaproperties.Comment) and element.source.strip() in _DOCUMENT_SEPARATORS:
            condition = ""
        line += element.source.count("\n")


_PROFILE_KEYS = frozenset({"spring.config.activate.on-profile", "spring.profiles"})


def _yaml_shape(text: str) -> None:
    """Depth and alias count from the event stream, before anything is built (the parser does not recurse)."""
    depth = aliases = 0
    try:
        for event in yaml.parse(text, Loader=_YAML_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise UnreadableFileError(f"it is nested deeper than {MAX_DEPTH} levels (line {_line(event)})")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
    except yaml.YAMLError as error:
        raise UnreadableFileError(f"it is not valid YAML ({_yaml_where(error)})") from None


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1 if event.start_mark is not None else 0


def _yaml_where(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "syntax error"
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_VALUES

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise UnreadableFileError(f"it expands to more than {MAX_VALUES} values (YAML aliases?)")


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flatten(node: Any, separator: str, index_style: str, budget: _Budget | None = None) -> list[tuple[str, str]]:
    """Nested mappings and lists as (key, value) pairs: `a.b[0]` (Spring) or `a:b:0` (.NET)."""
    budget = budget or _Budget()
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, Any, int]] = [("", node, 0)]
    while stack:
        prefix, item, depth = stack.pop()
        budget.spend()
        if depth > MAX_DEPTH:
            raise UnreadableFileError(f"it is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            children = [(f"{prefix}{separator}{k}" if prefix else _scalar(k), v) for k, v in item.items()]
        elif isinstance(item, list):
            children = [
                (prefix + (f"[{i}]" if index_style == "[]" else f"{separator}{i}"), v) for i, v in enumerate(item)
            ]
        else:
            out.append((prefix, _scalar(item)))
            continue
        stack.extend((key, value, depth + 1) for key, value in reversed(children))
    return out


def _spring_yaml(text: str) -> Iterator[Entry]:
    _yaml_shape(text)
    budget = _Budget()
    try:
        documents = list(yaml.load_all(text, Loader=_YAML_LOADER))
    except yaml.YAMLError as error:
        raise UnreadableFileError(f"it is not valid YAML ({_yaml_where(error)})") from None
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, dict):
            raise UnreadableFileError("a document is not a mapping of properties")
        pairs = flatten(document, ".", "[]", budget)
        profile = next((v for k, v in pairs if k in _PROFILE_KEYS), None)
        condition = f"on-profile {profile}" if profile else ""
        for key, value in pairs:
            yield Entry(key, value, None, condition)


_DOTNET_JSON = rapidjson.PM_COMMENTS | rapidjson.PM_TRAILING_COMMAS
_OFFSET = re.compile(r"at offset (\d+): (.*)")


def _appsettings(text: str) -> Iterator[Entry]:
    # .NET reads the file through a StreamReader, which drops a byte order mark, then System.Text.Json
    # with comments skipped and trailing commas allowed (single quotes, unquoted names and the like
    # it refuses, and so does this parser)
    text = text.removeprefix("\ufeff")
    if json_depth(text, comments=True) > MAX_DEPTH:
        raise UnreadableFileError(f"it is nested deeper than {MAX_DEPTH} levels")
    try:
        data = rapidjson.loads(text, parse_mode=_DOTNET_JSON)
    except rapidjson.JSONDecodeError as error:
        found = _OFFSET.search(str(error))
        if found is None:
            raise UnreadableFileError(f"it is not valid JSON ({error})") from None
        line = text.encode("utf-8")[: int(found.group(1))].count(b"\n") + 1
        raise UnreadableFileError(f"it is not valid JSON (at line {line}: {found.group(2).rstrip('.')})") from None
    if not isinstance(data, dict):
        raise UnreadableFileError("it is not a JSON object")
    for key, value in flatten(data, ":", ":"):
        yield Entry(key, value)


_READERS = {
    Format.DOTENV: _dotenv,
    Format.PROPERTIES: _properties,
    Format.YAML: _spring_yaml,
    Format.APPSETTINGS: _appsettings,
}

"""Configuration file text read the way the clients read it, with bounded work on hostile input.

A client's configuration file comes from a ConfigMap, which any namespace editor can write: it may be
huge, nested a million levels deep, binary, or a YAML "billion laughs". Each loader here returns the
plain data the client's own parser would build (PyYAML's safe loader for YAML, as LiteLLM and most
Python clients use; the stdlib's TOML 1.0 reader; JSON) or raises ConfigFileError saying what and
where. No other exception leaves this module, and the work is bounded by the limits below.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import yaml

#: A ConfigMap holds at most 1 MiB in all; a single file larger than that cannot come from one.
MAX_FILE_CHARS = 1024 * 1024
#: Nesting deeper than any client configuration needs (LiteLLM's deepest is about 6).
MAX_DEPTH = 64
#: Nodes of a YAML document once its aliases are expanded: a document whose aliases multiply it
#: past this is refused, since the client itself would build (and walk) every copy.
MAX_EXPANDED_NODES = 200_000

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_TOML_LINE = re.compile(r"\(at line (\d+)")
_BRACKET = re.compile(r"[\[\]{}]")
_JSON_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_STRINGS_AND_COMMENTS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*[\s\S]*?\*/')
_TOML_STRINGS_AND_COMMENTS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*')


class ConfigFileError(ValueError):
    """A configuration file a client would load and cannot: what is wrong, and where when known."""

    def __init__(self, what: str, line: int | None = None) -> None:
        self.what = what
        self.line = line
        super().__init__(f"line {line}: {what}" if line is not None else what)


def check_text(text: str, kind: str) -> None:
    """Refuse text no client reads as configuration: too large, binary, or not Unicode text."""
    if len(text) > MAX_FILE_CHARS:
        raise ConfigFileError(f"the {kind} file is larger than {MAX_FILE_CHARS // 1024} KiB")
    if "\x00" in text:
        raise ConfigFileError(f"the {kind} file is binary (it contains NUL characters)", _line_of(text, "\x00"))
    surrogate = _LONE_SURROGATE.search(text)
    if surrogate is not None:
        raise ConfigFileError(f"the {kind} file is not valid UTF-8", text.count("\n", 0, surrogate.start()) + 1)


def _line_of(text: str, needle: str) -> int:
    return text.count("\n", 0, max(text.find(needle), 0)) + 1


def _yaml_line(error: yaml.YAMLError) -> int | None:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def _check_nesting(text: str) -> bool:
    """Depth from the event stream, which the parser produces without recursion: the composer that
    follows recurses once per level, so the depth is bounded before it runs. Whether it has aliases."""
    depth = 0
    aliases = False
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                aliases = True
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigFileError(f"the YAML file is nested deeper than {MAX_DEPTH} levels", _mark(event))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as error:
        raise ConfigFileError(f"invalid YAML: {getattr(error, 'problem', None) or error}", _yaml_line(error)) from None
    return aliases


def _mark(event: yaml.Event | yaml.Node) -> int | None:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else None


def _check_expansion(root: yaml.Node) -> None:
    """Count the nodes the document has once aliases are expanded, stopping at the bound (a node
    reached twice through aliases counts twice, as the client's walk over the data would)."""
    budget = MAX_EXPANDED_NODES
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise ConfigFileError(
                f"the YAML file expands to more than {MAX_EXPANDED_NODES} nodes through its aliases", _mark(root)
            )
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)


def compose_yaml(text: str) -> yaml.Node | None:
    """The node graph of a single-document YAML file (positions for messages), bounds checked."""
    check_text(text, "YAML")
    aliases = _check_nesting(text)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as error:
        raise ConfigFileError(f"invalid YAML: {getattr(error, 'problem', None) or error}", _yaml_line(error)) from None
    finally:
        loader.dispose()
    if root is not None and aliases:
        _check_expansion(root)
    return root


def construct_yaml(root: yaml.Node | None) -> Any:
    """The data PyYAML's safe loader builds from a node graph that `compose_yaml` returned."""
    if root is None:
        return None
    loader = _Loader("")
    try:
        return loader.construct_document(root)
    except (yaml.YAMLError, RecursionError, TypeError, ValueError) as error:
        # a merge key (<<) on a non-mapping, an unhashable key, a timestamp out of range...
        raise ConfigFileError(f"invalid YAML: {getattr(error, 'problem', None) or error}", _mark(root)) from None
    finally:
        loader.dispose()


def load_yaml(text: str) -> Any:
    """What `yaml.safe_load(text)` returns, or ConfigFileError."""
    return construct_yaml(compose_yaml(text))


def load_toml(text: str) -> dict[str, Any]:
    """What `tomllib.loads(text)` returns (TOML 1.0, as the Rust `toml` crate reads it), or ConfigFileError."""
    _check_size_and_depth(text, "TOML", _TOML_STRINGS_AND_COMMENTS)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _TOML_LINE.search(message)
        what = _TOML_LINE.split(message, maxsplit=1)[0].strip().rstrip("(").strip()
        raise ConfigFileError(f"invalid TOML: {what}", int(found.group(1)) if found else None) from None
    except RecursionError:
        raise _too_deep("TOML") from None


def load_json(text: str) -> Any:
    """What `json.loads(text)` returns, or ConfigFileError."""
    _check_size_and_depth(text, "JSON", _JSON_STRINGS)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigFileError(f"invalid JSON: {error.msg}", error.lineno) from None
    except RecursionError:
        raise _too_deep("JSON") from None


def _check_size_and_depth(text: str, kind: str, strings: re.Pattern[str]) -> None:
    check_text(text, kind)
    if _bracket_depth(text, strings) > MAX_DEPTH:
        raise _too_deep(kind)


def _too_deep(kind: str) -> ConfigFileError:
    return ConfigFileError(f"the {kind} file is nested deeper than {MAX_DEPTH} levels")


def json_depth(text: str, *, comments: bool = False) -> int:
    """How deeply a JSON text's arrays and objects nest, checked before a parser whose stack grows with
    the nesting runs; `comments` for the JSON with `//` and `/* */` comments that .NET reads."""
    return _bracket_depth(text, _JSON_STRINGS_AND_COMMENTS if comments else _JSON_STRINGS)


def _bracket_depth(text: str, strings: re.Pattern[str]) -> int:
    """How deeply the arrays and tables of a JSON or TOML text nest, strings and comments left out
    (an unterminated one counts as text: the parser refuses the file then)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(strings.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest

"""Where a field sits in a document's text: the line numbers of messages, SARIF, JUnit and JSON results.

The fast reader (yaml-rs) keeps no positions, so a document is read a second time, by PyYAML's
composer (on libyaml when it is built), and only when a line is wanted: for a document with a
violation or an error. Clean documents cost nothing more than before. The composer reads JSON too
(JSON is YAML's flow style); where it reads a document differently from yaml-rs (a YAML 1.1 corner),
the line falls back to the document's first line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Step = str | int
FieldPath = tuple[Step, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STEP = re.compile(r"\.?([^.\[\]\s]+)|\[(\d+)\]")
_CONTENT_LINE = re.compile(r"^(?:[ \t]+[^ \t\r\n#]|[^ \t\r\n#%-]|-(?!--))", re.MULTILINE)


def parse_field(field: str) -> FieldPath:
    """`spec.containers[0].env[1]` as steps; what does not read as a path ends it (a note after a space)."""
    steps: list[Step] = []
    position = 0
    for match in _STEP.finditer(field):
        if match.start() != position:
            break
        name, index = match.groups()
        steps.append(int(index) if index is not None else name)
        position = match.end()
    return tuple(steps)


def render_field(steps: Sequence[Step]) -> str:
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def first_content_line(text: str, first_line: int) -> int:
    """The line where a document's content starts: past its `---` marker, comments and directives."""
    match = _CONTENT_LINE.search(text)
    return first_line + (text.count("\n", 0, match.start()) if match else 0)


class Positions:
    """One document's composed node tree, to answer where its fields are."""

    __slots__ = ("_first_line", "_root")

    def __init__(self, text: str, first_line: int) -> None:
        self._first_line = first_line
        try:
            self._root: Node | None = yaml.compose(text, Loader=_Loader)
        except (yaml.YAMLError, ValueError, RecursionError):
            self._root = None

    def line(self, steps: Sequence[Step], fallback: int) -> int:
        """The line of the deepest part of this path the document has (the key's line for a mapping)."""
        node, line = self._root, None
        if node is not None:
            line = node.start_mark.line
        for step in steps:
            child = _child(node, step)
            if child is None:
                break
            line, node = child
        return fallback if line is None else self._first_line + line

    def first_duplicate(self) -> tuple[FieldPath, int] | None:
        """The first key that a mapping holds twice, with its path and line (what strict decoding refuses)."""
        return _first_duplicate(self._root, (), self._first_line) if self._root is not None else None


def _child(node: Node | None, step: Step) -> tuple[int, Node] | None:
    if isinstance(node, MappingNode) and isinstance(step, str):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == step:
                return key.start_mark.line, value
    elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        item = node.value[step]
        return item.start_mark.line, item
    return None


def _first_duplicate(node: Node, path: FieldPath, first_line: int) -> tuple[FieldPath, int] | None:
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else None
            if name is not None:
                if name in seen:
                    return (*path, name), first_line + key.start_mark.line
                seen.add(name)
            found = _first_duplicate(value, (*path, name) if name is not None else path, first_line)
            if found:
                return found
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            found = _first_duplicate(item, (*path, index), first_line)
            if found:
                return found
    return None

"""Reading manifests from files, directories and stdin, with errors that name the file and document.

Files are read as a stream of documents: a YAML stream is cut at its document markers the way
kubectl cuts it (a line starting with `---` or `...`), and each document is parsed on its own, so
memory follows the largest document, not the number of them. YAML is parsed by yaml-rs (a YAML 1.2
parser in Rust, several times faster than PyYAML's C loader, with limits on alias replay), JSON by
orjson.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml_rs
from pydantic import ValidationError

from modelroute.api import kinds
from modelroute.api.meta import GROUP, explain
from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy
from modelroute.cli.lookalikes import lookalike_problem
from modelroute.cli.positions import FieldPath, Positions, first_content_line, render_field
from modelroute.engine import PolicyContext, config_map_data, namespace_labels_of

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"

#: YAML aliases may make a document grow past its own text by at most this many bytes (each alias
#: replays at most the whole document, so the number of replays allowed is this over the document's size).
MAX_ALIAS_EXPANSION_BYTES = 16 * 1024 * 1024
#: And replay at most this many values, however small.
MAX_ALIAS_REPLAYS = 1_000_000

_MARKER_LINE = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|\Z)", re.MULTILINE)
# A line that is part of a document: not blank, not a comment, not a directive.
_CONTENT = re.compile(r"^(?:[ \t]+[^ \t\r\n#]|[^ \t\r\n#%])", re.MULTILINE)
_YAML_ERROR_AT = re.compile(r"at line (\d+), column (\d+)")

CONTEXT_KINDS = tuple(k.kind for k in kinds.CONTEXT_KINDS)


#: Exit codes of the commands that read manifests.
EXIT_OK, EXIT_DENIED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


class InputError(Exception):
    """Bad input: the message names the file and the document."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """The text of one document of a source, before parsing."""

    number: int
    first_line: int  # 1-based line of the source where the document's text starts
    text: str


@dataclass(frozen=True, slots=True)
class Document:
    source: str  # the file, or "-" for standard input
    index: str  # 1-based document number; "2.items[3]" inside a List
    obj: dict[str, Any]
    #: the text it was read from, for line numbers (None for objects that were not read from a file)
    chunk: Chunk | None = dataclasses.field(default=None, compare=False, repr=False)
    #: where the object sits in its document: () or ("items", 3) inside a List
    steps: FieldPath = dataclasses.field(default=(), compare=False, repr=False)

    @property
    def where(self) -> str:
        return f"{self.source}: document {self.index}"

    def positions(self) -> Positions | None:
        """The document's positions (composed once per call: ask for all the lines wanted at once)."""
        return Positions(self.chunk.text, self.chunk.first_line) if self.chunk is not None else None

    def line(self, positions: Positions | None = None, steps: FieldPath = ()) -> int:
        """The line of a field of this object (of the object itself with no steps); 0 when not known."""
        if self.chunk is None:
            return 0
        start = first_content_line(self.chunk.text, self.chunk.first_line)
        if not steps and not self.steps:
            return start
        positions = positions or self.positions()
        assert positions is not None
        return positions.line((*self.steps, *steps), start)

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        metadata = self.obj.get("metadata") or {}
        return str(metadata.get("name") or metadata.get("generateName") or "")

    def namespace(self, default: str) -> str:
        metadata = self.obj.get("metadata") or {}
        return str(metadata.get("namespace") or default)


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # as the user wrote it, for messages
    path: Path  # where to read it (standard input is spooled to a temporary file)
    is_json: bool


# --- finding the files ---------------------------------------------------------------------------------


def _stat_key(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def _walk(directory: Path, ancestors: frozenset[tuple[int, int]], seen: set[tuple[int, int]]) -> Iterator[Path]:
    """Manifest files under directory, following symlinks; a loop or an entry that cannot be read is an error."""
    try:
        key = _stat_key(directory)
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as error:
        raise InputError(f"{directory}: cannot read this directory: {error.strerror or error}") from error
    if key in ancestors:
        raise InputError(f"{directory}: symlink loop: this directory contains itself")
    if key in seen:
        return  # reached again through another symlink: read once
    seen.add(key)
    inside = ancestors | {key}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
            is_file = entry.is_file(follow_symlinks=True)
            if not (is_dir or is_file) and entry.is_symlink():
                path.stat()  # a dangling or looping symlink: say why
        except OSError as error:
            raise InputError(f"{path}: cannot read: {error.strerror or error}") from error
        if is_dir:
            yield from _walk(path, inside, seen)
        elif is_file and path.suffix.lower() in MANIFEST_SUFFIXES:
            file_key = _stat_key(path)
            if file_key not in seen:
                seen.add(file_key)
                yield path


def _files(path_text: str) -> Iterator[Path]:
    path = Path(path_text)
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError as error:
        raise InputError(f"{path_text}: cannot read: {error.strerror or error}") from error
    if is_dir:
        found = list(_walk(path, frozenset(), set()))
        if not found:
            raise InputError(f"{path_text}: no *.yaml, *.yml or *.json files in this directory")
        yield from found
    elif is_file:
        if path.suffix.lower() not in MANIFEST_SUFFIXES:
            raise InputError(
                f"{path_text}: unsupported file type {path.suffix or '(none)'!r}; expected .yaml, .yml or .json"
            )
        yield path
    elif path.is_symlink():
        raise InputError(f"{path_text}: cannot read: a symlink to nothing")
    else:
        raise InputError(f"{path_text}: no such file or directory")


@contextmanager
def open_sources(paths: list[str]) -> Iterator[list[Source]]:
    """The sources named on the command line, in order; standard input is spooled so it can be read twice.
    A file named twice (itself and in its directory, as a pre-commit hook with a context directory names
    it) is read once: read twice, its ModelWorkloads would select their pods twice."""
    with tempfile.TemporaryDirectory(prefix="modelroute-") as spool:
        sources: list[Source] = []
        read: set[tuple[int, int]] = set()
        for path_text in paths:
            if path_text == STDIN:
                spooled = Path(spool) / f"stdin-{len(sources)}.yaml"
                with spooled.open("wb") as out:
                    shutil.copyfileobj(sys.stdin.buffer, out)
                sources.append(Source(STDIN, spooled, is_json=False))
            else:
                for found in _files(path_text):
                    key = _stat_key(found)
                    if key not in read:
                        read.add(key)
                        sources.append(Source(str(found), found, found.suffix.lower() == ".json"))
        yield sources


# --- cutting and parsing documents ---------------------------------------------------------------------


_READ_BLOCK = 1 << 20


def _segments(source: Source) -> Iterator[tuple[int, str]]:
    """The text of a source cut before every document marker line, with each piece's first line number.
    Read in blocks, so memory follows the largest document, not the file."""
    pending, line, scan_from = "", 1, 0
    try:
        with source.path.open(encoding="utf-8", newline="") as stream:
            while True:
                block = stream.read(_READ_BLOCK)
                pending += block
                limit = len(pending) if not block else pending.rfind("\n") + 1  # whole lines only
                cut = 0
                for marker in _MARKER_LINE.finditer(pending, max(scan_from, 1), limit):
                    yield line, pending[cut : marker.start()]
                    line += pending.count("\n", cut, marker.start())
                    cut = marker.start()
                pending, scan_from = pending[cut:], max(limit - cut, 1)
                if not block:
                    break
    except UnicodeDecodeError as error:
        why = f"not UTF-8 text ({error.reason} at byte {error.start})"
        raise InputError(f"{source.name}: cannot read: {why}") from error
    except OSError as error:
        raise InputError(f"{source.name}: cannot read: {error.strerror or error}") from error
    if pending:
        yield line, pending


def _has_content(segment: str) -> bool:
    if segment.startswith("---"):
        end = segment.find("\n")
        rest = (segment[3:] if end < 0 else segment[3:end]).strip()
        if rest and not rest.startswith("#"):
            return True
        return end >= 0 and _CONTENT.search(segment, end + 1) is not None
    return _CONTENT.search(segment) is not None


def _read_whole(source: Source) -> str:
    try:
        return source.path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        why = f"not UTF-8 text ({error.reason} at byte {error.start})"
        raise InputError(f"{source.name}: cannot read: {why}") from error
    except OSError as error:
        raise InputError(f"{source.name}: cannot read: {error.strerror or error}") from error


def chunks(source: Source) -> Iterator[Chunk]:
    """The documents of a source as text. JSON is one document; YAML is cut at its document markers
    as kubectl cuts it: a line starting with `---` begins a document, one starting with `...` ends one."""
    if source.is_json:
        yield Chunk(1, 1, _read_whole(source))
        return
    number, carried, carried_line = 0, "", 0
    for first_line, segment in _segments(source):
        text, line = segment, first_line
        if text.startswith("..."):  # the end of the previous document: what follows it starts another
            end = text.find("\n")
            text, line = ("", line) if end < 0 else (text[end + 1 :], line + 1)
        if carried:
            text, line = carried + text, carried_line
        if not _has_content(text):
            carried = "".join(x for x in text.splitlines(keepends=True) if x.startswith("%"))
            carried_line = line
            continue
        carried = ""
        number += 1
        yield Chunk(number, line, text)


def _yaml_error(source: Source, chunk: Chunk, error: Exception) -> InputError:
    text = str(error)
    lines = [line for line in text.splitlines() if line.strip()]
    first, reason = (lines[0], lines[-1]) if lines else ("invalid YAML", "")
    if "alias replay limit" in text:
        return InputError(
            f"{source.name}: document {chunk.number}: YAML aliases expand it past "
            f"{MAX_ALIAS_EXPANSION_BYTES // (1024 * 1024)} MiB or {MAX_ALIAS_REPLAYS:,} values; refusing to read it"
        )
    at = _YAML_ERROR_AT.search(first)
    where = f" at line {chunk.first_line + int(at.group(1)) - 1}" if at else ""
    if "duplicate mapping key" in text:
        try:
            found = Positions(chunk.text, chunk.first_line).first_duplicate()
        except RecursionError:
            found = None
        if found:
            return InputError(
                f"{source.name}: document {chunk.number}, line {found[1]}: duplicate field {render_field(found[0])}"
            )
    problem = reason if reason and reason != first and not reason.lstrip().startswith(("|", "^")) else first
    problem = _YAML_ERROR_AT.sub("", problem).replace("YAML parse error", "").strip(" ,:") or "malformed"
    return InputError(f"{source.name}: document {chunk.number}: invalid YAML{where}: {problem}")


def _at_line(line: int) -> str:
    return f", line {line}" if line else ""


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKeyError
    return out


def _refuse_duplicate_keys(source: Source, chunk: Chunk) -> None:
    """A key given twice, which orjson (like JSON.parse) silently resolves to the last: the API server's
    strict decoding refuses it, and so does the gate (yaml-rs refuses it in YAML)."""
    try:
        json.loads(chunk.text, object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError:
        try:
            found = Positions(chunk.text, chunk.first_line).first_duplicate()
        except RecursionError:
            found = None
        where = f", line {found[1]}: duplicate field {render_field(found[0])}" if found else ": a duplicate field"
        raise InputError(f"{source.name}: document {chunk.number}{where}") from None
    except (ValueError, RecursionError):
        return  # orjson read it; the stdlib's limits are not the gate's


def parse(source: Source, chunk: Chunk) -> Any:
    """The value of one document; InputError names the source and the document when it is not valid."""
    if source.is_json:
        try:
            value = orjson.loads(chunk.text)
        except orjson.JSONDecodeError as error:
            raise InputError(f"{source.name}: document 1: invalid JSON at line {error.lineno}: {error.msg}") from error
        _refuse_duplicate_keys(source, chunk)
        return value
    replays = MAX_ALIAS_REPLAYS
    if "*" in chunk.text:
        replays = min(replays, MAX_ALIAS_EXPANSION_BYTES // max(len(chunk.text), 1))
    try:
        return yaml_rs.loads(
            chunk.text,
            parse_datetime=False,
            alias_limits=yaml_rs.AliasLimits(max_total_replayed_events=replays),
        )
    except (yaml_rs.YAMLDecodeError, ValueError, TypeError, RecursionError) as error:
        raise _yaml_error(source, chunk, error) from error


def _type_name(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


_METADATA_STRINGS = ("name", "generateName", "namespace")
_METADATA_MAPPINGS = ("labels", "annotations")


def _check_object(
    source: str, where: str, obj: Any, chunk: Chunk | None = None, steps: FieldPath = ()
) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(f"{source}: document {where}: expected a Kubernetes object (a mapping), got {_type_name(obj)}")
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InputError(f"{source}: document {where}: has no kind")
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str):
        raise InputError(f"{source}: document {where}: {kind} has no apiVersion")
    lookalike = lookalike_problem(api_version, kind)
    if lookalike is not None:
        line = Document(source, where, obj, chunk, steps).line(steps=("apiVersion",))
        raise InputError(f"{source}: document {where}{_at_line(line)}: {lookalike}")
    metadata = obj.get("metadata")
    if metadata is None:
        return obj
    if not isinstance(metadata, dict):
        raise InputError(f"{source}: document {where}: {kind} metadata must be a mapping")
    for field in _METADATA_STRINGS:
        value = metadata.get(field)
        if value is not None and not isinstance(value, str):
            raise InputError(
                f"{source}: document {where}: {kind} metadata.{field} must be a string, not {_type_name(value)}"
            )
    for field in _METADATA_MAPPINGS:
        value = metadata.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise InputError(
                f"{source}: document {where}: {kind} metadata.{field} must be a mapping, not {_type_name(value)}"
            )
        bad = next((k for k, v in value.items() if not isinstance(k, str) or not isinstance(v, str)), None)
        if bad is not None:
            raise InputError(f"{source}: document {where}: {kind} metadata.{field} must map strings to strings")
    return obj


def objects(source: Source, chunk: Chunk, value: Any) -> Iterator[Document]:
    """The Kubernetes objects of one parsed document: itself, or the items of a List."""
    index = str(chunk.number)
    if value is None:
        return
    obj = _check_object(source.name, index, value, chunk)
    kind = obj["kind"]
    if kind.endswith("List") and "items" in obj:
        items = obj.get("items") or []
        if not isinstance(items, list):
            raise InputError(f"{source.name}: document {index}: {kind}.items must be a list")
        for position, item in enumerate(items):
            where, steps = f"{index}.items[{position}]", ("items", position)
            yield Document(source.name, where, _check_object(source.name, where, item, chunk, steps), chunk, steps)
        return
    yield Document(source.name, index, obj, chunk)


def might_hold(words: tuple[str, ...]) -> Callable[[str], bool]:
    """A cheap test on a document's text: False only when it cannot be one of these kinds (a List may hold
    any; a backslash may spell a kind with escapes)."""
    needles = (*words, "List", "\\")
    return lambda text: any(word in text for word in needles)


might_be_context = might_hold(CONTEXT_KINDS)


def iter_documents(sources: list[Source], wanted: Callable[[str], bool] | None = None) -> Iterator[Document]:
    """Every object of the sources, in order; with `wanted`, only from documents whose text passes it."""
    for source in sources:
        for chunk in chunks(source):
            if wanted is None or wanted(chunk.text):
                yield from objects(source, chunk, parse(source, chunk))


def read_documents(paths: list[str]) -> list[Document]:
    with open_sources(paths) as sources:
        return list(iter_documents(sources))


_POLICY_KINDS = kinds.MODELS_BY_KIND


def is_policy_object(doc: Document) -> bool:
    return doc.kind in _POLICY_KINDS and str(doc.obj.get("apiVersion", "")).startswith(f"{GROUP}/")


def is_context_object(doc: Document) -> bool:
    return is_policy_object(doc) or (
        doc.kind in (kinds.CONFIG_MAP.kind, kinds.NAMESPACE.kind) and doc.obj.get("apiVersion") == "v1"
    )


def build_context(
    documents: Iterator[Document] | list[Document], default_namespace: str, operator_namespace: str | None
) -> PolicyContext:
    """The policy context the input files describe: their ModelRoute objects, ConfigMaps and Namespaces."""
    endpoints: list[AzureEndpoint] = []
    workloads: list[ModelWorkload] = []
    policies: list[RoutePolicy] = []
    config_maps: dict[tuple[str, str], dict[str, str]] = {}
    namespace_labels: dict[str, dict[str, str]] = {}
    for doc in documents:
        if is_policy_object(doc):
            model = _POLICY_KINDS[doc.kind]
            try:
                parsed = model.model_validate(doc.obj)
            except ValidationError as error:
                raise InputError(f"{doc.where}: {doc.kind} {doc.name!r}: {explain(error)}") from error
            if isinstance(parsed, AzureEndpoint):
                endpoints.append(parsed)
            elif isinstance(parsed, ModelWorkload):
                if parsed.metadata.namespace is None:
                    parsed = parsed.model_copy(
                        update={"metadata": parsed.metadata.model_copy(update={"namespace": default_namespace})}
                    )
                workloads.append(parsed)
            else:
                policies.append(parsed)
        elif doc.kind == "ConfigMap" and doc.obj.get("apiVersion") == "v1":
            if not isinstance(doc.obj.get("data") or {}, dict):
                raise InputError(f"{doc.where}: ConfigMap {doc.name!r}: data must be a mapping")
            if not isinstance(doc.obj.get("binaryData") or {}, dict):
                raise InputError(f"{doc.where}: ConfigMap {doc.name!r}: binaryData must be a mapping")
            config_maps[(doc.namespace(default_namespace), doc.name)] = config_map_data(doc.obj)
        elif doc.kind == "Namespace" and doc.obj.get("apiVersion") == "v1":
            namespace_labels[doc.name] = namespace_labels_of(doc.obj)
    return PolicyContext.build(
        endpoints=endpoints,
        workloads=workloads,
        policies=policies,
        config_maps=config_maps,
        namespace_labels=namespace_labels,
        operator_namespace=operator_namespace,
    )

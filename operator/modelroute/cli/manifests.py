"""Reading manifests from files, directories and stdin, with errors that name the file and document."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from modelroute.api.meta import explain
from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy
from modelroute.engine.context import PolicyContext

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class InputError(Exception):
    """Bad input: the message names the file and the document."""


@dataclass(frozen=True, slots=True)
class Document:
    source: str  # the file, or "-" for standard input
    index: str  # 1-based document number; "2.items[3]" inside a List
    obj: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.source}: document {self.index}"

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


def _type_name(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _documents_of(source: str, text: str, is_json: bool) -> Iterator[tuple[int, Any]]:
    if is_json:
        try:
            yield 1, json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"{source}: document 1: invalid JSON at line {error.lineno}: {error.msg}") from error
        return
    number = 0
    try:
        for number, doc in enumerate(yaml.load_all(text, Loader=_Loader), start=1):
            yield number, doc
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InputError(f"{source}: document {number + 1}: invalid YAML{line}: {problem}") from error


MAX_VALUES_PER_DOCUMENT = 1_000_000


def _within_budget(doc: Any, limit: int = MAX_VALUES_PER_DOCUMENT) -> bool:
    """YAML aliases can make a few hundred bytes expand to billions of values: count, with a ceiling."""
    stack, seen = [doc], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            return False
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def _objects(source: str, number: int, doc: Any) -> Iterator[Document]:
    index = str(number)
    if doc is None:
        return
    if not _within_budget(doc):
        raise InputError(
            f"{source}: document {index}: expands to more than {MAX_VALUES_PER_DOCUMENT:,} values "
            "(YAML aliases?); refusing to read it"
        )
    if not isinstance(doc, dict):
        raise InputError(f"{source}: document {index}: expected a Kubernetes object (a mapping), got {_type_name(doc)}")
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InputError(f"{source}: document {index}: has no kind")
    if not isinstance(doc.get("apiVersion"), str):
        raise InputError(f"{source}: document {index}: {kind} has no apiVersion")
    metadata = doc.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InputError(f"{source}: document {index}: {kind} metadata must be a mapping")
    if kind.endswith("List") and "items" in doc:
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise InputError(f"{source}: document {index}: {kind}.items must be a list")
        for position, item in enumerate(items):
            where = f"{index}.items[{position}]"
            if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
                raise InputError(f"{source}: document {where}: expected a Kubernetes object with a kind")
            yield Document(source, where, item)
        return
    yield Document(source, index, doc)


def _files(path_text: str) -> Iterator[Path]:
    path = Path(path_text)
    if path.is_dir():
        found = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in MANIFEST_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not found:
            raise InputError(f"{path_text}: no *.yaml, *.yml or *.json files in this directory")
        yield from found
    elif path.is_file():
        if path.suffix.lower() not in MANIFEST_SUFFIXES:
            raise InputError(
                f"{path_text}: unsupported file type {path.suffix or '(none)'!r}; expected .yaml, .yml or .json"
            )
        yield path
    else:
        raise InputError(f"{path_text}: no such file or directory")


def read_documents(paths: list[str]) -> list[Document]:
    documents: list[Document] = []
    for path_text in paths:
        if path_text == "-":
            sources: list[tuple[str, str, bool]] = [("-", sys.stdin.read(), False)]
        else:
            sources = []
            for file in _files(path_text):
                try:
                    text = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    raise InputError(f"{file}: cannot read: {error}") from error
                sources.append((str(file), text, file.suffix.lower() == ".json"))
        for source, text, is_json in sources:
            for number, doc in _documents_of(source, text, is_json):
                documents.extend(_objects(source, number, doc))
    return documents


_POLICY_KINDS: Mapping[str, type[AzureEndpoint] | type[ModelWorkload] | type[RoutePolicy]] = {
    "AzureEndpoint": AzureEndpoint,
    "ModelWorkload": ModelWorkload,
    "RoutePolicy": RoutePolicy,
}


def is_policy_object(doc: Document) -> bool:
    return doc.kind in _POLICY_KINDS and str(doc.obj.get("apiVersion", "")).startswith("modelroute.io/")


def build_context(documents: list[Document], default_namespace: str, operator_namespace: str | None) -> PolicyContext:
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
            data = doc.obj.get("data") or {}
            if not isinstance(data, dict):
                raise InputError(f"{doc.where}: ConfigMap {doc.name!r}: data must be a mapping")
            config_maps[(doc.namespace(default_namespace), doc.name)] = {str(k): str(v) for k, v in data.items()}
        elif doc.kind == "Namespace" and doc.obj.get("apiVersion") == "v1":
            labels = (doc.obj.get("metadata") or {}).get("labels") or {}
            namespace_labels[doc.name] = {str(k): str(v) for k, v in labels.items()}
    return PolicyContext.build(
        endpoints=endpoints,
        workloads=workloads,
        policies=policies,
        config_maps=config_maps,
        namespace_labels=namespace_labels,
        operator_namespace=operator_namespace,
    )

"""Decisions about pods as they are, shared by the validating webhook and the background audit.

A pod the validating webhook judged is stored exactly as judged, so the audit that follows its creation
finds the decision by the pod's content instead of judging the pod a second time."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson

from modelroute.engine.context import PolicyContext
from modelroute.engine.verdict import Decision

DEFAULT_CAPACITY = 16_384
#: what the judgements kept for the audit may hold in all (decision_size): a burst of pods with long messages
#: is bounded like a burst of many pods
DEFAULT_BYTES = 16 * 1024 * 1024
#: the fixed part of a kept decision, about (the object, its tuples and dict)
DECISION_OVERHEAD = 512
#: the deepest nesting the serialiser writes (orjson's own limit), in the pod's labels, annotations and spec;
#: an object the API server sends is bounded by its schema to a few dozen levels
SERIALISED_DEPTH = 254


class NestingTooDeepError(ValueError):
    """An object nested deeper than SERIALISED_DEPTH: no Kubernetes object is, so it is refused, not judged."""


def content_key(namespace: str, obj: Mapping[str, Any]) -> bytes:
    """What the engine reads of a pod: its namespace, labels, annotations and spec, or a PodTemplate's
    `template` (not its name, uid or timestamps, which the API server fills in between the mutating and the
    validating call).

    Raises NestingTooDeepError for an object nested deeper than SERIALISED_DEPTH levels."""
    return sized_content_key(namespace, obj)[0]


def sized_content_key(namespace: str, obj: Mapping[str, Any]) -> tuple[bytes, int]:
    """(content_key, the serialised size of that content in bytes): what a cache of answers about the object
    counts it as."""
    metadata = obj.get("metadata") or {}
    try:
        material = orjson.dumps(
            [
                namespace,
                obj.get("kind"),
                metadata.get("labels"),
                metadata.get("annotations"),
                obj.get("spec"),
                obj.get("template"),
            ],
            option=orjson.OPT_SORT_KEYS,
        )
    except orjson.JSONEncodeError as error:  # orjson's only refusal of what orjson parsed is the depth
        raise NestingTooDeepError(
            f"the object is nested deeper than {SERIALISED_DEPTH} levels, which no Kubernetes object is ({error})"
        ) from None
    return hashlib.blake2b(material, digest_size=16).digest(), len(material)


def without_produced(decision: Decision) -> Decision:
    """The decision as a cache keeps it: without the produced pod and what was read of it, which hold the whole
    judged object (many times its serialised size) and serve only the call that computed them."""
    if decision.produced is None and decision.produced_review is None:
        return decision
    return replace(decision, produced=None, produced_review=None)


def decision_size(decision: Decision) -> int:
    """About how many bytes a kept decision (without_produced) holds beyond its fixed part: its texts."""
    texts = sum(len(v.message) for v in decision.violations) + sum(len(w) for w in decision.warnings)
    return DECISION_OVERHEAD + texts + sum(len(k) + len(v) for k, v in decision.annotations.items())


class Judgements:
    """content key -> Decision for one policy context, bounded. Shared by the event loop and the reconciler's
    thread: every read and write is a single dict operation, and a new context starts a new map, so a
    decision is never served against policy inputs it was not computed from."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_BYTES) -> None:
        self.capacity, self.max_bytes = capacity, max_bytes
        self._entries: tuple[PolicyContext | None, dict[bytes, Decision]] = (None, {})
        self.bytes = 0  # decision_size of what is kept, about

    def get(self, context: PolicyContext, key: bytes) -> Decision | None:
        bound, entries = self._entries
        return entries.get(key) if bound is context else None

    def put(self, context: PolicyContext, key: bytes, decision: Decision) -> None:
        kept = decision
        if decision.patch or decision.produced is not None or decision.produced_review is not None:
            # the audit reads the verdict, never the patch nor what was read to make it
            kept = replace(decision, patch=[], produced=None, produced_review=None)
        size = decision_size(kept)
        bound, entries = self._entries
        if bound is not context:
            entries = {}
            self._entries = (context, entries)
            self.bytes = 0
        elif len(entries) >= self.capacity or self.bytes + size > self.max_bytes:
            entries.clear()  # a burst larger than the bounds: the audit judges the rest itself
            self.bytes = 0
        if size <= self.max_bytes:
            entries[key] = kept
            self.bytes += size

    def __len__(self) -> int:
        return len(self._entries[1])

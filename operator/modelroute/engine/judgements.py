"""Decisions about pods as they are, shared by the validating webhook and the background audit.

A pod the validating webhook judged is stored exactly as judged, so the audit that follows its creation
finds the decision by the pod's content instead of judging the pod a second time."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from modelroute.engine.context import PolicyContext
from modelroute.engine.verdict import Decision

DEFAULT_CAPACITY = 16_384
#: the deepest nesting the serialiser writes (orjson's own limit), in the pod's labels, annotations and spec;
#: an object the API server sends is bounded by its schema to a few dozen levels
SERIALISED_DEPTH = 254


class NestingTooDeepError(ValueError):
    """An object nested deeper than SERIALISED_DEPTH: no Kubernetes object is, so it is refused, not judged."""


def content_key(namespace: str, obj: Mapping[str, Any]) -> bytes:
    """What the engine reads of a pod: its namespace, labels, annotations and spec (not its name, uid or
    timestamps, which the API server fills in between the mutating and the validating call).

    Raises NestingTooDeepError for an object nested deeper than SERIALISED_DEPTH levels."""
    metadata = obj.get("metadata") or {}
    try:
        material = orjson.dumps(
            [namespace, obj.get("kind"), metadata.get("labels"), metadata.get("annotations"), obj.get("spec")],
            option=orjson.OPT_SORT_KEYS,
        )
    except orjson.JSONEncodeError as error:  # orjson's only refusal of what orjson parsed is the depth
        raise NestingTooDeepError(
            f"the object is nested deeper than {SERIALISED_DEPTH} levels, which no Kubernetes object is ({error})"
        ) from None
    return hashlib.blake2b(material, digest_size=16).digest()


class Judgements:
    """content key -> Decision for one policy context, bounded. Shared by the event loop and the reconciler's
    thread: every read and write is a single dict operation, and a new context starts a new map, so a
    decision is never served against policy inputs it was not computed from."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: tuple[PolicyContext | None, dict[bytes, Decision]] = (None, {})

    def get(self, context: PolicyContext, key: bytes) -> Decision | None:
        bound, entries = self._entries
        return entries.get(key) if bound is context else None

    def put(self, context: PolicyContext, key: bytes, decision: Decision) -> None:
        bound, entries = self._entries
        if bound is not context:
            entries = {}
            self._entries = (context, entries)
        elif len(entries) >= self.capacity:
            entries.clear()  # a burst larger than the capacity: the audit judges the rest itself
        entries[key] = decision

"""One copy of each value that many watched pods hold alike, counted.

The pods of one template carry the same spec, labels, annotations and owner; parsed from each watch event,
every pod would hold its own copy of them (about 8 KB for a small pod). The view keeps one copy per
distinct value and, per pod, only what is the pod's own (its name, uid and phase), so the operator's
memory follows the number of templates, not the number of pods. A value is dropped when the last pod
holding it goes. Shared values are never modified: the engine and the audit only read pods.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from typing import Any

import orjson


def _digest(value: Any) -> bytes | None:
    """A 128-bit digest of the value's canonical JSON: what the view keeps in place of a value's text."""
    try:
        return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()
    except orjson.JSONEncodeError:  # deeper than orjson writes: kept as the pod's own, never shared
        return None


class Shared:
    """value -> the one copy the view keeps, with how many holders it has."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[Hashable, list[Any]] = {}  # key -> [the kept value, holders]

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, value: Any) -> Any:
        """The kept copy equal to `value` (`value` itself when it is the first), counted once more."""
        key = self._key(value)
        if key is None:
            return value
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = [value, 1]
            return value
        entry[1] += 1
        return entry[0]

    def release(self, value: Any) -> None:
        """One holder of `value` is gone; the copy goes with its last holder."""
        key = self._key(value)
        entry = self._entries.get(key) if key is not None else None
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del self._entries[key]

    @staticmethod
    def _key(value: Any) -> Hashable | None:
        if not value:
            return None  # None, {}, [] and frozenset(): nothing worth sharing
        if isinstance(value, frozenset):
            return value
        return _digest(value)

"""Memos of pure functions of one string, bounded in bytes as well as in entries.

The strings come from the objects judged (env names, URLs, hosts, messages), and a caller can make them as
long as a request allows (megabytes): an entry count alone bounds nothing. A string longer than
LONGEST_MEMO_KEY is computed every time and never kept, so a memo of `maxsize` entries holds at most
`maxsize` keys of that length (and results of about their size)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

#: the longest string a memo keeps (characters): longer than any name or URL a real manifest repeats
LONGEST_MEMO_KEY = 512

R = TypeVar("R")


def memo(maxsize: int) -> Callable[[Callable[[str], R]], Callable[[str], R]]:
    """functools.lru_cache(maxsize) for strings of at most LONGEST_MEMO_KEY characters; longer ones pass through."""

    def decorate(function: Callable[[str], R]) -> Callable[[str], R]:
        cached = functools.lru_cache(maxsize=maxsize)(function)

        @functools.wraps(function)
        def bounded(text: str) -> R:
            return cached(text) if len(text) <= LONGEST_MEMO_KEY else function(text)

        bounded.cache = cached  # type: ignore[attr-defined]  # for tests: cache_info(), cache_clear()
        return bounded

    return decorate

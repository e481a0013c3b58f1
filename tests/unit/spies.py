"""A spy on one function of a module, for tests that count what the code under test does."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest


def first_arguments(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> list[object]:
    """The first argument of every call to `module.name` from now on, one entry per call; the calls still run."""
    calls: list[object] = []
    real = getattr(module, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls

"""The decorator of the value objects the engine builds per container and per file of every admitted pod."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform()
def value_object(cls: type[T]) -> type[T]:
    """A slotted dataclass that nothing changes once built, and that is not frozen: a frozen dataclass sets each
    field through object.__setattr__, which makes it about 4x slower to build (1.36 µs against 0.33 µs for an
    EnvSetting), and the admission path builds dozens of these per pod."""
    return dataclass(slots=True)(cls)

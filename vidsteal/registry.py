"""One generic, string-addressable registry (timm/torchvision style) for models, attacks and generators."""

from __future__ import annotations

import fnmatch
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps lower_snake names to builders.

    Builders register with the ``register`` decorator; duplicate names raise, unknown names raise a
    ``KeyError`` that lists what exists, and ``list`` takes shell-style wildcards.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def wrap(item: T) -> T:
            key = name or getattr(item, "__name__")
            if key in self._items:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._items[key] = item
            return item

        return wrap

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {known}") from None

    def list(self, pattern: str = "*") -> list[str]:
        return sorted(k for k in self._items if fnmatch.fnmatch(k, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._items

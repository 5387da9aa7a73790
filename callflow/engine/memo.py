"""Answers worked out once and kept, within a bound.

The engine's plans (the calendar, the rota, the offers they give) are asked the same
questions again and again: every waiting caller, every minute. A :class:`Memo` keeps the
answers for the life of the object that owns it, and that object is replaced whenever
the rules change, so an answer kept can never be one the rules no longer give. It forgets
everything at once when it is full: the questions asked follow the clock, so the old
answers are the ones no longer asked, and a line running for months keeps no more than
*size* of them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(dict[K, V], Generic[K, V]):
    """A dict of answers that holds at most *size* of them (read it with ``get``)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def keep(self, key: K, value: V) -> V:
        """Remember *value* as the answer for *key*, and return it."""
        if len(self) >= self._size:
            self.clear()
        self[key] = value
        return value

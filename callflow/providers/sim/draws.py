"""Drawing from a table of weighted outcomes, the one way the simulation does it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def weighted_choice(rng: random.Random, table: Sequence[tuple[T, float]]) -> T:
    """One outcome, each as likely as its weight (weights need not add up to one)."""
    draw = rng.random() * sum(weight for _, weight in table)
    for value, weight in table:
        draw -= weight
        if draw < 0:
            return value
    return table[-1][0]

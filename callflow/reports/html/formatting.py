"""A report's values read defensively and written for people, in HTML.

The report is a dict that may come from an older or newer ``callflow report``,
so a missing section reads as no data and a value that is not a number as
null. A measure that is null shows as "–" rather than as zero, because
"nothing to measure" and "zero" are different answers; every string that comes
from the report goes through :func:`escape`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from callflow.reports.kpis import is_share

NO_VALUE: Final = "–"
LONG_DURATION_S: Final = 3600  # from an hour on, minutes:seconds is harder to read than hours


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a dict, else an empty one: a missing section reads as no data."""
    return value if isinstance(value, Mapping) else {}


def rows(value: object) -> list[Mapping[str, Any]]:
    """The dict entries of a list section, ignoring anything else."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [row for row in value if isinstance(row, Mapping)]


def number(value: object) -> float | None:
    """``value`` as a number, or None when it is null or not a number at all."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    amount = float(value)
    # NaN or infinity means "could not be measured": show a dash, never crash on it.
    return amount if math.isfinite(amount) else None


def count(row: Mapping[str, Any], key: str) -> float:
    """A count to draw: null draws as an empty bar."""
    return number(row.get(key)) or 0.0


def text(value: object) -> str:
    return NO_VALUE if value is None else str(value)


def escape(value: str) -> str:
    return html.escape(value, quote=True)


def label(key: str) -> str:
    """A report key as words: ``own_services`` reads "Own services"."""
    return key.replace("_", " ").capitalize()


def measure_label(key: str) -> str:
    """A measure's key as words, without the unit suffix its formatting already shows."""
    return label(key.removesuffix("_s"))


def share(value: object) -> str:
    amount = number(value)
    return NO_VALUE if amount is None else f"{amount * 100:.1f}%"


def duration(value: object) -> str:
    amount = number(value)
    if amount is None:
        return NO_VALUE
    if amount >= LONG_DURATION_S:
        return hours(amount)
    minutes, seconds = divmod(round(amount), 60)
    return f"{minutes}:{seconds:02d}"


def hours(value: object) -> str:
    amount = number(value)
    return NO_VALUE if amount is None else f"{amount / 3600:.1f} h"


def plain(value: object) -> str:
    amount = number(value)
    if amount is None:
        return NO_VALUE
    return f"{round(amount):,}" if amount.is_integer() else f"{amount:,.2f}"


def points(value: object) -> str:
    """An NPS: points from −100 to 100, one decimal as the report gives it."""
    amount = number(value)
    return NO_VALUE if amount is None else f"{amount:.1f}".replace("-", "−")


def measure(key: str, value: object) -> str:
    """A measure formatted by what its name says it is: a share, seconds, points (the NPS),
    or a count."""
    if is_share(key):
        return share(value)
    if key == "nps":
        return points(value)
    if key.endswith("_s"):
        return duration(value)
    return plain(value)


def within(seconds: object) -> str:
    amount = number(seconds)
    return "" if amount is None else f" (within {plain(amount)} s)"


def no_data() -> str:
    return '<p class="no-data">No data for this period.</p>'

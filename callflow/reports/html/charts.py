"""The page's charts, each an inline SVG drawn by matplotlib.

The page must open with no network, so nothing is fetched, not even a font:
chart text is drawn as paths. Charts are built on
:class:`matplotlib.figure.Figure` objects and never through ``pyplot``, whose
current-figure and backend globals would leak between reports rendered in one
process. Output is byte-for-byte repeatable for one report: the SVG ids are
hashed with a fixed salt (a different salt per chart, so two inline SVGs on the
page never share an id for different shapes) and the SVG metadata, which would
carry the render date, is left out. A chart with nothing to draw is a "no data"
note instead.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import matplotlib
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from callflow.reports.html.formatting import (
    count,
    escape,
    mapping,
    no_data,
    number,
    plain,
    points,
    share,
    within,
)

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType  # matplotlib >= 3.9 names it; only mypy needs it

_INK: Final = "#1d2733"
_MUTED: Final = "#5b6672"
_GRID: Final = "#d9dee3"
_OFFERED: Final = "#9aa5b1"
_GOOD: Final = "#2f7d5b"
_BAD: Final = "#c8553d"
_LATE: Final = "#e0a030"

_CHART_STYLE: Final[dict[RcKeyType, Any]] = {
    # Report strings such as hour keys must never be read as mathtext.
    "text.parse_math": False,
    "svg.fonttype": "path",
    "font.size": 9,
    "text.color": _INK,
    "axes.labelcolor": _INK,
    "axes.edgecolor": _GRID,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": _MUTED,
    "ytick.color": _MUTED,
}
_NO_SVG_METADATA: Final = {"Date": None, "Creator": None, "Format": None, "Type": None}


@contextmanager
def chart_style() -> Iterator[None]:
    """The charts' look; every figure is drawn and saved inside it."""
    with matplotlib.rc_context(_CHART_STYLE):
        yield


def chart(title: str, salt: str, figure: Figure | None) -> str:
    """A captioned chart, or a "no data" note when there is nothing to draw."""
    if figure is None:
        return f"<figure><figcaption>{escape(title)}</figcaption>{no_data()}</figure>"
    return f"<figure><figcaption>{escape(title)}</figcaption>{_svg(figure, salt, title)}</figure>"


def _svg(figure: Figure, salt: str, title: str) -> str:
    """``figure`` as an inline ``<svg>`` element, without the XML prolog and doctype."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"callflow-{salt}"}):
        figure.savefig(buffer, format="svg", metadata=_NO_SVG_METADATA)
    drawing = buffer.getvalue()
    drawing = drawing[drawing.index("<svg") :]
    return drawing.replace("<svg", f'<svg role="img" aria-label="{escape(title)}"', 1)


def _new_axes() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(7.5, 3.2), layout="constrained")
    axes = figure.subplots()
    axes.grid(axis="y", color=_GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no half calls
    return figure, axes


def _legend(figure: Figure, handles: Sequence[Artist] | None = None) -> None:
    """The legend above the plot, where it never hides a bar."""
    if handles is None:
        figure.legend(loc="outside upper right", ncols=3, frameon=False)
    else:
        figure.legend(handles=handles, loc="outside upper right", ncols=3, frameon=False)


def hourly_figure(by_hour: Mapping[str, Any], timezone: str) -> Figure | None:
    """Offered, answered and abandoned calls side by side for each local hour."""
    by_label = sorted(
        ((str(hour), row) for hour, row in by_hour.items() if isinstance(row, Mapping)),
        key=lambda pair: pair[0],
    )
    hours = [hour for hour, _ in by_label]
    rows = [row for _, row in by_label]
    series = (
        ("offered", _OFFERED, [count(row, "offered") for row in rows]),
        ("answered", _GOOD, [count(row, "answered") for row in rows]),
        (
            "abandoned (menu + queue)",
            _BAD,
            [count(row, "abandoned_ivr") + count(row, "abandoned_queue") for row in rows],
        ),
    )
    if not any(any(values) for _, _, values in series):
        return None
    figure, axes = _new_axes()
    width = 0.8 / len(series)
    for index, (label, colour, values) in enumerate(series):
        offset = (index - (len(series) - 1) / 2) * width
        positions = [slot + offset for slot in range(len(hours))]
        axes.bar(positions, values, width, label=label, color=colour)
    axes.set_xticks(range(len(hours)), [f"{hour}:00" for hour in hours])
    axes.set_xlabel(f"hour of arrival ({timezone})")
    axes.set_ylabel("calls")
    _legend(figure)
    return figure


def _buckets(
    rows: list[Mapping[str, Any]], bound_key: str, bound_text: Callable[[float], str]
) -> list[tuple[str, float | None, Mapping[str, Any]]]:
    """Buckets in ascending order with their axis labels.

    The open-ended bucket (a null bound: longer than the last) goes last, whatever
    order the report lists them in.
    """
    bounded = sorted(
        ((bound, row) for row in rows if (bound := number(row.get(bound_key))) is not None),
        key=lambda pair: pair[0],
    )
    longer = f"> {bound_text(bounded[-1][0])}" if bounded else "longer"
    labelled: list[tuple[str, float | None, Mapping[str, Any]]] = [
        (f"≤ {bound_text(bound)}", bound, row) for bound, row in bounded
    ]
    labelled += [(longer, None, row) for row in rows if number(row.get(bound_key)) is None]
    return labelled


def wait_figure(rows: list[Mapping[str, Any]], within_s: float | None) -> Figure | None:
    """Calls per waiting-time bucket, those inside the service-level target in green."""
    buckets = _buckets(rows, "le_s", _wait_bound)
    calls = [count(row, "calls") for _, _, row in buckets]
    if not any(calls):
        return None
    inside = [
        within_s is not None and bound is not None and bound <= within_s for _, bound, _ in buckets
    ]
    figure, axes = _new_axes()
    slots = range(len(buckets))
    axes.bar(slots, calls, color=[_GOOD if ok else _OFFERED for ok in inside])
    axes.set_xticks(slots, [label for label, _, _ in buckets])
    axes.set_xlabel("wait in the queue")
    axes.set_ylabel("calls")
    if within_s is not None:
        target = _wait_bound(within_s)
        _legend(
            figure,
            [
                Patch(color=_GOOD, label=f"within the service-level target ({target})"),
                Patch(color=_OFFERED, label="longer"),
            ],
        )
    return figure


def _wait_bound(seconds: float) -> str:
    return f"{plain(seconds)} s" if seconds < 60 else f"{plain(seconds / 60)} min"


def callback_figure(rows: list[Mapping[str, Any]]) -> Figure | None:
    """Callbacks per response-time bucket, split into made within and after the promise."""
    buckets = _buckets(rows, "le_h", lambda hours: f"{plain(hours)} h")
    kept = [count(row, "kept") for _, _, row in buckets]
    late = [count(row, "late") for _, _, row in buckets]
    if not any(kept) and not any(late):
        return None
    figure, axes = _new_axes()
    slots = range(len(buckets))
    axes.bar(slots, kept, color=_GOOD, label="made within the promise")
    axes.bar(slots, late, bottom=kept, color=_LATE, label="made after the promise")
    axes.set_xticks(slots, [label for label, _, _ in buckets])
    axes.set_xlabel("time from request to dialling")
    axes.set_ylabel("callbacks")
    _legend(figure)
    return figure


def statutory_figure(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Figure | None:
    """The two statutory shares on a 0–100 % scale, each named with its threshold."""
    shares = [
        (
            f"Calls answered immediately{within(thresholds.get('answered_immediately_within_s'))}",
            number(report.get("answered_immediately_share")),
        ),
        ("Callbacks made the same working day", number(report.get("callbacks_same_day_share"))),
    ]
    if all(value is None for _, value in shares):
        return None
    figure = Figure(figsize=(7.5, 1.8), layout="constrained")
    axes = figure.subplots()
    slots = range(len(shares))
    bars = axes.barh(slots, [100 * (value or 0.0) for _, value in shares], color=_GOOD, height=0.55)
    axes.bar_label(bars, labels=[share(value) for _, value in shares], padding=4)
    axes.set_yticks(slots, [label for label, _ in shares])
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("share (%)")
    axes.grid(axis="x", color=_GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    return figure


def nps_figure(weeks: Mapping[str, Any]) -> Figure | None:
    """The NPS of each week on its −100…100 scale, above zero in green and below in red; a
    week with too few answers for an NPS has no bar and a dash for a label."""
    named = [(str(week), mapping(row)) for week, row in weeks.items()]
    values = [number(row.get("nps")) for _, row in named]
    if all(value is None for value in values):
        return None
    figure, axes = _new_axes()
    slots = range(len(named))
    heights = [value or 0.0 for value in values]
    colours = [_GOOD if height >= 0 else _BAD for height in heights]
    bars = axes.bar(slots, heights, color=colours)
    axes.bar_label(bars, labels=[points(value) for value in values], padding=3)
    axes.axhline(0, color=_MUTED, linewidth=0.8)
    axes.set_ylim(-100, 100)
    axes.set_xticks(slots, [week for week, _ in named])
    axes.set_xlabel("week")
    axes.set_ylabel("NPS")
    return figure

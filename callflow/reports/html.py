"""The report as one self-contained HTML page: headline tables and four charts.

The page is mailed around and opened on locked-down workstations, so it must
open with no network at all: the CSS is inline and every chart is an inline
SVG drawn by matplotlib. Nothing is fetched, not even a font (chart text is
drawn as paths).

Charts are built on :class:`matplotlib.figure.Figure` objects and never through
``pyplot``, whose current-figure and backend globals would leak between
reports rendered in one process. Output is byte-for-byte repeatable for one
report: the SVG ids are hashed with a fixed salt (a different salt per chart,
so two inline SVGs on the page never share an id for different shapes) and
the SVG metadata, which would carry the render date, is left out.

Every string that comes from the report is escaped; a measure that is null
shows as "–" rather than as zero, because "nothing to measure" and "zero" are
different answers.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import matplotlib
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType  # matplotlib >= 3.9 names it; only mypy needs it

NO_VALUE: Final = "–"
LONG_DURATION_S: Final = 3600  # from an hour on, minutes:seconds is harder to read than hours

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

_WEEKDAYS: Final = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_BREAKDOWN_COLUMNS: Final = (
    ("offered", "Offered"),
    ("answered", "Answered"),
    ("abandoned_ivr", "Hung up in menu"),
    ("abandoned_queue", "Hung up in queue"),
    ("short_abandons", "Short abandons"),
    ("calls_dropped", "Dropped by the exchange"),
    ("asa_s", "Average speed of answer"),
    ("service_level", "Service level"),
    ("answered_immediately_share", "Answered immediately"),
    ("callbacks_requested", "Callbacks requested"),
)
# Top-level keys that are not measures: never listed among the KPIs.
_STRUCTURE_KEYS: Final = frozenset(
    {
        "period",
        "queue",
        "timezone",
        "generated_at",
        "thresholds",
        "by_queue",
        "by_weekday",
        "by_hour",
        "by_reason",
        "by_referral",
        "wait_distribution",
        "callback_response_distribution",
    }
)


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page for ``report`` (the dict ``callflow report --format json`` prints)."""
    thresholds = _mapping(report.get("thresholds"))
    with matplotlib.rc_context(_CHART_STYLE):
        sections = [
            _header(report),
            _statutory_section(report, thresholds),
            _section("Headline figures", _kpi_table(report, thresholds)),
            _calls_section(report, thresholds),
            _section(
                "Callbacks",
                _chart(
                    "Callback response time against the service promise",
                    "callback",
                    _callback_figure(_rows(report.get("callback_response_distribution"))),
                ),
            ),
            _breakdown_section(report),
            _footer(report, thresholds),
        ]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Hotline report {_e(_period(report))}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


# --- page sections ------------------------------------------------------------------------


def _section(heading: str, *parts: str) -> str:
    return "\n".join(["<section>", f"<h2>{_e(heading)}</h2>", *parts, "</section>"])


def _period(report: Mapping[str, Any]) -> str:
    period = _mapping(report.get("period"))
    return f"{_text(period.get('from'))} – {_text(period.get('to'))}"


def _header(report: Mapping[str, Any]) -> str:
    queue = report.get("queue")
    queue_text = "All queues" if queue is None else f"Queue {queue}"
    timezone = _text(report.get("timezone"))
    return (
        "<header><h1>Hotline report</h1>"
        f'<p class="meta">{_e(_period(report))} · {_e(queue_text)} · times in {_e(timezone)}</p>'
        "</header>"
    )


def _statutory_section(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    return _section(
        "The statutory three",
        _statutory_tiles(report, thresholds),
        _chart("The two statutory shares", "statutory", _statutory_figure(report, thresholds)),
    )


def _calls_section(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    timezone = _text(report.get("timezone"))
    hourly = _hourly_figure(_mapping(report.get("by_hour")), timezone)
    wait = _wait_figure(
        _rows(report.get("wait_distribution")),
        _number(thresholds.get("service_level_within_s")),
    )
    return _section(
        "Calls",
        _chart("Calls by hour", "hourly", hourly),
        _chart("How long callers waited", "wait", wait),
    )


def _breakdown_section(report: Mapping[str, Any]) -> str:
    queues = [(str(name), _mapping(row)) for name, row in _mapping(report.get("by_queue")).items()]
    return "\n".join(
        [
            _section("By queue", _breakdown_table("Queue", queues)),
            _section(
                "By weekday",
                _breakdown_table("Weekday", _by_weekday(_mapping(report.get("by_weekday")))),
            ),
            _section("Contact reasons", _share_table("Reason", _mapping(report.get("by_reason")))),
            _section("Referrals", _share_table("Referred to", _mapping(report.get("by_referral")))),
        ]
    )


# --- reading the report -------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a dict, else an empty one: a missing section reads as no data."""
    return value if isinstance(value, Mapping) else {}


def _rows(value: object) -> list[Mapping[str, Any]]:
    """The dict entries of a list section, ignoring anything else."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [row for row in value if isinstance(row, Mapping)]


def _number(value: object) -> float | None:
    """``value`` as a number, or None when it is null or not a number at all."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    # NaN or infinity means "could not be measured": show a dash, never crash on it.
    return number if math.isfinite(number) else None


def _count(row: Mapping[str, Any], key: str) -> float:
    """A count to draw: null draws as an empty bar."""
    return _number(row.get(key)) or 0.0


def _text(value: object) -> str:
    return NO_VALUE if value is None else str(value)


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _label(key: str) -> str:
    """A report key as words: ``own_services`` reads "Own services"."""
    return key.replace("_", " ").capitalize()


def _measure_label(key: str) -> str:
    """A measure's key as words, without the unit suffix its formatting already shows."""
    return _label(key.removesuffix("_s"))


# --- formatting measures ------------------------------------------------------------------


def _share(value: object) -> str:
    number = _number(value)
    return NO_VALUE if number is None else f"{number * 100:.1f}%"


def _duration(value: object) -> str:
    number = _number(value)
    if number is None:
        return NO_VALUE
    if number >= LONG_DURATION_S:
        return _hours(number)
    minutes, seconds = divmod(round(number), 60)
    return f"{minutes}:{seconds:02d}"


def _hours(value: object) -> str:
    number = _number(value)
    return NO_VALUE if number is None else f"{number / 3600:.1f} h"


def _plain(value: object) -> str:
    number = _number(value)
    if number is None:
        return NO_VALUE
    return f"{round(number):,}" if number.is_integer() else f"{number:,.2f}"


def _measure(key: str, value: object) -> str:
    """A measure formatted by what its name says it is: a share, seconds, or a count."""
    if key.endswith("_share") or key == "service_level":
        return _share(value)
    if key.endswith("_s"):
        return _duration(value)
    return _plain(value)


def _within(seconds: object) -> str:
    number = _number(seconds)
    return "" if number is None else f" (within {_plain(number)} s)"


# --- tables -------------------------------------------------------------------------------


def _kpi_labels(thresholds: Mapping[str, Any]) -> dict[str, str]:
    immediately = _within(thresholds.get("answered_immediately_within_s"))
    service_level = _within(thresholds.get("service_level_within_s"))
    short = _number(thresholds.get("short_abandon_under_s"))
    short_text = "" if short is None else f" (under {_plain(short)} s)"
    return {
        "offered": "Calls offered",
        "answered": "Answered by an advisor",
        "abandoned_ivr": "Hung up in the menu",
        "abandoned_queue": "Hung up in the queue",
        "short_abandons": f"Short abandons{short_text}",
        "calls_dropped": "Dropped by the exchange or carrier",
        "asa_s": "Average speed of answer",
        "service_level": f"Service level{service_level}",
        "wait_p50_s": "Median wait",
        "wait_p90_s": "90th percentile wait",
        "answered_immediately_share": f"Answered immediately{immediately}",
        "callbacks_requested": "Callbacks requested",
        "callbacks_completed": "Callbacks completed",
        "callbacks_failed": "Callbacks failed (retries exhausted)",
        "callbacks_expired": "Callbacks expired",
        "callback_response_median_s": "Median callback response",
        "callbacks_same_day_share": "Callbacks made the same working day",
        "callback_response_mean_working_s": "Mean callback response (working time)",
        "callback_response_mean_calendar_s": "Mean callback response (calendar time)",
        "promise_kept_share": "Callbacks made within the service promise",
    }


def _kpi_table(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    """Known measures in a fixed order, then any other numeric key the report carries."""
    labels = _kpi_labels(thresholds)
    extra = [
        key
        for key, value in report.items()
        if key not in labels and key not in _STRUCTURE_KEYS and _number(value) is not None
    ]
    rows = [(labels[key], _measure(key, report.get(key))) for key in labels]
    rows += [(_measure_label(key), _measure(key, report[key])) for key in extra]
    return _table(("Measure", "Value"), rows)


def _by_weekday(groups: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Weekday rows Monday first, as a week reads, whatever order the report gave."""
    rank = {day: index for index, day in enumerate(_WEEKDAYS)}
    named = sorted(groups.items(), key=lambda item: rank.get(str(item[0]).lower(), len(rank)))
    return [(_label(str(day)), _mapping(row)) for day, row in named]


def _breakdown_table(heading: str, named: list[tuple[str, Mapping[str, Any]]]) -> str:
    """One row per group, the standard columns and then any extra numeric ones."""
    columns = list(_BREAKDOWN_COLUMNS)
    known = {key for key, _ in columns}
    for _, row in named:
        for key, value in row.items():
            if key not in known and _number(value) is not None:
                known.add(key)
                columns.append((key, _measure_label(key)))
    rows = [(name, *(_measure(key, row.get(key)) for key, _ in columns)) for name, row in named]
    return _table((heading, *(title for _, title in columns)), rows)


def _share_table(heading: str, groups: Mapping[str, Any]) -> str:
    """Contacts and their share per category, the most frequent first."""
    named = [(str(name), _mapping(row)) for name, row in groups.items()]
    named.sort(key=lambda item: -_count(item[1], "contacts"))
    rows = [
        (_label(name), _plain(row.get("contacts")), _share(row.get("share"))) for name, row in named
    ]
    return _table((heading, "Contacts", "Share"), rows)


def _table(headings: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    body = ["<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows]
    if not body:
        return _no_data()
    head = "<tr>" + "".join(f'<th scope="col">{_e(title)}</th>' for title in headings) + "</tr>"
    return (
        f'<div class="table-wrap"><table><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _statutory_tiles(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    """The three figures the regional state agency reviews, large enough to read from afar."""
    immediately = _within(thresholds.get("answered_immediately_within_s"))
    working = _hours(report.get("callback_response_mean_working_s"))
    tiles = [
        (
            _share(report.get("answered_immediately_share")),
            f"of calls answered immediately{immediately}",
        ),
        (
            _share(report.get("callbacks_same_day_share")),
            "of callbacks made the same working day",
        ),
        (
            _hours(report.get("callback_response_mean_calendar_s")),
            f"mean callback response, calendar time (working time: {working})",
        ),
    ]
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><div class="value">{_e(value)}</div>'
            f'<div class="what">{_e(what)}</div></div>'
            for value, what in tiles
        )
        + "</div>"
    )


def _footer(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    def seconds(key: str) -> str:
        number = _number(thresholds.get(key))
        return NO_VALUE if number is None else f"{_plain(number)} s"

    return (
        "<footer>"
        f"<p>Generated at {_e(_text(report.get('generated_at')))}.</p>"
        "<p>Thresholds: answered immediately = answered within "
        f"{_e(seconds('answered_immediately_within_s'))}; service level = answered within "
        f"{_e(seconds('service_level_within_s'))}; short abandon = hung up in the queue "
        f"within {_e(seconds('short_abandon_under_s'))}.</p>"
        "</footer>"
    )


def _no_data() -> str:
    return '<p class="no-data">No data for this period.</p>'


# --- charts -------------------------------------------------------------------------------


def _chart(title: str, salt: str, figure: Figure | None) -> str:
    """A captioned chart, or a "no data" note when there is nothing to draw."""
    if figure is None:
        return f"<figure><figcaption>{_e(title)}</figcaption>{_no_data()}</figure>"
    return f"<figure><figcaption>{_e(title)}</figcaption>{_svg(figure, salt, title)}</figure>"


def _svg(figure: Figure, salt: str, title: str) -> str:
    """``figure`` as an inline ``<svg>`` element, without the XML prolog and doctype."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"callflow-{salt}"}):
        figure.savefig(buffer, format="svg", metadata=_NO_SVG_METADATA)
    drawing = buffer.getvalue()
    drawing = drawing[drawing.index("<svg") :]
    return drawing.replace("<svg", f'<svg role="img" aria-label="{_e(title)}"', 1)


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


def _hourly_figure(by_hour: Mapping[str, Any], timezone: str) -> Figure | None:
    """Offered, answered and abandoned calls side by side for each local hour."""
    by_label = sorted(
        ((str(hour), row) for hour, row in by_hour.items() if isinstance(row, Mapping)),
        key=lambda pair: pair[0],
    )
    hours = [hour for hour, _ in by_label]
    rows = [row for _, row in by_label]
    series = (
        ("offered", _OFFERED, [_count(row, "offered") for row in rows]),
        ("answered", _GOOD, [_count(row, "answered") for row in rows]),
        (
            "abandoned (menu + queue)",
            _BAD,
            [_count(row, "abandoned_ivr") + _count(row, "abandoned_queue") for row in rows],
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
        ((bound, row) for row in rows if (bound := _number(row.get(bound_key))) is not None),
        key=lambda pair: pair[0],
    )
    longer = f"> {bound_text(bounded[-1][0])}" if bounded else "longer"
    labelled: list[tuple[str, float | None, Mapping[str, Any]]] = [
        (f"≤ {bound_text(bound)}", bound, row) for bound, row in bounded
    ]
    labelled += [(longer, None, row) for row in rows if _number(row.get(bound_key)) is None]
    return labelled


def _wait_figure(rows: list[Mapping[str, Any]], within_s: float | None) -> Figure | None:
    """Calls per waiting-time bucket, those inside the service-level target in green."""
    buckets = _buckets(rows, "le_s", _wait_bound)
    calls = [_count(row, "calls") for _, _, row in buckets]
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
    return f"{_plain(seconds)} s" if seconds < 60 else f"{_plain(seconds / 60)} min"


def _callback_figure(rows: list[Mapping[str, Any]]) -> Figure | None:
    """Callbacks per response-time bucket, split into made within and after the promise."""
    buckets = _buckets(rows, "le_h", lambda hours: f"{_plain(hours)} h")
    kept = [_count(row, "kept") for _, _, row in buckets]
    late = [_count(row, "late") for _, _, row in buckets]
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


def _statutory_figure(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Figure | None:
    """The two statutory shares on a 0–100 % scale, each named with its threshold."""
    shares = [
        (
            f"Calls answered immediately{_within(thresholds.get('answered_immediately_within_s'))}",
            _number(report.get("answered_immediately_share")),
        ),
        ("Callbacks made the same working day", _number(report.get("callbacks_same_day_share"))),
    ]
    if all(value is None for _, value in shares):
        return None
    figure = Figure(figsize=(7.5, 1.8), layout="constrained")
    axes = figure.subplots()
    slots = range(len(shares))
    bars = axes.barh(slots, [100 * (value or 0.0) for _, value in shares], color=_GOOD, height=0.55)
    axes.bar_label(bars, labels=[_share(value) for _, value in shares], padding=4)
    axes.set_yticks(slots, [label for label, _ in shares])
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("share (%)")
    axes.grid(axis="x", color=_GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    return figure


_CSS: Final = """
:root { --ink: #1d2733; --muted: #5b6672; --line: #d9dee3; --accent: #2f7d5b; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 64rem; padding: 2rem 1.5rem; color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 0.25rem; }
h2 { font-size: 1.15rem; margin: 2.25rem 0 0.75rem; padding-bottom: 0.25rem;
  border-bottom: 1px solid var(--line); }
.meta { margin: 0; color: var(--muted); }
.tiles { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(13rem, 1fr)); }
.tile { padding: 1rem 1.25rem; border: 1px solid var(--line); border-radius: 0.5rem; }
.tile .value { font-size: 2.2rem; font-weight: 650; color: var(--accent); line-height: 1.2; }
.tile .what { color: var(--muted); font-size: 0.9rem; }
figure { margin: 1.25rem 0 2rem; }
figcaption { font-weight: 600; margin-bottom: 0.5rem; }
figure svg { display: block; width: 100%; height: auto; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { color: var(--muted); font-size: 0.85rem; font-weight: 600; vertical-align: bottom; }
tbody tr:hover { background: #f5f7f9; }
.no-data { margin: 0; padding: 1.5rem; text-align: center; color: var(--muted);
  font-style: italic; border: 1px dashed var(--line); border-radius: 0.5rem; }
footer { margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 0.85rem; }
@media print { body { max-width: none; } figure, table, .tile { break-inside: avoid; } }
"""

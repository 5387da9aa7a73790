"""The report as text: aligned tables for a terminal, and CSV for spreadsheets and scripts.

The CSV is long ("tidy"): one row per figure, ``section,key,measure,value``,
so every section fits one shape and a script filters rows instead of knowing
columns. Top-level measures are section ``summary`` with an empty key;
breakdowns use the group as the key (a queue, a channel, ``monday``, ``09``,
``2026-W03``, a reason);
distribution classes use their upper edge as the key, the open-ended last
class ``over_<last edge>``. An empty value is a measure with no data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from callflow.reports.kpis import is_share

NO_VALUE = "–"
BREAKDOWNS = ("by_queue", "by_channel", "by_weekday", "by_hour", "surveys_by_week")
SHARES = ("by_reason", "by_referral")
DISTRIBUTIONS = {"wait_distribution": "le_s", "callback_response_distribution": "le_h"}
STRUCTURE = {"period", "queue", "timezone", "generated_at", "thresholds", *BREAKDOWNS, *SHARES}
STRUCTURE |= set(DISTRIBUTIONS)

STATUTORY = (
    "answered_immediately_share",
    "callbacks_same_day_share",
    "callback_response_mean_calendar_s",
)
COLUMN_TITLES = {
    "offered": "offered",
    "answered": "answered",
    "abandoned_ivr": "hung up menu",
    "abandoned_queue": "hung up queue",
    "short_abandons": "short",
    "calls_dropped": "dropped",
    "asa_s": "ASA",
    "service_level": "service lvl",
    "answered_immediately_share": "immediately",
    "callbacks_requested": "callbacks",
    "callbacks_completed": "completed",
    "callbacks_same_day_share": "same day",
    "promise_kept_share": "promise kept",
    "callback_response_mean_calendar_s": "response",
    "closed_hours_calls": "closed",
    "contacts": "contacts",
    "taken_up": "taken up",
    "reaction_time_mean_s": "reaction",
    "reaction_time_p90_s": "reaction p90",
    "surveys_asked": "asked",
    "survey_responses": "answers",
    "survey_response_rate": "answer rate",
    "nps": "NPS",
}


# -- table -----------------------------------------------------------------------------------


def render_table(report: Mapping[str, Any]) -> str:
    """Headline figures, the statutory three first, then breakdowns and distributions."""
    period = report["period"]
    queue = report["queue"] or "all queues"
    thresholds = report["thresholds"]
    lines = [
        f"Report {period['from']} – {period['to']}, {queue} (local time {report['timezone']})",
        f"generated {report['generated_at']}; answered immediately = within "
        f"{_plain(thresholds['answered_immediately_within_s'])} s, service level = within "
        f"{_plain(thresholds['service_level_within_s'])} s, short abandon = under "
        f"{_plain(thresholds['short_abandon_under_s'])} s",
        "",
        "Statutory measures",
        *_pairs((key, report[key]) for key in STATUTORY),
        "",
        "All measures",
        *_pairs((key, value) for key, value in report.items() if key not in STRUCTURE),
    ]
    for section in BREAKDOWNS:
        name = section.removeprefix("by_").removeprefix("surveys_by_")
        lines += ["", section, *_grid(name, report[section])]
    for section in SHARES:
        rows = [
            (key, [_plain(r["contacts"]), _format("share", r["share"])])
            for key, r in report[section].items()
        ]
        lines += ["", section, *_aligned(["", "contacts", "share"], rows)]
    for section, edge in DISTRIBUTIONS.items():
        classes = report[section]
        measures = [key for key in classes[0] if key != edge] if classes else []
        rows = [
            (_class_name(row[edge], classes, edge), [_plain(row[m]) for m in measures])
            for row in classes
        ]
        lines += ["", section, *_aligned([edge, *measures], rows)]
    return "\n".join(lines) + "\n"


def _pairs(items: Iterable[tuple[str, Any]]) -> list[str]:
    pairs = list(items)
    width = max((len(key) for key, _ in pairs), default=0)
    return [f"  {key:<{width}}  {_format(key, value):>12}" for key, value in pairs]


def _grid(name: str, groups: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not groups:
        return ["  (no data)"]
    measures = list(next(iter(groups.values())))
    rows = [(key, [_format(m, row.get(m)) for m in measures]) for key, row in groups.items()]
    return _aligned([name, *(COLUMN_TITLES.get(m, m) for m in measures)], rows)


def _aligned(titles: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    if not rows:
        return ["  (no data)"]
    table = [list(titles), *([str(key), *cells] for key, cells in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(titles))]
    return [
        "  "
        + "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


def _class_name(edge: Any, classes: Sequence[Mapping[str, Any]], key: str) -> str:
    if edge is not None:
        return f"≤ {edge}"
    last = [row[key] for row in classes if row[key] is not None]
    return f"> {last[-1]}" if last else "all"


def _format(key: str, value: Any) -> str:
    """A share as a percentage, seconds with hours and minutes when long, null as a dash."""
    if value is None:
        return NO_VALUE
    if is_share(key):
        return f"{value * 100:.1f} %"
    if key.endswith("_s"):
        return _duration(float(value))
    return _plain(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- CSV -------------------------------------------------------------------------------------


def render_csv(report: Mapping[str, Any]) -> str:
    """The CSV text, a header row first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "measure", "value"])
    writer.writerows(csv_rows(report))
    return out.getvalue()


def csv_rows(report: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """Every figure of *report* as (section, key, measure, value)."""
    yield "period", "", "from", report["period"]["from"]
    yield "period", "", "to", report["period"]["to"]
    yield "period", "", "queue", _cell(report["queue"])
    yield "period", "", "timezone", report["timezone"]
    yield "period", "", "generated_at", report["generated_at"]
    for measure, value in report["thresholds"].items():
        yield "thresholds", "", measure, _cell(value)
    for measure, value in report.items():
        if measure not in STRUCTURE:
            yield "summary", "", measure, _cell(value)
    for section in (*BREAKDOWNS, *SHARES):
        for key, row in report[section].items():
            for measure, value in row.items():
                yield section, key, measure, _cell(value)
    for section, edge in DISTRIBUTIONS.items():
        classes = report[section]
        for row in classes:
            key = _cell(row[edge]) if row[edge] is not None else f"over_{_last_edge(classes, edge)}"
            for measure, value in row.items():
                if measure != edge:
                    yield section, key, measure, _cell(value)


def _last_edge(classes: Sequence[Mapping[str, Any]], edge: str) -> str:
    edges = [row[edge] for row in classes if row[edge] is not None]
    return _cell(edges[-1]) if edges else "0"


def _cell(value: Any) -> str:
    return "" if value is None else _plain(value)

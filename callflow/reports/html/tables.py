"""The page's tables: the headline figures, the breakdowns, and the statutory tiles.

Known measures come in a fixed order with their names in words; any other
numeric key the report carries is listed after them, so a new measure shows up
before anyone updates this page. Each value is formatted by what its key says
it is (a share, seconds, or a count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from callflow.reports.html.formatting import (
    count,
    escape,
    hours,
    label,
    mapping,
    measure,
    measure_label,
    no_data,
    number,
    plain,
    share,
    within,
)

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
_STRUCTURE_KEYS: Final = frozenset(
    {
        "period",
        "queue",
        "timezone",
        "generated_at",
        "thresholds",
        "by_queue",
        "by_channel",
        "by_weekday",
        "by_hour",
        "surveys_by_week",
        "by_reason",
        "by_referral",
        "wait_distribution",
        "callback_response_distribution",
    }
)


def _kpi_labels(thresholds: Mapping[str, Any]) -> dict[str, str]:
    immediately = within(thresholds.get("answered_immediately_within_s"))
    service_level = within(thresholds.get("service_level_within_s"))
    short = number(thresholds.get("short_abandon_under_s"))
    short_text = "" if short is None else f" (under {plain(short)} s)"
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
        "surveys_asked": "Recommendation questions asked",
        "survey_responses": "Answers to the recommendation question",
        "survey_response_rate": "Share of questions answered",
        "nps": "NPS, the recommendation index (−100…100)",
    }


def kpi_table(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    """Known measures in a fixed order, then any other numeric key the report carries."""
    labels = _kpi_labels(thresholds)
    extra = [
        key
        for key, value in report.items()
        if key not in labels and key not in _STRUCTURE_KEYS and number(value) is not None
    ]
    rows = [(labels[key], measure(key, report.get(key))) for key in labels]
    rows += [(measure_label(key), measure(key, report[key])) for key in extra]
    return _table(("Measure", "Value"), rows)


def by_weekday(groups: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Weekday rows Monday first, as a week reads, whatever order the report gave."""
    rank = {day: index for index, day in enumerate(_WEEKDAYS)}
    named = sorted(groups.items(), key=lambda item: rank.get(str(item[0]).lower(), len(rank)))
    return [(label(str(day)), mapping(row)) for day, row in named]


def breakdown_table(heading: str, named: list[tuple[str, Mapping[str, Any]]]) -> str:
    """One row per group, the standard columns and then any extra numeric ones."""
    columns = list(_BREAKDOWN_COLUMNS)
    known = {key for key, _ in columns}
    for _, row in named:
        for key, value in row.items():
            if key not in known and number(value) is not None:
                known.add(key)
                columns.append((key, measure_label(key)))
    rows = [(name, *(measure(key, row.get(key)) for key, _ in columns)) for name, row in named]
    return _table((heading, *(title for _, title in columns)), rows)


_CHANNELS: Final = (
    ("phone", "Phone, answered live"),
    ("callback", "Callback asked for on the phone"),
    ("web", "Request from the web page"),
)
_CHANNEL_COLUMNS: Final = (
    ("contacts", "Contacts"),
    ("taken_up", "Taken up"),
    ("reaction_time_mean_s", "Mean reaction time"),
    ("reaction_time_p90_s", "90th percentile reaction time"),
    ("survey_responses", "Survey answers"),
    ("survey_response_rate", "Answer rate"),
    ("nps", "NPS"),
)
_WEEK_COLUMNS: Final = (
    ("surveys_asked", "Asked"),
    ("survey_responses", "Answers"),
    ("survey_response_rate", "Answer rate"),
    ("nps", "NPS"),
)


def channel_table(groups: Mapping[str, Any]) -> str:
    """One row per channel: what came, what an advisor took up, how soon, and the NPS."""
    names = dict(_CHANNELS)
    named = [(names.get(str(key), label(str(key))), mapping(row)) for key, row in groups.items()]
    rows = [
        (name, *(measure(key, row.get(key)) for key, _ in _CHANNEL_COLUMNS)) for name, row in named
    ]
    return _table(("Channel", *(title for _, title in _CHANNEL_COLUMNS)), rows)


def week_table(weeks: Mapping[str, Any]) -> str:
    """The recommendation question week by week: its dates, answers and NPS."""
    rows = []
    for week, row in weeks.items():
        days = mapping(row)
        dates = f"{days.get('from')} – {days.get('to')}"
        rows.append((str(week), dates, *(measure(key, days.get(key)) for key, _ in _WEEK_COLUMNS)))
    return _table(("Week", "Dates", *(title for _, title in _WEEK_COLUMNS)), rows)


def share_table(heading: str, groups: Mapping[str, Any]) -> str:
    """Contacts and their share per category, the most frequent first."""
    named = [(str(name), mapping(row)) for name, row in groups.items()]
    named.sort(key=lambda item: -count(item[1], "contacts"))
    rows = [
        (label(name), plain(row.get("contacts")), share(row.get("share"))) for name, row in named
    ]
    return _table((heading, "Contacts", "Share"), rows)


def _table(headings: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    body = ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows]
    if not body:
        return no_data()
    head = "<tr>" + "".join(f'<th scope="col">{escape(title)}</th>' for title in headings) + "</tr>"
    return (
        f'<div class="table-wrap"><table><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def statutory_tiles(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    """The three figures the regional state agency reviews, large enough to read from afar."""
    immediately = within(thresholds.get("answered_immediately_within_s"))
    working = hours(report.get("callback_response_mean_working_s"))
    tiles = [
        (
            share(report.get("answered_immediately_share")),
            f"of calls answered immediately{immediately}",
        ),
        (
            share(report.get("callbacks_same_day_share")),
            "of callbacks made the same working day",
        ),
        (
            hours(report.get("callback_response_mean_calendar_s")),
            f"mean callback response, calendar time (working time: {working})",
        ),
    ]
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><div class="value">{escape(value)}</div>'
            f'<div class="what">{escape(what)}</div></div>'
            for value, what in tiles
        )
        + "</div>"
    )

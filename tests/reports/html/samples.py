"""A report built by hand in the shape ``callflow report --format json`` prints, and a
way to read a table cell back out of the page."""

from __future__ import annotations

import re
from typing import Any

HOUR = {
    "offered": 12,
    "answered": 9,
    "abandoned_ivr": 1,
    "abandoned_queue": 2,
    "short_abandons": 1,
    "calls_dropped": 1,
    "asa_s": 95,
    "service_level": 0.75,
    "answered_immediately_share": 0.5,
    "callbacks_requested": 1,
}

CHANNEL = {
    "contacts": 120,
    "taken_up": 100,
    "reaction_time_mean_s": 9000,
    "reaction_time_p90_s": 27000,
    "surveys_asked": 50,
    "survey_responses": 20,
    "survey_response_rate": 0.4,
    "nps": 40.0,
}
WEEK = {
    "from": "2026-01-12",
    "to": "2026-01-18",
    "surveys_asked": 80,
    "survey_responses": 40,
    "survey_response_rate": 0.5,
    "nps": 27.5,
}


def sample_report() -> dict[str, Any]:
    """A report shaped like ``callflow report --format json`` output, built by hand."""
    return {
        "period": {"from": "2026-01-12", "to": "2026-01-16"},
        "queue": None,
        "timezone": "Europe/Helsinki",
        "generated_at": "2026-01-17T08:00:00+00:00",
        "thresholds": {
            "answered_immediately_within_s": 60,
            "service_level_within_s": 120,
            "short_abandon_under_s": 10,
        },
        "offered": 310,
        "answered": 250,
        "abandoned_ivr": 12,
        "abandoned_queue": 20,
        "short_abandons": 6,
        "calls_dropped": 3,
        "asa_s": 95,
        "service_level": 0.8,
        "wait_p50_s": 42,
        "wait_p90_s": 400,
        "callbacks_requested": 40,
        "callbacks_completed": 35,
        "callbacks_failed": 2,
        "callbacks_expired": 1,
        "callback_response_median_s": 7200,
        "answered_immediately_share": 0.5,
        "callbacks_same_day_share": 0.74,
        "callback_response_mean_working_s": 9000,
        "callback_response_mean_calendar_s": 50400,
        "promise_kept_share": 0.9,
        "chat_wait_mean_s": 36,
        "survey_response_rate": 0.4,
        "nps": 31.5,
        "by_queue": {"health": HOUR, "social": HOUR},
        "by_channel": {
            "phone": CHANNEL | {"reaction_time_mean_s": 95, "reaction_time_p90_s": 400},
            "web": CHANNEL | {"nps": -12.5},
        },
        "surveys_by_week": {
            "2026-W03": WEEK,
            "2026-W04": WEEK | {"from": "2026-01-19", "to": "2026-01-20", "nps": None},
        },
        "by_weekday": {"tuesday": HOUR, "monday": HOUR},
        "by_hour": {f"{hour:02d}": HOUR for hour in range(9, 15)},
        "by_reason": {
            "health": {"contacts": 120, "share": 0.462},
            "appointment_booking": {"contacts": 40, "share": 0.154},
        },
        "by_referral": {"own_services": {"contacts": 80, "share": 0.5}},
        "wait_distribution": [
            {"le_s": 10, "calls": 80},
            {"le_s": 30, "calls": 40},
            {"le_s": 60, "calls": 30},
            {"le_s": 120, "calls": 30},
            {"le_s": 300, "calls": 40},
            {"le_s": None, "calls": 10},
        ],
        "callback_response_distribution": [
            {"le_h": 1, "kept": 10, "late": 0},
            {"le_h": 4, "kept": 15, "late": 1},
            {"le_h": 24, "kept": 5, "late": 3},
            {"le_h": None, "kept": 0, "late": 1},
        ],
    }


def empty_report() -> dict[str, Any]:
    """A period with no calls at all: every measure null, every breakdown empty."""
    report = sample_report()
    for key in report:
        if key not in {"period", "queue", "timezone", "generated_at", "thresholds"}:
            report[key] = None
    report.update(
        by_queue={},
        by_channel={},
        surveys_by_week={},
        by_weekday={},
        by_hour={"09": dict.fromkeys(HOUR)},
        by_reason={},
        by_referral={},
        wait_distribution=[{"le_s": 10, "calls": 0}],
        callback_response_distribution=[],
    )
    return report


def cell_after(page: str, label: str) -> str:
    """The text of the table cell that follows the cell holding ``label``."""
    found = re.search(rf"<td>{re.escape(label)}</td><td>([^<]*)</td>", page)
    assert found, f"no row {label!r}"
    return found.group(1)

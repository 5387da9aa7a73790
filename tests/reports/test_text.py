"""The report as terminal text and as CSV rows."""

from __future__ import annotations

import csv
import io
from typing import Any

from callflow.reports.text import render_csv, render_table

ROW = {
    "offered": 12,
    "answered": 9,
    "abandoned_ivr": 1,
    "abandoned_queue": 2,
    "short_abandons": 0,
    "calls_dropped": 1,
    "asa_s": 95.0,
    "service_level": 0.75,
    "answered_immediately_share": None,
    "callbacks_requested": 1,
}
CHANNEL = {
    "contacts": 20,
    "taken_up": 18,
    "reaction_time_mean_s": 7_200.0,
    "reaction_time_p90_s": 14_400.0,
    "surveys_asked": 10,
    "survey_responses": 7,
    "survey_response_rate": 0.7,
    "nps": None,
}


def a_report() -> dict[str, Any]:
    return {
        "period": {"from": "2026-01-12", "to": "2026-01-16"},
        "queue": None,
        "timezone": "Europe/Helsinki",
        "generated_at": "2026-01-17T08:00:00+00:00",
        "thresholds": {
            "answered_immediately_within_s": 60.0,
            "service_level_within_s": 120.0,
            "short_abandon_under_s": 10.0,
        },
        "offered": 310,
        "asa_s": 95.0,
        "service_level": 0.8,
        "wait_p50_s": None,
        "answered_immediately_share": 0.5,
        "callbacks_same_day_share": 0.74,
        "callback_response_mean_calendar_s": 50_400.0,
        "nps": 14.3,
        "survey_response_rate": 0.5,
        "by_queue": {"health": ROW},
        "by_channel": {"web": CHANNEL},
        "by_weekday": {"monday": ROW},
        "by_hour": {"09": ROW},
        "surveys_by_week": {"2026-W03": {"from": "2026-01-12", "to": "2026-01-16", "nps": -20.0}},
        "by_reason": {"health": {"contacts": 3, "share": 0.75}},
        "by_referral": {},
        "wait_distribution": [{"le_s": 10, "calls": 4}, {"le_s": None, "calls": 1}],
        "callback_response_distribution": [
            {"le_h": 1, "kept": 2, "late": 0},
            {"le_h": None, "kept": 0, "late": 1},
        ],
    }


def test_the_table_leads_with_the_statutory_three() -> None:
    table = render_table(a_report())
    lines = table.splitlines()
    assert lines[0] == "Report 2026-01-12 – 2026-01-16, all queues (local time Europe/Helsinki)"
    first = lines.index("Statutory measures") + 1
    assert [line.split(maxsplit=1) for line in lines[first : first + 3]] == [
        ["answered_immediately_share", "50.0 %"],
        ["callbacks_same_day_share", "74.0 %"],
        ["callback_response_mean_calendar_s", "14 h 00 min"],
    ]


def test_the_table_shows_units_and_no_data_as_a_dash() -> None:
    table = render_table(a_report())
    assert "1 min 35 s" in table  # ASA
    assert any(line.split() == ["wait_p50_s", "–"] for line in table.splitlines())
    header = next(line for line in table.splitlines() if line.strip().startswith("queue"))
    assert header.split()[:3] == ["queue", "offered", "answered"]
    assert "short  dropped" in header
    assert "(no data)" in table  # no referrals
    assert "> 10 " in table and "> 1 " in table


def test_csv_is_one_figure_per_row() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(a_report()))))
    assert set(rows[0]) == {"section", "key", "measure", "value"}
    found = {(r["section"], r["key"], r["measure"]): r["value"] for r in rows}
    assert found[("period", "", "from")] == "2026-01-12"
    assert found[("period", "", "queue")] == ""
    assert found[("thresholds", "", "service_level_within_s")] == "120"
    assert found[("summary", "", "offered")] == "310"
    assert found[("summary", "", "service_level")] == "0.8"
    assert found[("summary", "", "wait_p50_s")] == ""  # no data
    assert found[("by_queue", "health", "asa_s")] == "95"
    assert found[("by_hour", "09", "answered_immediately_share")] == ""
    assert found[("by_reason", "health", "share")] == "0.75"
    assert found[("wait_distribution", "10", "calls")] == "4"
    assert found[("wait_distribution", "over_10", "calls")] == "1"
    assert found[("callback_response_distribution", "over_1", "late")] == "1"


def test_the_table_shows_channels_and_weeks_with_nps_in_points() -> None:
    lines = render_table(a_report()).splitlines()
    assert any(line.split() == ["nps", "14.3"] for line in lines)
    assert any(line.split() == ["survey_response_rate", "50.0", "%"] for line in lines)
    header = lines.index("by_channel") + 1
    assert lines[header].split()[:4] == ["channel", "contacts", "taken", "up"]
    assert lines[header + 1].split() == [
        "web", "20", "18", "2", "h", "00", "min", "4", "h", "00", "min", "10", "7", "70.0", "%", "–"
    ]  # fmt: skip
    week = lines.index("surveys_by_week") + 2
    assert lines[week].split() == ["2026-W03", "2026-01-12", "2026-01-16", "-20"]


def test_csv_keys_channels_and_weeks_by_name() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(a_report()))))
    found = {(r["section"], r["key"], r["measure"]): r["value"] for r in rows}
    assert found[("summary", "", "nps")] == "14.3"
    assert found[("by_channel", "web", "reaction_time_p90_s")] == "14400"
    assert found[("by_channel", "web", "nps")] == ""
    assert found[("surveys_by_week", "2026-W03", "nps")] == "-20"
    assert found[("surveys_by_week", "2026-W03", "from")] == "2026-01-12"

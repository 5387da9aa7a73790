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
        "by_queue": {"health": ROW},
        "by_weekday": {"monday": ROW},
        "by_hour": {"09": ROW},
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

"""The HTML report page: opens offline, draws four charts, escapes, formats, never crashes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from callflow.reports.html import render_html

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
        "by_queue": {"health": HOUR, "social": HOUR},
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
        by_weekday={},
        by_hour={"09": dict.fromkeys(HOUR)},
        by_reason={},
        by_referral={},
        wait_distribution=[{"le_s": 10, "calls": 0}],
        callback_response_distribution=[],
    )
    return report


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(sample_report())


def cell_after(page: str, label: str) -> str:
    """The text of the table cell that follows the cell holding ``label``."""
    found = re.search(rf"<td>{re.escape(label)}</td><td>([^<]*)</td>", page)
    assert found, f"no row {label!r}"
    return found.group(1)


class TestSelfContained:
    def test_nothing_is_fetched_from_the_network(self, page: str) -> None:
        """No src/href/url() points anywhere but inside the page, and nothing is linked in."""
        remote = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?)\s*(?:https?:)?//""")
        assert not remote.search(page)
        assert "<script" not in page
        assert "<link" not in page
        assert "@import" not in page

    def test_the_four_charts_are_inline_svg(self, page: str) -> None:
        assert page.count("<svg") == 4
        assert "<?xml" not in page
        assert "<!DOCTYPE svg" not in page

    def test_the_same_report_gives_the_same_bytes(self, page: str) -> None:
        assert render_html(sample_report()) == page


class TestHeader:
    def test_the_title_names_period_queue_and_timezone(self, page: str) -> None:
        assert "2026-01-12 – 2026-01-16" in page
        assert "All queues" in page
        assert "Europe/Helsinki" in page

    def test_the_footer_names_generation_time_and_thresholds(self, page: str) -> None:
        footer = page[page.index("<footer>") :]
        assert "2026-01-17T08:00:00+00:00" in footer
        assert "answered within 60 s" in footer
        assert "answered within 120 s" in footer
        assert "within 10 s" in footer


class TestEscaping:
    def test_strings_from_the_report_are_escaped(self) -> None:
        """A queue or category named like markup shows as text, never as markup."""
        report = empty_report()
        report.update(
            queue="<b>",
            by_queue={"<b>": HOUR},
            by_reason={"<script>x</script>": {"contacts": 1, "share": 1.0}},
            timezone='Europe/"Helsinki"',
        )
        page = render_html(report)
        assert "<b>" not in page
        assert "<script" not in page
        assert "Queue &lt;b&gt;" in page
        assert "<td>&lt;b&gt;</td>" in page
        assert "Europe/&quot;Helsinki&quot;" in page


class TestFigures:
    def test_the_statutory_three_are_shown_as_percentages_and_hours(self, page: str) -> None:
        tiles = page[page.index('<div class="tiles">') : page.index("<figure>")]
        assert "50.0%" in tiles
        assert "74.0%" in tiles
        assert "14.0 h" in tiles
        assert "of calls answered immediately (within 60 s)" in tiles

    def test_kpis_are_formatted_by_what_they_measure(self, page: str) -> None:
        assert cell_after(page, "Calls offered") == "310"
        assert cell_after(page, "Average speed of answer") == "1:35"
        assert cell_after(page, "90th percentile wait") == "6:40"
        assert cell_after(page, "Service level (within 120 s)") == "80.0%"
        assert cell_after(page, "Median callback response") == "2.0 h"

    def test_calls_the_exchange_dropped_are_named_apart_from_hang_ups(self, page: str) -> None:
        assert cell_after(page, "Dropped by the exchange or carrier") == "3"
        by_queue = page[page.index("<h2>By queue</h2>") :]
        header = by_queue[: by_queue.index("</tr>")]
        assert (
            '<th scope="col">Short abandons</th><th scope="col">Dropped by the exchange</th>'
            in header
        )

    def test_an_unknown_numeric_key_is_listed_too(self, page: str) -> None:
        assert cell_after(page, "Chat wait mean") == "0:36"

    def test_weekdays_read_monday_first(self, page: str) -> None:
        assert page.index("<td>Monday</td>") < page.index("<td>Tuesday</td>")

    def test_reasons_and_referrals_show_contacts_and_shares(self, page: str) -> None:
        assert "<td>Appointment booking</td><td>40</td><td>15.4%</td>" in page
        assert "<td>Own services</td><td>80</td><td>50.0%</td>" in page


class TestNoData:
    def test_a_period_without_calls_renders_with_dashes_and_no_charts(self) -> None:
        page = render_html(empty_report())
        assert "<svg" not in page
        assert page.count("No data for this period.") >= 4 + 4  # four charts, four tables
        assert cell_after(page, "Calls offered") == "–"
        assert cell_after(page, "Answered immediately (within 60 s)") == "–"

    def test_even_a_bare_dict_renders(self) -> None:
        page = render_html({})
        assert "<h1>Hotline report</h1>" in page
        assert "<svg" not in page

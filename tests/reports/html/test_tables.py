"""The page's tables: the statutory three, the headline figures formatted by what they
measure, the breakdowns."""

from __future__ import annotations

from tests.reports.html.samples import cell_after


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

"""The HTML report page: opens offline, names its period and thresholds, escapes, never
crashes on a report with no data or no shape at all."""

from __future__ import annotations

import re

from callflow.reports.html import render_html
from tests.reports.html.samples import HOUR, cell_after, empty_report, sample_report


class TestSelfContained:
    def test_nothing_is_fetched_from_the_network(self, page: str) -> None:
        """No src/href/url() points anywhere but inside the page, and nothing is linked in."""
        remote = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?)\s*(?:https?:)?//""")
        assert not remote.search(page)
        assert "<script" not in page
        assert "<link" not in page
        assert "@import" not in page


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


class TestChannelsAndWeeks:
    def test_reaction_times_and_nps_per_channel(self, page: str) -> None:
        row = re.search(r"<tr><td>Phone, answered live</td>(.*?)</tr>", page)
        assert row is not None
        cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
        assert cells == ["120", "100", "1:35", "6:40", "20", "40.0%", "40.0"]
        assert "<td>Request from the web page</td>" in page
        assert "<td>−12.5</td>" in page

    def test_nps_by_week_as_a_table_and_a_chart(self, page: str) -> None:
        section = page[page.index("<h2>NPS by week</h2>") :]
        section = section[: section.index("</section>")]
        assert cell_after(section, "2026-W03") == "2026-01-12 – 2026-01-18"
        assert re.search(r"<td>2026-W03</td><td>[^<]*</td><td>80</td><td>40</td>", section)
        assert "<td>27.5</td>" in section
        week4 = re.search(r"<tr><td>2026-W04</td>(.*?)</tr>", section)
        assert week4 is not None and week4.group(1).endswith("<td>–</td>")
        assert '<svg role="img" aria-label="NPS by week"' in section

    def test_weeks_without_an_nps_draw_no_chart(self) -> None:
        report = sample_report()
        report["surveys_by_week"] = {"2026-W03": {"from": "2026-01-12", "nps": None}}
        page = render_html(report)
        section = page[page.index("<h2>NPS by week</h2>") :]
        assert "<svg" not in section[: section.index("</section>")]

    def test_the_headline_table_names_the_nps(self, page: str) -> None:
        assert cell_after(page, "NPS, the recommendation index (−100…100)") == "31.5"
        assert cell_after(page, "Share of questions answered") == "40.0%"


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

"""The page's charts: five inline SVGs, the same bytes for the same report."""

from __future__ import annotations

from callflow.reports.html import render_html
from tests.reports.html.samples import sample_report


class TestInlineSvg:
    def test_the_five_charts_are_inline_svg(self, page: str) -> None:
        assert page.count("<svg") == 5
        assert "<?xml" not in page
        assert "<!DOCTYPE svg" not in page

    def test_the_same_report_gives_the_same_bytes(self, page: str) -> None:
        assert render_html(sample_report()) == page

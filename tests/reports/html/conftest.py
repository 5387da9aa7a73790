"""The sample report's page, rendered once per test module."""

from __future__ import annotations

import pytest

from callflow.reports.html import render_html
from tests.reports.html.samples import sample_report


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(sample_report())

"""The report as an HTML page that opens offline (``callflow report --format html``).

:func:`render_html` is the entry point: :mod:`.page` lays out the sections,
:mod:`.tables` and :mod:`.charts` draw them, :mod:`.formatting` reads the
report's values and writes them for people.
"""

from callflow.reports.html.page import render_html

__all__ = ["render_html"]

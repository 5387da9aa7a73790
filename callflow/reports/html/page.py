"""The report as one self-contained HTML page: headline tables and charts.

The page is mailed around and opened on locked-down workstations, so it must
open with no network at all: the CSS is inline, the charts are inline SVG
(:mod:`~callflow.reports.html.charts`), and nothing is linked in. This module
lays out the sections; the tables and charts draw their own parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from callflow.reports.html.charts import (
    callback_figure,
    chart,
    chart_style,
    hourly_figure,
    nps_figure,
    statutory_figure,
    wait_figure,
)
from callflow.reports.html.formatting import NO_VALUE, escape, mapping, number, plain, rows, text
from callflow.reports.html.tables import (
    breakdown_table,
    by_weekday,
    channel_table,
    kpi_table,
    share_table,
    statutory_tiles,
    week_table,
)


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page for ``report`` (the dict ``callflow report --format json`` prints)."""
    thresholds = mapping(report.get("thresholds"))
    with chart_style():
        sections = [
            _header(report),
            _statutory_section(report, thresholds),
            _section("Headline figures", kpi_table(report, thresholds)),
            _calls_section(report, thresholds),
            _section(
                "Callbacks",
                chart(
                    "Callback response time against the service promise",
                    "callback",
                    callback_figure(rows(report.get("callback_response_distribution"))),
                ),
            ),
            _channels_section(report),
            _breakdown_section(report),
            _footer(report, thresholds),
        ]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Hotline report {escape(_period(report))}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _section(heading: str, *parts: str) -> str:
    return "\n".join(["<section>", f"<h2>{escape(heading)}</h2>", *parts, "</section>"])


def _period(report: Mapping[str, Any]) -> str:
    period = mapping(report.get("period"))
    return f"{text(period.get('from'))} – {text(period.get('to'))}"


def _header(report: Mapping[str, Any]) -> str:
    queue = report.get("queue")
    queue_text = "All queues" if queue is None else f"Queue {queue}"
    timezone = text(report.get("timezone"))
    return (
        "<header><h1>Hotline report</h1>"
        f'<p class="meta">{escape(_period(report))} · {escape(queue_text)} · '
        f"times in {escape(timezone)}</p>"
        "</header>"
    )


def _statutory_section(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    return _section(
        "The statutory three",
        statutory_tiles(report, thresholds),
        chart("The two statutory shares", "statutory", statutory_figure(report, thresholds)),
    )


def _calls_section(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    timezone = text(report.get("timezone"))
    hourly = hourly_figure(mapping(report.get("by_hour")), timezone)
    wait = wait_figure(
        rows(report.get("wait_distribution")),
        number(thresholds.get("service_level_within_s")),
    )
    return _section(
        "Calls",
        chart("Calls by hour", "hourly", hourly),
        chart("How long callers waited", "wait", wait),
    )


def _channels_section(report: Mapping[str, Any]) -> str:
    weeks = mapping(report.get("surveys_by_week"))
    return "\n".join(
        [
            _section(
                "Reaction time and NPS by channel",
                channel_table(mapping(report.get("by_channel"))),
            ),
            _section(
                "NPS by week",
                week_table(weeks),
                chart("NPS by week", "nps", nps_figure(weeks)),
            ),
        ]
    )


def _breakdown_section(report: Mapping[str, Any]) -> str:
    queues = [(str(name), mapping(row)) for name, row in mapping(report.get("by_queue")).items()]
    return "\n".join(
        [
            _section("By queue", breakdown_table("Queue", queues)),
            _section(
                "By weekday",
                breakdown_table("Weekday", by_weekday(mapping(report.get("by_weekday")))),
            ),
            _section("Contact reasons", share_table("Reason", mapping(report.get("by_reason")))),
            _section("Referrals", share_table("Referred to", mapping(report.get("by_referral")))),
        ]
    )


def _footer(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> str:
    def seconds(key: str) -> str:
        limit = number(thresholds.get(key))
        return NO_VALUE if limit is None else f"{plain(limit)} s"

    return (
        "<footer>"
        f"<p>Generated at {escape(text(report.get('generated_at')))}.</p>"
        "<p>Thresholds: answered immediately = answered within "
        f"{escape(seconds('answered_immediately_within_s'))}; service level = answered within "
        f"{escape(seconds('service_level_within_s'))}; short abandon = hung up in the queue "
        f"within {escape(seconds('short_abandon_under_s'))}.</p>"
        "</footer>"
    )


_CSS: Final = """
:root { --ink: #1d2733; --muted: #5b6672; --line: #d9dee3; --accent: #2f7d5b; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 64rem; padding: 2rem 1.5rem; color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 0.25rem; }
h2 { font-size: 1.15rem; margin: 2.25rem 0 0.75rem; padding-bottom: 0.25rem;
  border-bottom: 1px solid var(--line); }
.meta { margin: 0; color: var(--muted); }
.tiles { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(13rem, 1fr)); }
.tile { padding: 1rem 1.25rem; border: 1px solid var(--line); border-radius: 0.5rem; }
.tile .value { font-size: 2.2rem; font-weight: 650; color: var(--accent); line-height: 1.2; }
.tile .what { color: var(--muted); font-size: 0.9rem; }
figure { margin: 1.25rem 0 2rem; }
figcaption { font-weight: 600; margin-bottom: 0.5rem; }
figure svg { display: block; width: 100%; height: auto; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { color: var(--muted); font-size: 0.85rem; font-weight: 600; vertical-align: bottom; }
tbody tr:hover { background: #f5f7f9; }
.no-data { margin: 0; padding: 1.5rem; text-align: center; color: var(--muted);
  font-style: italic; border: 1px dashed var(--line); border-radius: 0.5rem; }
footer { margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 0.85rem; }
@media print { body { max-width: none; } figure, table, .tile { break-inside: avoid; } }
"""

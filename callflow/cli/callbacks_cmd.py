"""``callflow callbacks``: the line of callback requests, one request's history, cancelling.

Phone numbers are personal data, and what is on an admin's screen ends up in
tickets and chat: tables and text always show them masked. The advisor
assigned to a callback sees the full number in their own view; only a
script that must act on numbers asks for them, with ``--show-numbers`` and
``--format csv`` or ``json``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    open_database,
    reports_errors,
)
from callflow.engine.clock import SystemClock
from callflow.engine.vocabulary import OPEN_CALLBACK_STATUSES, CallbackStatus
from callflow.reports.text import NO_VALUE, _aligned
from callflow.store.callback_views import (
    AttemptView,
    CallbackHistory,
    CallbackView,
    EventView,
    callback_history,
    list_callbacks,
)
from callflow.store.callbacks import cancel_by_admin
from callflow.store.models import Advisor, CallbackRequest
from callflow.values.numbers import mask_digits

F = TypeVar("F", bound=Callable[..., Any])

STATUSES = tuple(status.value for status in CallbackStatus)
LIST_FORMATS = ("table", "csv", "json")
SHOW_FORMATS = ("text", "json")
ADMIN_REASON = "cancelled by admin"
MAX_REASON = 64
"""The stored reason's column width."""
ERASED = "(erased)"
"""A number the retention purge removed."""


@click.group("callbacks")
def callbacks_group() -> None:
    """Callback requests: list them, show one's history, cancel one."""


def _show_numbers_option(function: F) -> F:
    return click.option(
        "--show-numbers",
        is_flag=True,
        help="Write full phone numbers (json and csv only). They are masked by default "
        "because numbers are personal data and admin output gets copied into tickets "
        "and chat; the assigned advisor sees the number in their own view. Use this "
        "only for a script that must act on the numbers.",
    )(function)


@callbacks_group.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only requests in this status (repeat for more) [default: pending and "
    "in_progress]. --status failed is the manual follow-up list.",
)
@click.option(
    "--at-risk",
    is_flag=True,
    help="Only open requests flagged as likely to miss their promised time, or already late.",
)
@click.option("--topic", default=None, help="Only this queue (topic) [default: all].")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most N rows."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(LIST_FORMATS),
    default="table",
    show_default=True,
    help="table for a terminal, csv for spreadsheets, json for scripts.",
)
@_show_numbers_option
@config_option
@database_option
@log_level_option("warning")
@reports_errors
def callbacks_list(
    statuses: tuple[str, ...],
    at_risk: bool,
    topic: str | None,
    limit: int,
    output_format: str,
    show_numbers: bool,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Callback requests: open ones in the order they will be called back (escalated
    first, then by when the caller entered the queue), closed ones newest first.

    Times are in the line's timezone.
    """
    _check_show_numbers(show_numbers, output_format)
    wanted = [CallbackStatus(s) for s in statuses] or list(OPEN_CALLBACK_STATUSES)
    closed = [s.value for s in wanted if s not in OPEN_CALLBACK_STATUSES]
    if at_risk and closed:
        raise click.BadParameter(
            f"--at-risk lists open requests; {', '.join(closed)} ones are closed",
            param_hint="--status",
        )
    config = load(config_file, log_level)
    if topic is not None and topic not in config.queues:
        raise click.BadParameter(
            f"no queue {topic!r}; the configured ones are {', '.join(config.topic_order)}",
            param_hint="--topic",
        )
    zone = ZoneInfo(config.line.timezone)
    database = open_database(config, database_url)
    try:
        with database.reading() as session:
            views = list_callbacks(
                session, statuses=wanted, at_risk=at_risk, topic=topic, limit=limit
            )
            names = _advisor_names(session)
    finally:
        database.close()
    if output_format == "json":
        click.echo(_json([_fields(v, zone, show_numbers) for v in views]))
    elif output_format == "csv":
        click.echo(_csv([_fields(v, zone, show_numbers) for v in views]), nl=False)
    else:
        click.echo(_table(views, wanted, zone, names, at_risk=at_risk, topic=topic))
    if len(views) == limit:
        click.echo(f"showing the first {limit}; --limit shows more", err=True)


@callbacks_group.command("show")
@click.argument("callback_id", metavar="ID", type=click.IntRange(min=1))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(SHOW_FORMATS),
    default="text",
    show_default=True,
    help="text for a terminal, json for scripts.",
)
@_show_numbers_option
@config_option
@database_option
@log_level_option("warning")
@reports_errors
def callbacks_show(
    callback_id: int,
    output_format: str,
    show_numbers: bool,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Callback request ID: where it stands, every attempt with its result, advisor,
    times and coding, and its entries in the event log."""
    _check_show_numbers(show_numbers, output_format)
    config = load(config_file, log_level)
    zone = ZoneInfo(config.line.timezone)
    database = open_database(config, database_url)
    try:
        with database.reading() as session:
            history = callback_history(session, callback_id)
            names = _advisor_names(session)
    finally:
        database.close()
    if output_format == "json":
        click.echo(
            _json(
                {
                    "request": _fields(history.request, zone, show_numbers),
                    "attempts": [_fields(a, zone, show_numbers) for a in history.attempts],
                    "events": [_fields(e, zone, show_numbers) for e in history.events],
                }
            )
        )
        return
    click.echo(_history_text(history, zone, names))


@callbacks_group.command("cancel")
@click.argument("callback_id", metavar="ID", type=click.IntRange(min=1))
@click.option(
    "--reason",
    default=ADMIN_REASON,
    show_default=True,
    help=f"Why, kept with the request (up to {MAX_REASON} characters).",
)
@config_option
@database_option
@log_level_option("warning")
@reports_errors
def callbacks_cancel(
    callback_id: int,
    reason: str,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Cancel open callback request ID: it will not be called. A finished request is
    left as it is."""
    if not reason.strip() or len(reason) > MAX_REASON:
        raise click.BadParameter(f"give 1 to {MAX_REASON} characters", param_hint="--reason")
    config = load(config_file, log_level)
    now = SystemClock().now()
    database = open_database(config, database_url)
    try:
        with database.transaction() as session:
            was = session.get(CallbackRequest, callback_id)
            was_status = was.status if was is not None else None
            cancelled = cancel_by_admin(session, callback_id, now, reason=reason, admin=None)
            stored_reason = cancelled.closed_reason
    finally:
        database.close()
    assert was_status is not None  # cancel_by_admin raised otherwise
    # The reason as kept: any number in it masked, as everywhere else it is shown.
    click.echo(f"cancelled callback {callback_id} (was {was_status.value}): {stored_reason}")


def _check_show_numbers(show_numbers: bool, output_format: str) -> None:
    if show_numbers and output_format in ("table", "text"):
        raise click.BadParameter(
            f"{output_format} output always masks numbers; --show-numbers goes with "
            "--format json or csv",
            param_hint="--show-numbers",
        )


def _advisor_names(session: Session) -> dict[int, str]:
    return {
        advisor_id: name for advisor_id, name in session.execute(select(Advisor.id, Advisor.name))
    }


# -- json and csv ----------------------------------------------------------------------------


def _fields(
    view: CallbackView | AttemptView | EventView, zone: ZoneInfo, show_numbers: bool
) -> dict[str, Any]:
    """A view's fields as plain values: local ISO times, enum values, the number masked
    unless *show_numbers*."""
    return {name: _plain(name, value, zone, show_numbers) for name, value in asdict(view).items()}


def _plain(name: str, value: Any, zone: ZoneInfo, show_numbers: bool) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    if isinstance(value, Enum):
        return value.value
    if name == "number_e164" and value is not None and not show_numbers:
        return mask_digits(value)
    return value


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=[f.name for f in fields(CallbackView)], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# -- table and text --------------------------------------------------------------------------


def _table(
    views: list[CallbackView],
    wanted: list[CallbackStatus],
    zone: ZoneInfo,
    names: Mapping[int, str],
    *,
    at_risk: bool,
    topic: str | None,
) -> str:
    scope = ", ".join(s.value for s in wanted) + (", at risk" if at_risk else "")
    scope += f", topic {topic}" if topic else ""
    heading = f"{len(views)} callback request(s) ({scope}); times in {zone.key}"
    if not views:
        return heading
    any_open = any(s in OPEN_CALLBACK_STATUSES for s in wanted)
    any_closed = any(s not in OPEN_CALLBACK_STATUSES for s in wanted)
    titles = ["id", "status", "topic", "lang", "number", "entered", "due", "promise", "tries"]
    titles += ["next try", "advisor"] if any_open else []
    titles += ["closed", "reason"] if any_closed else []
    rows = []
    for v in views:
        cells = [
            v.status.value,
            v.topic,
            v.language,
            _masked(v.number_e164),
            _local(v.queue_entered_at, zone),
            _local(v.due_at, zone),
            _promise(v),
            str(v.attempts),
        ]
        if any_open:
            cells += [_local(v.next_attempt_at, zone), _advisor(v.advisor_id, names)]
        if any_closed:
            cells += [_local(v.closed_at, zone), v.closed_reason or NO_VALUE]
        rows.append((str(v.id), cells))
    return "\n".join([heading, *_aligned(titles, rows)])


def _history_text(history: CallbackHistory, zone: ZoneInfo, names: Mapping[int, str]) -> str:
    r = history.request
    closed = f" since {_local(r.closed_at, zone)}: {r.closed_reason}" if r.closed_at else ""
    lines = [
        f"Callback {r.id}: {r.status.value}{closed} (times in {zone.key})",
        f"  number     {_masked(r.number_e164)}",
        f"  topic      {r.topic}, language {r.language}",
        f"  entered    {_local(r.queue_entered_at, zone)}, "
        f"requested {_local(r.requested_at, zone)}",
        f"  due        {_local(r.due_at, zone)}{_risk(r, zone)}",
        f"  attempts   {r.attempts}, next {_local(r.next_attempt_at, zone)}",
        f"  advisor    {_advisor(r.advisor_id, names)}",
        "",
        "Attempts",
    ]
    rows = [
        (
            str(a.attempt_no),
            [
                _advisor(a.advisor_id, names),
                _local(a.claimed_at, zone, seconds=True),
                _local(a.dialled_at, zone, seconds=True),
                _local(a.ended_at, zone, seconds=True),
                a.result.value if a.result else NO_VALUE,
                NO_VALUE if a.duration_s is None else f"{a.duration_s:.0f} s",
                _coding(a),
            ],
        )
        for a in history.attempts
    ]
    titles = ["#", "advisor", "claimed", "dialled", "ended", "result", "duration", "coding"]
    lines += _aligned(titles, rows)
    lines += ["", "Events"]
    lines += [
        f"  {_local(e.at, zone, seconds=True)}  {e.kind.value:<24} {_event_data(e.data, zone)}"
        for e in history.events
    ] or ["  (none)"]
    return "\n".join(lines)


def _local(at: datetime | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    if at is None:
        return NO_VALUE
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M{':%S' if seconds else ''}}"


def _masked(e164: str | None) -> str:
    return ERASED if e164 is None else mask_digits(e164)


def _promise(view: CallbackView) -> str:
    if view.late:
        return "late"
    return "at risk" if view.at_risk_at is not None else ""


def _risk(view: CallbackView, zone: ZoneInfo) -> str:
    late = ", late (carried over past its due time)" if view.late else ""
    flagged = view.at_risk_at is not None
    return late + (f", flagged at risk {_local(view.at_risk_at, zone)}" if flagged else "")


def _advisor(advisor_id: int | None, names: Mapping[int, str]) -> str:
    if advisor_id is None:
        return NO_VALUE
    return names.get(advisor_id, f"#{advisor_id}")


def _coding(attempt: AttemptView) -> str:
    parts = [attempt.resolution, attempt.referral, attempt.reason]
    coded = [part.value for part in parts if part is not None]
    return " / ".join(coded) or NO_VALUE


def _event_data(data: Mapping[str, Any], zone: ZoneInfo) -> str:
    """``key=value`` pairs; the log's UTC timestamps are shown in local time like the rest."""
    return " ".join(f"{key}={_event_value(value, zone)}" for key, value in data.items())


def _event_value(value: Any, zone: ZoneInfo) -> str:
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return value
        return _local(at, zone, seconds=True) if at.tzinfo is not None else value
    return NO_VALUE if value is None else str(value)

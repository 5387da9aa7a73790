"""The report: every measure of a period, computed by SQL over the roll-up of the event log.

One function, :func:`compute_report`, serves ``callflow report`` and the
simulator's daily figures. It brings the roll-up up to date, then reads
everything in one snapshot: counts, sums and nearest-rank percentiles come
from the database, in whole microseconds, and Python only divides them into
shares and means and shapes the dictionary, so SQLite and PostgreSQL give the
same report to the last digit. The survey figures are read from the surveys
table (:mod:`.surveys`). docs/reference/measures.md defines every key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

from sqlalchemy import Connection

from callflow.config.models import WEEKDAYS, HotlineConfig
from callflow.engine.clock import as_utc
from callflow.engine.vocabulary import Channel
from callflow.reports import queries
from callflow.reports.cells import NO_QUEUE, RESPONSE_CLASSES, WAIT_CLASSES
from callflow.reports.dimensions import epoch_us
from callflow.reports.rollup import refresh_rollup
from callflow.reports.sqlfunc import MICROSECONDS
from callflow.reports.surveys import SurveyFigures, Tally
from callflow.store.session import READ_ONLY, Database, unreachable_as_store_error

PERCENTILES = (50, 90)

SHARE_KEYS = frozenset({"service_level", "abandon_rate", "share", "survey_response_rate"})
"""Measures that are fractions of a whole besides those named ``*_share``: every output
(table, HTML) says them as percentages."""


def is_share(key: str) -> bool:
    """Whether the measure *key* is a fraction of a whole, said as a percentage."""
    return key.endswith("_share") or key in SHARE_KEYS


Sections = dict[tuple[str, Any], dict[str, int]]
"""Sums by (section, key): ("total", None), ("queue", "health"), ("weekday", 0), ("hour", 9)."""

BREAKDOWN_CALL_KEYS = (
    "offered",
    "answered",
    "abandoned_ivr",
    "abandoned_queue",
    "short_abandons",
    "calls_dropped",
    "asa_s",
    "service_level",
    "answered_immediately_share",
)
QUEUE_CALLBACK_KEYS = (
    "callbacks_requested",
    "callbacks_completed",
    "callbacks_same_day_share",
    "promise_kept_share",
    "callback_response_mean_calendar_s",
)
CHANNELS = (Channel.PHONE, Channel.CALLBACK, Channel.WEB)
"""``by_channel``'s rows: calls answered live, callbacks asked for on the phone, requests
left on the web page."""


def compute_report(
    database: Database,
    config: HotlineConfig,
    start: date,
    end: date,
    *,
    queue: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The report for local dates *start*..*end* (inclusive), optionally for one queue.

    *now* decides which callback requests are still undecided. Raises
    :class:`ValueError` for a period that ends before it starts or a queue
    the configuration does not have.
    """
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    if queue is not None and queue not in config.queues:
        raise ValueError(f"no queue {queue!r}; the configured ones are {', '.join(config.queues)}")
    now = as_utc(now)
    refresh_rollup(database, config)
    scope = queries.Scope(first=start, last=end, queue=queue, now_us=epoch_us(now))
    with _snapshot(database) as connection:
        figures = _Figures.read(connection, scope, config.line.timezone)
    return _shape(figures, config, start, end, queue, now)


@contextmanager
def _snapshot(database: Database) -> Iterator[Connection]:
    """One consistent read of the roll-up, not queueing for SQLite's write lock."""
    options: dict[str, Any] = {READ_ONLY: True}
    if database.dialect == "postgresql":
        options |= {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with (
        unreachable_as_store_error(database.engine),
        database.engine.connect().execution_options(**options) as connection,
        connection.begin(),
    ):
        yield connection


@dataclass(frozen=True)
class _Figures:
    """What the database counted, summed and ranked, before any division."""

    calls: Sections
    callbacks: Sections
    wait_percentiles: dict[int, int | None]
    response_median: int | None
    coded: dict[str, dict[str, int]]
    channels: dict[Channel, dict[str, int]]
    reaction_p90: dict[Channel, int | None]
    surveys: SurveyFigures

    @classmethod
    def read(cls, connection: Connection, scope: queries.Scope, timezone: str) -> _Figures:
        calls = _sections(connection, queries.call_sections(scope))
        callbacks = _sections(connection, queries.callback_sections(scope))
        waits = calls.get(("total", None), {}).get("waits", 0)
        dialled = callbacks.get(("total", None), {}).get("dialled", 0)
        channels = _channels(connection, scope)
        return cls(
            calls=calls,
            callbacks=callbacks,
            wait_percentiles={
                p: _percentile(connection, queries.nth_wait, scope, p, waits) for p in PERCENTILES
            },
            response_median=_percentile(connection, queries.nth_response, scope, 50, dialled),
            coded=_coded(connection, queries.coded_contacts(scope)),
            channels=channels,
            reaction_p90={
                channel: _percentile(
                    connection,
                    partial(queries.nth_reaction, channel),
                    scope,
                    90,
                    channels[channel]["taken_up"],
                )
                for channel in CHANNELS
            },
            surveys=SurveyFigures.read(connection, timezone, scope.first, scope.last, scope.queue),
        )


def _percentile(
    connection: Connection,
    nth: Callable[[queries.Scope, int], Any],
    scope: queries.Scope,
    percent: int,
    count: int,
) -> int | None:
    """Nearest rank: the value at the smallest rank that is at least *percent* % of *count*
    (the database counted the values, so it is asked for just that one)."""
    if count == 0:
        return None
    return _value(connection, nth(scope, (percent * count + 99) // 100))


def _value(connection: Connection, statement: Any) -> int | None:
    value = connection.execute(statement).scalar()
    return None if value is None else int(value)


def _sections(connection: Connection, statement: Any) -> Sections:
    """Rows of a sections query keyed by (section, key), sums as ints (zero when empty)."""
    found = {}
    for row in connection.execute(statement).mappings():
        section = row["section"]
        key = {"total": None, "queue": row["topic"], "weekday": row["weekday"]}.get(
            section, row["hour"]
        )
        if section != "total" and key in (None, NO_QUEUE):
            continue  # calls that chose no queue count in the totals only
        found[(section, key)] = {
            name: int(value or 0) for name, value in row.items() if name not in queries.SECTION_KEYS
        }
    return found


def _channels(connection: Connection, scope: queries.Scope) -> dict[Channel, dict[str, int]]:
    """Every channel's sums, zero where nothing came."""
    found = {channel: {"contacts": 0, "taken_up": 0, "reaction_us": 0} for channel in CHANNELS}
    for row in connection.execute(queries.channel_sums(scope)).mappings():
        found[Channel(row["channel"])] = {
            name: int(row[name] or 0) for name in ("contacts", "taken_up", "reaction_us")
        }
    return found


def _coded(connection: Connection, statement: Any) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for field, value, contacts in connection.execute(statement):
        found.setdefault(field, {})[value] = int(contacts)
    return found


# -- shaping ---------------------------------------------------------------------------------


def _shape(
    figures: _Figures,
    config: HotlineConfig,
    start: date,
    end: date,
    queue: str | None,
    now: datetime,
) -> dict[str, Any]:
    calls = figures.calls.get(("total", None), {})
    callbacks = figures.callbacks.get(("total", None), {})
    call_measures = _call_measures(calls)
    callback_measures = _callback_measures(callbacks)
    resolutions = figures.coded.get("resolution", {})
    thresholds = config.reports
    min_responses = thresholds.nps_min_responses
    report: dict[str, Any] = {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "queue": queue,
        "timezone": config.line.timezone,
        "generated_at": now.isoformat(),
        "thresholds": {
            "answered_immediately_within_s": thresholds.answered_immediately_within.total_seconds(),
            "service_level_within_s": thresholds.service_level_within.total_seconds(),
            "short_abandon_under_s": thresholds.short_abandon_under.total_seconds(),
        },
        "offered": call_measures["offered"],
        "answered": call_measures["answered"],
        "abandoned_ivr": call_measures["abandoned_ivr"],
        "abandoned_queue": call_measures["abandoned_queue"],
        "short_abandons": call_measures["short_abandons"],
        "calls_dropped": call_measures["calls_dropped"],
        "asa_s": call_measures["asa_s"],
        "service_level": call_measures["service_level"],
        "wait_p50_s": _seconds(figures.wait_percentiles[50]),
        "wait_p90_s": _seconds(figures.wait_percentiles[90]),
        "callbacks_requested": callback_measures["callbacks_requested"],
        "callbacks_completed": callback_measures["callbacks_completed"],
        "callbacks_failed": callback_measures["callbacks_failed"],
        "callbacks_expired": callback_measures["callbacks_expired"],
        "callback_response_median_s": _seconds(figures.response_median),
        "answered_immediately_share": call_measures["answered_immediately_share"],
        "callbacks_same_day_share": callback_measures["callbacks_same_day_share"],
        "callback_response_mean_working_s": callback_measures["callback_response_mean_working_s"],
        "callback_response_mean_calendar_s": callback_measures["callback_response_mean_calendar_s"],
        "promise_kept_share": callback_measures["promise_kept_share"],
        "closed_hours_calls": call_measures["closed_hours_calls"],
        "abandon_rate": call_measures["abandon_rate"],
        "callbacks_wrong_number": callback_measures["callbacks_wrong_number"],
        "callbacks_cancelled": callback_measures["callbacks_cancelled"],
        "callbacks_open": callback_measures["callbacks_open"],
        "first_contact_resolution_share": _share(
            resolutions.get("no_service_need", 0), sum(resolutions.values())
        ),
        **figures.surveys.total().measures(min_responses),
        "by_queue": _by_queue(figures, config, queue),
        "by_channel": _by_channel(figures, min_responses),
        "by_weekday": _by_time(figures, "weekday", lambda day: WEEKDAYS[day]),
        "by_hour": _by_time(figures, "hour", lambda hour: f"{hour:02d}"),
        "surveys_by_week": {
            week.label: {"from": week.first.isoformat(), "to": week.last.isoformat()}
            | tally.measures(min_responses)
            for week, tally in figures.surveys.by_week().items()
        },
        "by_reason": _shares(figures.coded.get("reason", {})),
        "by_referral": _shares(figures.coded.get("referral", {})),
        "wait_distribution": [
            {"le_s": edge, "calls": calls.get(name, 0)} for name, edge in WAIT_CLASSES
        ],
        "callback_response_distribution": [
            {
                "le_h": edge,
                "kept": callbacks.get(f"kept_{name}", 0),
                "late": callbacks.get(f"late_{name}", 0),
            }
            for name, edge in RESPONSE_CLASSES
        ],
    }
    return report


def _call_measures(sums: Mapping[str, int]) -> dict[str, Any]:
    def count(name: str) -> int:
        return sums.get(name, 0)

    # Callers who hung up within seconds of joining are not counted against the line, nor
    # are calls the exchange or carrier dropped: no caller chose to leave those.
    served = count("queued") - count("short_abandons") - count("dropped_in_queue")
    return {
        "closed_hours_calls": count("closed_hours_calls"),
        "offered": count("offered"),
        "answered": count("answered"),
        "abandoned_ivr": count("abandoned_ivr"),
        "abandoned_queue": count("abandoned_queue"),
        "short_abandons": count("short_abandons"),
        "calls_dropped": count("calls_dropped"),
        "asa_s": _seconds(count("wait_us"), count("waits")),
        "service_level": _share(count("answered_within_service_level"), served),
        "answered_immediately_share": _share(count("answered_immediately"), served),
        "abandon_rate": _share(count("abandoned_queue"), served),
    }


def _callback_measures(sums: Mapping[str, int]) -> dict[str, Any]:
    def count(name: str) -> int:
        return sums.get(name, 0)

    return {
        "callbacks_requested": count("callbacks_requested"),
        "callbacks_completed": count("callbacks_completed"),
        "callbacks_failed": count("callbacks_failed"),
        "callbacks_expired": count("callbacks_expired"),
        "callbacks_wrong_number": count("callbacks_wrong_number"),
        "callbacks_cancelled": count("callbacks_cancelled"),
        "callbacks_open": count("callbacks_open"),
        "callbacks_same_day_share": _share(count("same_day"), count("same_day_decided")),
        "promise_kept_share": _share(count("promise_kept"), count("promise_decided")),
        "callback_response_mean_calendar_s": _seconds(count("response_us"), count("dialled")),
        "callback_response_mean_working_s": _seconds(
            count("working_response_us"), count("dialled")
        ),
    }


def _by_queue(
    figures: _Figures, config: HotlineConfig, queue: str | None
) -> dict[str, dict[str, Any]]:
    """Every configured queue (or the one asked for), then any other the log or a survey
    names."""
    logged = {key for section, key in (*figures.calls, *figures.callbacks) if section == "queue"}
    surveys = figures.surveys.by_queue()
    logged |= {name for name in surveys if name is not None}
    names = [queue] if queue is not None else list(config.topic_order)
    names += sorted(str(name) for name in logged if name not in names)
    rows = {}
    for name in names:
        calls = _call_measures(figures.calls.get(("queue", name), {}))
        callbacks = _callback_measures(figures.callbacks.get(("queue", name), {}))
        rows[name] = (
            {key: calls[key] for key in BREAKDOWN_CALL_KEYS}
            | {key: callbacks[key] for key in QUEUE_CALLBACK_KEYS}
            | {"closed_hours_calls": calls["closed_hours_calls"]}
            | surveys.get(name, Tally()).measures(config.reports.nps_min_responses)
        )
    return rows


def _by_channel(figures: _Figures, min_responses: int) -> dict[str, dict[str, Any]]:
    """Every channel: contacts, those taken up, how soon, and what their residents said."""
    surveys = figures.surveys.by_channel()
    rows = {}
    for channel in CHANNELS:
        sums = figures.channels[channel]
        rows[str(channel)] = {
            "contacts": sums["contacts"],
            "taken_up": sums["taken_up"],
            "reaction_time_mean_s": _seconds(sums["reaction_us"], sums["taken_up"]),
            "reaction_time_p90_s": _seconds(figures.reaction_p90[channel]),
        } | surveys.get(channel, Tally()).measures(min_responses)
    return rows


def _by_time(
    figures: _Figures, section: str, name: Callable[[int], str]
) -> dict[str, dict[str, Any]]:
    """Weekdays or hours with any call or callback request, in order."""
    keys = sorted({key for part, key in (*figures.calls, *figures.callbacks) if part == section})
    rows = {}
    for key in keys:
        calls = _call_measures(figures.calls.get((section, key), {}))
        callbacks = _callback_measures(figures.callbacks.get((section, key), {}))
        rows[name(key)] = {k: calls[k] for k in BREAKDOWN_CALL_KEYS} | {
            "callbacks_requested": callbacks["callbacks_requested"],
            "closed_hours_calls": calls["closed_hours_calls"],
        }
    return rows


def _shares(counts: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Contacts per category, the most frequent first, each with its share of the coded ones."""
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {key: {"contacts": n, "share": _share(n, total)} for key, n in ranked}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _seconds(total_us: int | None, count: int = 1) -> float | None:
    """Mean seconds to one decimal, rounded half up from exact integers (so both databases
    round alike); None when there is nothing to average."""
    if total_us is None or count == 0:
        return None
    exact = Decimal(total_us) / Decimal(count * MICROSECONDS)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))

"""The wallboard's figures: per queue, how the line stands now and how today has gone.

A supervisor's board must show the same line whichever process carries the calls (the
Asterisk adapter, Twilio's webhooks and the simulator all write the same tables), so
everything here is read from the store: the engine's queue places, the advisors' states,
the open callback requests, and today's measures exactly as ``callflow report`` defines
them (:func:`~callflow.reports.kpis.compute_report`, never a second definition).

The page and its live refresh ask every few seconds, on a line with hundreds of advisors,
a thousand callers waiting and thousands of open requests. So "now" is a handful of
grouped counts, whatever the number of queues and languages, and no caller's or request's
row is loaded into Python. Today's measures bring the report's roll-up up to date, which
on PostgreSQL briefly locks the event log against the line's own writes: a
:class:`BoardReader` keeps them until the log grows, and computes them again beside the
views rather than in one (see :class:`TodayFiguresCache`).

Nothing on the board names a caller: no phone number and no call id, only counts, waits
and shares, so the board and its JSON may be shown on a wall.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import ColumnElement, String, Subquery, cast, func, null, select, text, union_all
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import as_utc
from callflow.engine.forecast import QueueSnapshot, estimated_wait
from callflow.engine.promise import deadline_class
from callflow.reports.kpis import compute_report
from callflow.service.queue_reads import ARRIVAL_WINDOW, RECENT_HANDLES
from callflow.store.advisors import SIGNED_IN, ready_now
from callflow.store.models import (
    OPEN_STATUSES_SQL,
    Advisor,
    AdvisorLanguage,
    AdvisorSkill,
    AdvisorState,
    Call,
    CallbackRequest,
    CallEvent,
)
from callflow.store.queue_places import QueuePlace
from callflow.store.session import Database

log = structlog.get_logger("callflow.reports")

HANDLE_WINDOW = timedelta(days=7)
"""How far back the calls a queue's handle time is taken from may have started: bounds the
scan of a queue whose advisors have answered nothing lately (it then falls back to the
configured ``default_handle_time``, as a provider does)."""
RECOMPUTE_EVERY = timedelta(seconds=2)
"""Today's measures are computed at most this often, however many boards refresh."""
STALE_AFTER = timedelta(minutes=1)
"""Today's measures are computed again after this even if no event was logged: whether an
undialled request still counts as "same day" changes at the day's closing, with the line
silent."""


@dataclass(frozen=True, slots=True)
class AdvisorCounts:
    """Enabled advisors by what they are doing now. ``signed_in`` is ``free`` + ``talking``
    + ``wrap_up``; those ``on_break`` are not signed in (they take no calls)."""

    signed_in: int
    free: int
    """Ready now: available, or past the end of their wrap-up."""
    talking: int
    wrap_up: int
    """Wrapping up, not ready yet (including those who still have an outcome to record)."""
    on_break: int

    def as_dict(self) -> dict[str, int]:
        return {
            "signed_in": self.signed_in,
            "free": self.free,
            "talking": self.talking,
            "wrap_up": self.wrap_up,
            "on_break": self.on_break,
        }


NO_ADVISORS = AdvisorCounts(signed_in=0, free=0, talking=0, wrap_up=0, on_break=0)


@dataclass(frozen=True, slots=True)
class CallbackCounts:
    """Open callback requests (pending or being called back) by how they stand against
    their promise. ``due`` and ``at_risk`` overlap: a request flagged at risk is often
    still before its due time."""

    open: int
    due: int
    """Not late, due time still ahead."""
    at_risk: int
    """Flagged as likely to miss their due time, not late yet."""
    late: int

    def as_dict(self) -> dict[str, int]:
        return {"open": self.open, "due": self.due, "at_risk": self.at_risk, "late": self.late}


NO_CALLBACKS = CallbackCounts(open=0, due=0, at_risk=0, late=0)


@dataclass(frozen=True, slots=True)
class TodayFigures:
    """The line's local day so far, each figure the ``callflow report`` measure of that
    name (docs/reference/measures.md): ``abandoned`` is ``abandoned_queue``,
    ``callback_response_mean`` is ``callback_response_mean_calendar_s`` (statutory measure
    3). Shares are fractions 0..1; None means nothing to measure yet, never zero."""

    offered: int
    answered: int
    abandoned: int
    service_level: float | None
    answered_immediately_share: float | None
    callbacks_same_day_share: float | None
    callback_response_mean: timedelta | None

    @classmethod
    def from_report(cls, measures: Mapping[str, Any]) -> TodayFigures:
        """The figures from a report, or from one queue's row of its ``by_queue``."""
        response = measures["callback_response_mean_calendar_s"]
        return cls(
            offered=measures["offered"],
            answered=measures["answered"],
            abandoned=measures["abandoned_queue"],
            service_level=measures["service_level"],
            answered_immediately_share=measures["answered_immediately_share"],
            callbacks_same_day_share=measures["callbacks_same_day_share"],
            callback_response_mean=None if response is None else timedelta(seconds=response),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "service_level": self.service_level,
            "answered_immediately_share": self.answered_immediately_share,
            "callbacks_same_day_share": self.callbacks_same_day_share,
            "callback_response_mean_s": _seconds(self.callback_response_mean),
        }


@dataclass(frozen=True, slots=True)
class LanguageBoard:
    """A queue (or the whole line) in one language: callers waiting who chose it, the
    advisors who speak it, and the wait a new caller in it would be told."""

    waiting: int
    longest_wait: timedelta | None
    estimated_wait: timedelta | None
    """What the engine would announce to a caller joining now (None: nobody staffed, or
    the whole line's row, which no caller joins)."""
    advisors: AdvisorCounts

    def as_dict(self) -> dict[str, Any]:
        return {
            "waiting": self.waiting,
            "longest_wait_s": _seconds(self.longest_wait),
            "estimated_wait_s": _seconds(self.estimated_wait),
            "advisors": self.advisors.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class QueueBoard:
    """One queue's row of the board, or the whole line's (``name`` None).

    The queue's ``estimated_wait`` is that of a caller in the line's default language;
    each language's own is in ``by_language``. Its advisors are those with the queue's
    skill (the line's: every enabled advisor), each counted once however many languages
    they speak.
    """

    name: str | None
    waiting: int
    longest_wait: timedelta | None
    estimated_wait: timedelta | None
    advisors: AdvisorCounts
    by_language: dict[str, LanguageBoard]
    """Every configured language, in menu order."""
    callbacks: CallbackCounts
    today: TodayFigures

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "waiting": self.waiting,
            "longest_wait_s": _seconds(self.longest_wait),
            "estimated_wait_s": _seconds(self.estimated_wait),
            "advisors": self.advisors.as_dict(),
            "by_language": {code: row.as_dict() for code, row in self.by_language.items()},
            "callbacks": self.callbacks.as_dict(),
            "today": self.today.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Board:
    """The whole board at instant ``at``: a row per configured queue in menu order (as the
    report lists them), and the line's total."""

    at: datetime
    queues: list[QueueBoard]
    line: QueueBoard

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values for the live view: waits in seconds (``*_s``, float), shares
        as fractions, None where there is nothing to show; the keys do not change."""
        return {
            "at": self.at.isoformat(),
            "queues": [queue.as_dict() for queue in self.queues],
            "line": self.line.as_dict(),
        }


def read_board(database: Database, config: HotlineConfig, now: datetime) -> Board:
    """The board at *now*, every figure read afresh (a page that keeps a
    :class:`BoardReader` spares the event log a refresh per view)."""
    return BoardReader(config).read(database, now)


class BoardReader:
    """Reads the board; hold one for the life of a web app, so today's measures are
    shared by every view and refresh (:class:`TodayFiguresCache`). Safe to call from
    several threads at once."""

    def __init__(
        self,
        config: HotlineConfig,
        *,
        recompute_every: timedelta = RECOMPUTE_EVERY,
        stale_after: timedelta = STALE_AFTER,
        run_refresh: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._config = config
        self._today = TodayFiguresCache(
            config,
            recompute_every=recompute_every,
            stale_after=stale_after,
            run_refresh=run_refresh or in_a_thread,
        )

    def read(self, database: Database, now: datetime) -> Board:
        """The board at *now* (the caller's clock: a test's :class:`FakeClock` moves it)."""
        now = as_utc(now)
        with database.reading() as session:
            live = _LiveFigures.read(session, self._config, now)
            latest_event = _latest_event_id(session)
        today = self._today.figures(database, now, latest_event)
        queues = [live.queue(name, today.queues[name]) for name in self._config.topic_order]
        return Board(at=now, queues=queues, line=live.line(today.line))


def in_a_thread(work: Callable[[], None]) -> None:
    """Run *work* in a thread of its own, so no view of the board waits for it."""
    threading.Thread(target=work, name="board-today", daemon=True).start()


class TodayFiguresCache:
    """Today's measures, computed again only when they can have changed, and never while
    a view waits (but the first).

    :func:`compute_report` first folds new events into the roll-up, in a write
    transaction that on PostgreSQL waits for the line's event writers and holds them back
    while it reads the highest settled id; with a few new events it takes 20 to 80 ms.
    Done on every refresh of every board, that would slow the line and the board. So the
    figures are kept with the highest event id they saw (``SELECT max(id)``, read from the
    primary key) and the local date. When either moved, and *recompute_every* has passed
    (or *stale_after* in any case: an undecided request's share changes at closing time
    without an event), one refresh is handed to *run_refresh* (a thread) and the view is
    given the figures kept meanwhile, a refresh interval old at most.
    """

    def __init__(
        self,
        config: HotlineConfig,
        *,
        recompute_every: timedelta,
        stale_after: timedelta,
        run_refresh: Callable[[Callable[[], None]], None],
    ) -> None:
        self._config = config
        self._calendar = Calendar.from_config(config)
        self._recompute_every = recompute_every
        self._stale_after = stale_after
        self._run_refresh = run_refresh
        self._lock = threading.Lock()
        self._kept: KeptFigures | None = None
        self._refreshing = False

    def figures(self, database: Database, now: datetime, latest_event: int) -> KeptFigures:
        """Per queue and for the whole line, as of *now* or a little before, the event
        log's highest id being *latest_event*."""
        key = (latest_event, self._calendar.local_date(now))
        with self._lock:
            kept = self._kept
            if kept is None:  # the first view waits, and so do any that come meanwhile
                self._kept = self._compute(database, now, key)
                return self._kept
            if self._refreshing or not self._due(kept, key, now):
                return kept
            self._refreshing = True
        self._run_refresh(partial(self._refresh, database, now, key))
        with self._lock:
            return self._kept or kept  # the new figures if the refresh ran at once

    def _due(self, kept: KeptFigures, key: tuple[int, date], now: datetime) -> bool:
        age = now - kept.computed_at
        if age < self._recompute_every:
            return False
        return kept.key != key or age >= self._stale_after

    def _refresh(self, database: Database, now: datetime, key: tuple[int, date]) -> None:
        try:
            fresh: KeptFigures | None = self._compute(database, now, key)
        except Exception as exc:  # a thread's error reaches nobody: the log, then a retry
            log.error("board.today_not_refreshed", exc_info=exc)
            fresh = None
        with self._lock:
            if fresh is not None:
                self._kept = fresh
            self._refreshing = False

    def _compute(self, database: Database, now: datetime, key: tuple[int, date]) -> KeptFigures:
        today = key[1]
        report = compute_report(database, self._config, today, today, now=now)
        queues = {
            name: TodayFigures.from_report(report["by_queue"][name]) for name in self._config.queues
        }
        return KeptFigures(key, now, queues, TodayFigures.from_report(report))


@dataclass(frozen=True, slots=True)
class KeptFigures:
    """Today's measures per queue and for the line, as computed at ``computed_at`` with the
    event log's highest id and the local date of ``key``."""

    key: tuple[int, date]
    computed_at: datetime
    queues: dict[str, TodayFigures]
    line: TodayFigures


# -- now: a handful of grouped counts --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Waiting:
    count: int
    first_entered: datetime | None

    def longest(self, now: datetime) -> timedelta | None:
        # Another process's clock may run a little ahead: a wait is never negative.
        return None if self.first_entered is None else max(now - self.first_entered, ZERO)


ZERO = timedelta(0)
NOBODY = _Waiting(0, None)


@dataclass(frozen=True, slots=True)
class _LiveFigures:
    """What the store says now, grouped as the board needs it."""

    config: HotlineConfig
    now: datetime
    waiting: dict[tuple[str | None, str | None], _Waiting]
    """By (topic, language); None for "all"."""
    advisors: dict[tuple[str | None, str | None], AdvisorCounts]
    """By (skill, language); None for "all"."""
    callbacks: dict[str | None, CallbackCounts]
    callbacks_ahead: dict[tuple[str, str], int]
    """Open requests a new caller's request would be served after, by (topic, language)."""
    arrivals: Counter[str]
    handle: dict[str, timedelta]

    @classmethod
    def read(cls, session: Session, config: HotlineConfig, now: datetime) -> _LiveFigures:
        callbacks, ahead = _callbacks(session, config, now)
        return cls(
            config=config,
            now=now,
            waiting=_waiting(session),
            advisors=_advisors(session, now),
            callbacks=callbacks,
            callbacks_ahead=ahead,
            arrivals=_arrivals(session, now),
            handle=_handle_times(session, config, now),
        )

    def queue(self, name: str, today: TodayFigures) -> QueueBoard:
        skill = self.config.queues[name].skill
        by_language = {
            code: LanguageBoard(
                waiting=self.waiting.get((name, code), NOBODY).count,
                longest_wait=self.waiting.get((name, code), NOBODY).longest(self.now),
                estimated_wait=self._estimated_wait(name, code),
                advisors=self.advisors.get((skill, code), NO_ADVISORS),
            )
            for code in self.config.language_order
        }
        waiting = self.waiting.get((name, None), NOBODY)
        return QueueBoard(
            name=name,
            waiting=waiting.count,
            longest_wait=waiting.longest(self.now),
            estimated_wait=self._estimated_wait(name, self.config.line.default_language),
            advisors=self.advisors.get((skill, None), NO_ADVISORS),
            by_language=by_language,
            callbacks=self.callbacks.get(name, NO_CALLBACKS),
            today=today,
        )

    def line(self, today: TodayFigures) -> QueueBoard:
        by_language = {
            code: LanguageBoard(
                waiting=self.waiting.get((None, code), NOBODY).count,
                longest_wait=self.waiting.get((None, code), NOBODY).longest(self.now),
                estimated_wait=None,
                advisors=self.advisors.get((None, code), NO_ADVISORS),
            )
            for code in self.config.language_order
        }
        waiting = self.waiting.get((None, None), NOBODY)
        return QueueBoard(
            name=None,
            waiting=waiting.count,
            longest_wait=waiting.longest(self.now),
            estimated_wait=None,
            advisors=self.advisors.get((None, None), NO_ADVISORS),
            by_language=by_language,
            callbacks=self.callbacks.get(None, NO_CALLBACKS),
            today=today,
        )

    def _estimated_wait(self, topic: str, language: str) -> timedelta | None:
        """The engine's own estimate (:func:`estimated_wait`) for a caller joining *topic*'s
        queue in *language* now, from the snapshot the store's queue reads would give them
        (:class:`~callflow.service.queue_reads.StoreQueueReads`), counted for every
        provider's callers at once."""
        able = self.advisors.get((self.config.queues[topic].skill, language), NO_ADVISORS)
        handle = self.handle[topic]
        snapshot = QueueSnapshot(
            position=self.waiting.get((topic, None), NOBODY).count + 1,
            free=able.free,
            staffed=able.signed_in,
            mean_handle=handle,
            live_load=self.arrivals[topic]
            / ARRIVAL_WINDOW.total_seconds()
            * handle.total_seconds(),
            callbacks_ahead=self.callbacks_ahead.get((topic, language), 0),
        )
        return estimated_wait(snapshot)


def _waiting(session: Session) -> dict[tuple[str | None, str | None], _Waiting]:
    """Callers in the queues by topic and language, and the sums over each (one read of
    the places, however long the queues)."""
    rows = session.execute(
        select(
            QueuePlace.topic, QueuePlace.language, func.count(), func.min(QueuePlace.entered_at)
        ).group_by(QueuePlace.topic, QueuePlace.language)
    )
    waiting: dict[tuple[str | None, str | None], _Waiting] = {}
    for topic, language, count, first in rows:
        for key in ((topic, language), (topic, None), (None, language), (None, None)):
            waiting[key] = _joined(waiting.get(key, NOBODY), _Waiting(count, first))
    return waiting


def _joined(a: _Waiting, b: _Waiting) -> _Waiting:
    firsts = [at for at in (a.first_entered, b.first_entered) if at is not None]
    return _Waiting(a.count + b.count, min(firsts, default=None))


def _advisors(
    session: Session, now: datetime
) -> dict[tuple[str | None, str | None], AdvisorCounts]:
    """Enabled advisors by state, per skill and language, per skill, per language and in
    all (each advisor once in every sum), in one statement."""
    present = (Advisor.enabled.is_(True), Advisor.state != AdvisorState.OFFLINE)
    counts = (
        func.count().filter(Advisor.state.in_(SIGNED_IN)),
        func.count().filter(ready_now(now)),
        func.count().filter(Advisor.state == AdvisorState.BUSY),
        func.count().filter(Advisor.state == AdvisorState.BREAK),
    )
    skill, language = AdvisorSkill.skill, AdvisorLanguage.language
    skills = (AdvisorSkill, AdvisorSkill.advisor_id == Advisor.id)
    languages = (AdvisorLanguage, AdvisorLanguage.advisor_id == Advisor.id)
    statement = union_all(
        select(skill, language, *counts)
        .select_from(Advisor)
        .join(*skills)
        .join(*languages)
        .where(*present)
        .group_by(skill, language),
        select(skill, _no_text(), *counts)
        .select_from(Advisor)
        .join(*skills)
        .where(*present)
        .group_by(skill),
        select(_no_text(), language, *counts)
        .select_from(Advisor)
        .join(*languages)
        .where(*present)
        .group_by(language),
        select(_no_text(), _no_text(), *counts).where(*present),
    )
    found: dict[tuple[str | None, str | None], AdvisorCounts] = {}
    for skill_name, code, signed_in, free, talking, on_break in session.execute(statement):
        found[(skill_name, code)] = AdvisorCounts(
            signed_in=signed_in,
            free=free,
            talking=talking,
            # The rest of those signed in: wrapping up and not ready (ready ones are free).
            wrap_up=signed_in - free - talking,
            on_break=on_break,
        )
    return found


def _no_text() -> ColumnElement[str]:
    """A NULL column standing for "all" in a union's grouped rows (one per use: a select
    keeps a column once)."""
    return cast(null(), String)


def _callbacks(
    session: Session, config: HotlineConfig, now: datetime
) -> tuple[dict[str | None, CallbackCounts], dict[tuple[str, str], int]]:
    """Open requests by how they stand, per topic and in all; and per topic and language,
    those a request made now would be served after (a better deadline class, or the same
    and entered no later), as :func:`~callflow.store.callbacks.callbacks_ahead` counts."""
    request = CallbackRequest
    rows = session.execute(
        select(
            request.topic,
            request.language,
            request.deadline_class,
            func.count(),
            func.count().filter(request.late.is_(False), request.due_at > now),
            func.count().filter(request.late.is_(False), request.at_risk_at.is_not(None)),
            func.count().filter(request.late.is_(True)),
            func.count().filter(request.queue_entered_at <= now),
        )
        # Word for word the partial indexes' condition, so only open requests are read.
        .where(text(OPEN_STATUSES_SQL))
        .group_by(request.topic, request.language, request.deadline_class)
    ).all()
    sums: dict[str | None, Counter[str]] = {}
    ahead: Counter[tuple[str, str]] = Counter()
    classes = {name: int(deadline_class(queue.promise)) for name, queue in config.queues.items()}
    for topic, language, level, total, due, at_risk, late, entered in rows:
        for key in (topic, None):
            sums.setdefault(key, Counter()).update(
                {"open": total, "due": due, "at_risk": at_risk, "late": late}
            )
        new_class = classes.get(topic)
        if new_class is not None and level <= new_class:
            ahead[(topic, language)] += total if level < new_class else entered
    counts = {
        key: CallbackCounts(open=c["open"], due=c["due"], at_risk=c["at_risk"], late=c["late"])
        for key, c in sums.items()
    }
    return counts, dict(ahead)


def _arrivals(session: Session, now: datetime) -> Counter[str]:
    """Callers who joined each queue in the last :data:`ARRIVAL_WINDOW`, every provider's."""
    rows = session.execute(
        select(Call.topic, func.count())
        .where(
            # A call queues minutes after it starts: the indexed start bounds the scan.
            Call.started_at > now - 2 * ARRIVAL_WINDOW,
            Call.queue_entered_at > now - ARRIVAL_WINDOW,
            Call.topic.is_not(None),
        )
        .group_by(Call.topic)
    )
    return Counter({str(topic): count for topic, count in rows})


def _handle_times(session: Session, config: HotlineConfig, now: datetime) -> dict[str, timedelta]:
    """How long each queue's recent calls with an advisor lasted (answer to end), the mean
    of its last :data:`RECENT_HANDLES`; the configured default until there are some.

    A provider measures its own (Asterisk in its adapter's memory, Twilio from its
    advisors' legs), out of another process's reach; every provider writes when each call
    was answered and ended, so that is what the board averages.
    """
    recent = union_all(*(select(_recent_talks(topic, now)) for topic in config.queues))
    talks: dict[str, list[timedelta]] = {}
    for topic, answered_at, ended_at in session.execute(recent):
        talks.setdefault(topic, []).append(ended_at - answered_at)
    return {
        name: _mean(talks.get(name, ()), queue.default_handle_time)
        for name, queue in config.queues.items()
    }


def _recent_talks(topic: str, now: datetime) -> Subquery:
    """The *topic*'s latest answered calls that have ended, newest first (a subquery: SQLite
    allows a limit in a union's member only inside one)."""
    return (
        select(Call.topic, Call.answered_at, Call.ended_at)
        .where(
            Call.started_at > now - HANDLE_WINDOW,
            Call.topic == topic,
            Call.answered_at.is_not(None),
            Call.ended_at.is_not(None),
        )
        .order_by(Call.started_at.desc())
        .limit(RECENT_HANDLES)
        .subquery()
    )


def _mean(values: Iterable[timedelta], default: timedelta) -> timedelta:
    values = list(values)
    return sum(values, ZERO) / len(values) if values else default


def _latest_event_id(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(CallEvent.id), 0))) or 0)


def _seconds(duration: timedelta | None) -> float | None:
    return None if duration is None else duration.total_seconds()

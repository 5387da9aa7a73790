"""Hand-made event logs for report tests: calls and callback requests, event by event, and
the recommendation question's rows.

Times are written as the line's local wall-clock (Europe/Helsinki) so each
scenario reads like the day it describes; every event is stored as the
engine would store it (kind, topic and language columns, JSON data).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.promise import due_at
from callflow.engine.vocabulary import (
    CallbackStatus,
    Channel,
    EventKind,
    ReasonCategory,
    Referral,
    Resolution,
)
from callflow.store.models import Call, CallbackRequest, CallEvent, Survey
from callflow.store.session import Database

HELSINKI = ZoneInfo("Europe/Helsinki")


def local(day: str, clock: str) -> datetime:
    """``local("2026-01-12", "10:00:30")``: a Helsinki wall-clock time as a UTC instant."""
    naive = datetime.fromisoformat(f"{day}T{clock}")
    return naive.replace(tzinfo=HELSINKI).astimezone(UTC)


@dataclass
class EventLog:
    """Collects rows, then writes them in one transaction with :meth:`save`."""

    database: Database
    calls: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    surveys: list[dict[str, Any]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def save(self) -> None:
        """Write what was collected since the last save (calls and requests first, for the keys)."""
        with self.database.transaction() as session:
            if self.calls:
                session.execute(insert(Call), self.calls)
            if self.requests:
                session.execute(insert(CallbackRequest), self.requests)
            if self.events:
                session.execute(insert(CallEvent), sorted(self.events, key=lambda e: e["at"]))
            if self.surveys:
                session.execute(insert(Survey), self.surveys)
        self.calls, self.requests, self.events, self.surveys = [], [], [], []

    def survey(
        self,
        asked: datetime,
        score: int | None,
        *,
        channel: Channel = Channel.PHONE,
        topic: str | None = "health",
    ) -> None:
        """The recommendation question asked at *asked*, answered with *score* a few seconds
        later (None: the resident hung up instead)."""
        self.surveys.append(
            {
                "channel": channel,
                "topic": topic,
                "language": "fi",
                "number_e164": "+358401234567",
                "asked_at": asked,
                "answered_at": None if score is None else asked + timedelta(seconds=8),
                "score": score,
            }
        )

    def event(
        self,
        at: datetime,
        kind: EventKind,
        *,
        call_id: str | None = None,
        callback_id: int | None = None,
        **data: Any,
    ) -> None:
        stored = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}
        self.events.append(
            {
                "at": at,
                "kind": kind,
                "call_id": call_id,
                "callback_id": callback_id,
                "topic": stored.get("topic"),
                "language": stored.get("language"),
                "data": stored,
            }
        )

    def call(self, arrived: datetime, *, closed: bool = False) -> CallScript:
        """A call arriving at *arrived* (while the line is closed if *closed*)."""
        call_id = f"call-{next(self._ids):05d}"
        self.calls.append(
            {
                "id": call_id,
                "provider": "test",
                "provider_ref": call_id,
                "withheld": False,
                "started_at": arrived,
                "updated_at": arrived,
            }
        )
        self.event(
            arrived, EventKind.CALL_ARRIVED, call_id=call_id, withheld=False, open=not closed
        )
        if closed:
            self.event(arrived, EventKind.CALL_CLOSED_HOURS, call_id=call_id)
        return CallScript(self, call_id)

    def request(
        self,
        at: datetime,
        due: datetime,
        *,
        topic: str = "health",
        call_id: str | None = None,
        channel: Channel = Channel.PHONE,
    ) -> CallbackScript:
        """A callback request made at *at*, due by *due*: on the phone, or on the web page
        (*channel* ``WEB``, logged with ``channel: "web"`` as the page logs it)."""
        callback_id = next(self._ids)
        self.requests.append(
            {
                "id": callback_id,
                "call_id": call_id,
                "number_e164": f"+35840{callback_id:07d}",
                "topic": topic,
                "language": "fi",
                "requested_at": at,
                "queue_entered_at": at,
                "not_before": at,
                "due_at": due,
                "expected_at": at,
                "deadline_class": 1,
                "status": CallbackStatus.PENDING,
                "attempts": 0,
                "late": False,
                "channel": channel,
                "created_at": at,
                "updated_at": at,
            }
        )
        self.event(
            at,
            EventKind.CALLBACK_REQUESTED,
            call_id=call_id,
            callback_id=callback_id,
            topic=topic,
            language="fi",
            expected_at=at,
            due_at=due,
            queue_entered_at=at,
            after_hours=False,
            **({"channel": str(channel)} if channel is Channel.WEB else {}),
        )
        return CallbackScript(self, callback_id, topic, at)


@dataclass
class CallScript:
    """What happens to one call, in the order the engine would log it."""

    log: EventLog
    call_id: str
    topic_name: str | None = None

    def _event(self, at: datetime, kind: EventKind, **data: Any) -> CallScript:
        self.log.event(at, kind, call_id=self.call_id, **data)
        return self

    def topic(self, at: datetime, topic: str = "health") -> CallScript:
        self.topic_name = topic
        self._event(at, EventKind.LANGUAGE_CHOSEN, language="fi", by="digit")
        return self._event(at, EventKind.TOPIC_CHOSEN, topic=topic, language="fi", by="digit")

    def queued(self, at: datetime, *, returning: bool = False) -> CallScript:
        return self._event(
            at, EventKind.QUEUE_ENTERED, topic=self.topic_name, language="fi", returning=returning
        )

    def answered(self, at: datetime, wait_s: float) -> CallScript:
        self._event(
            at, EventKind.QUEUE_LEFT, topic=self.topic_name, reason="answered", wait_s=wait_s
        )
        return self._event(
            at,
            EventKind.ANSWERED,
            topic=self.topic_name,
            language="fi",
            advisor_id=1,
            wait_s=wait_s,
        )

    def abandoned(self, at: datetime, *, wait_s: float | None = None) -> CallScript:
        """Hung up: in the queue if it had entered one (pass *wait_s*), else in the menu."""
        if wait_s is not None:
            self._event(
                at, EventKind.QUEUE_LEFT, topic=self.topic_name, reason="hangup", wait_s=wait_s
            )
        return self._event(
            at,
            EventKind.ABANDONED,
            stage="ivr" if wait_s is None else "queue",
            topic=self.topic_name,
            menu=None,
            wait_s=wait_s,
        )

    def dropped(self, at: datetime, *, wait_s: float | None = None) -> CallScript:
        """The exchange or carrier lost the line: in the queue if it had entered one (pass
        *wait_s*), else in the menu."""
        if wait_s is not None:
            self._event(
                at, EventKind.QUEUE_LEFT, topic=self.topic_name, reason="dropped", wait_s=wait_s
            )
        return self._event(
            at,
            EventKind.DROPPED,
            stage="ivr" if wait_s is None else "queue",
            topic=self.topic_name,
            menu=None,
            wait_s=wait_s,
        )

    def callback(self, at: datetime, due: datetime) -> CallbackScript:
        """The caller takes a callback and leaves the queue."""
        self._event(at, EventKind.CALLBACK_ACCEPTED, topic=self.topic_name, after_hours=False)
        return self.log.request(at, due, topic=self.topic_name or "other", call_id=self.call_id)

    def coded(self, at: datetime, reason: str, referral: str, resolution: str) -> CallScript:
        return self._event(
            at,
            EventKind.CONTACT_CODED,
            channel="call",
            reason=reason,
            referral=referral,
            resolution=resolution,
            advisor_id=1,
        )

    def ended(self, at: datetime, outcome: str) -> CallScript:
        return self._event(at, EventKind.ENDED, outcome=outcome, duration_s=0.0)


@dataclass
class CallbackScript:
    """What happens to one callback request."""

    log: EventLog
    callback_id: int
    topic: str
    requested_at: datetime
    attempts: int = 0

    def _event(self, at: datetime, kind: EventKind, **data: Any) -> CallbackScript:
        self.log.event(
            at, kind, callback_id=self.callback_id, topic=self.topic, language="fi", **data
        )
        return self

    def dialled(
        self, at: datetime, result: str = "reached", talk: timedelta = timedelta(minutes=5)
    ) -> CallbackScript:
        """One attempt: claimed and dialled at *at*, ended with *result* after *talk*."""
        self.attempts += 1
        self._event(
            at, EventKind.CALLBACK_CLAIMED, advisor_id=1, attempt_no=self.attempts, owner="w1"
        )
        self._event(at, EventKind.CALLBACK_DIALLED, advisor_id=1, attempt_no=self.attempts)
        return self._event(
            at + talk,
            EventKind.CALLBACK_ATTEMPT_ENDED,
            attempt_no=self.attempts,
            result=result,
            duration_s=talk.total_seconds(),
            next_attempt_at=None,
        )

    def completed(self, at: datetime) -> CallbackScript:
        return self._event(at, EventKind.CALLBACK_COMPLETED, attempt_no=self.attempts)

    def failed(self, at: datetime) -> CallbackScript:
        return self._event(at, EventKind.CALLBACK_FAILED, attempts=self.attempts)

    def wrong_number(self, at: datetime) -> CallbackScript:
        return self._event(at, EventKind.CALLBACK_WRONG_NUMBER, attempt_no=self.attempts)

    def expired(self, at: datetime) -> CallbackScript:
        return self._event(at, EventKind.CALLBACK_EXPIRED, reason="past_due")

    def cancelled(self, at: datetime, call_id: str | None = None) -> CallbackScript:
        self.log.event(
            at,
            EventKind.CALLBACK_CANCELLED,
            call_id=call_id,
            callback_id=self.callback_id,
            by="caller",
        )
        return self

    def coded(self, at: datetime, reason: str, referral: str, resolution: str) -> CallbackScript:
        return self._event(
            at,
            EventKind.CONTACT_CODED,
            channel="callback",
            reason=reason,
            referral=referral,
            resolution=resolution,
            advisor_id=1,
        )


def random_days(log: EventLog, config: HotlineConfig, first: date, days: int, seed: int) -> None:
    """A deterministic but varied log: calls day and night, every path through the line,
    callbacks dialled the same day, days later or never, times to the microsecond."""
    rng = random.Random(seed)
    calendar = Calendar.from_config(config)
    topics = list(config.queues)
    for offset in range(days):
        midnight = local((first + timedelta(days=offset)).isoformat(), "00:00")
        for _ in range(rng.randint(5, 40)):
            arrives = midnight + timedelta(seconds=rng.uniform(6 * 3600, 22 * 3600))
            _random_call(log, config, calendar, rng, arrives, rng.choice(topics))
    log.save()


def random_web_and_surveys(
    log: EventLog, config: HotlineConfig, first: date, days: int, seed: int
) -> None:
    """Requests from the web page day and night, dialled soon, late or never, and
    recommendation questions on every channel, answered or not; times to the microsecond."""
    rng = random.Random(seed)
    calendar = Calendar.from_config(config)
    topics = list(config.queues)
    for offset in range(days):
        midnight = local((first + timedelta(days=offset)).isoformat(), "00:00")
        for _ in range(rng.randint(0, 6)):
            made = midnight + timedelta(seconds=rng.uniform(0, 24 * 3600))
            topic = rng.choice(topics)
            request = log.request(
                made, _due(config, calendar, topic, made), topic=topic, channel=Channel.WEB
            )
            if rng.random() < 0.85:
                waited = timedelta(seconds=rng.expovariate(1 / 7200))
                request.dialled(calendar.add_working_time(made, waited))
        for _ in range(rng.randint(3, 15)):
            asked = midnight + timedelta(seconds=rng.uniform(9 * 3600, 15 * 3600))
            score = rng.choice([None, None, *range(11), 9, 10, 10])
            log.survey(asked, score, channel=rng.choice(list(Channel)), topic=rng.choice(topics))
    log.save()


def _random_call(
    log: EventLog,
    config: HotlineConfig,
    calendar: Calendar,
    rng: random.Random,
    arrives: datetime,
    topic: str,
) -> None:
    def later(at: datetime, mean_s: float) -> datetime:
        return at + timedelta(seconds=rng.expovariate(1 / mean_s))

    closed = not calendar.is_open(arrives)
    call = log.call(arrives, closed=closed)
    if rng.random() < 0.1:
        call.abandoned(later(arrives, 15))
        return
    chose = later(arrives, 20)
    call.topic(chose, topic)
    if closed:
        if rng.random() < 0.5:
            _random_callback(
                call.callback(later(chose, 10), _due(config, calendar, topic, chose)), calendar, rng
            )
        return
    entered = later(chose, 5)
    call.queued(entered)
    if rng.random() < 0.15:
        call.queued(later(entered, 90), returning=True)
    fate = rng.random()
    if fate < 0.6:
        answered = later(entered, 90)
        call.answered(answered, (answered - entered).total_seconds())
        if rng.random() < 0.8:
            call.coded(later(answered, 300), *_coding(rng))
    elif fate < 0.75:
        left = later(entered, 40)
        call.abandoned(left, wait_s=(left - entered).total_seconds())
    elif fate < 0.8:
        lost = later(entered, 40)
        call.dropped(lost, wait_s=(lost - entered).total_seconds())
    else:
        at = later(entered, 60)
        _random_callback(call.callback(at, _due(config, calendar, topic, at)), calendar, rng)


def _random_callback(request: CallbackScript, calendar: Calendar, rng: random.Random) -> None:
    requested = request.requested_at
    fate = rng.random()
    if fate < 0.1:
        request.cancelled(requested + timedelta(minutes=rng.uniform(1, 600)))
        return
    if fate < 0.2:
        if rng.random() < 0.5:
            request.expired(requested + timedelta(days=2))
        return  # still open
    dial = calendar.add_working_time(requested, timedelta(seconds=rng.expovariate(1 / 7200)))
    for _ in range(rng.randint(1, 3)):
        result = rng.choice(["reached", "reached", "no_answer", "busy", "machine", "wrong_number"])
        request.dialled(dial, result)
        if result == "reached":
            request.completed(dial + timedelta(minutes=6))
            if rng.random() < 0.8:
                request.coded(dial + timedelta(minutes=7), *_coding(rng))
            return
        if result == "wrong_number":
            request.wrong_number(dial + timedelta(minutes=1))
            return
        dial = calendar.add_working_time(dial + timedelta(minutes=30), timedelta(0))
    request.failed(dial)


def _due(config: HotlineConfig, calendar: Calendar, topic: str, at: datetime) -> datetime:
    return due_at(calendar, config.queues[topic].promise, at)


def _coding(rng: random.Random) -> tuple[str, str, str]:
    return (
        rng.choice([r.value for r in ReasonCategory]),
        rng.choice([r.value for r in Referral]),
        rng.choice([r.value for r in Resolution]),
    )

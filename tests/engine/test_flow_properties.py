"""Random event sequences: the engine never crashes, never strands a caller, and never
leaves two open callbacks for one number."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.commands import Command, Hangup, ReleaseAdvisor
from callflow.engine.events import (
    AdvisorConnected,
    AdvisorHungUp,
    CallArrived,
    CallbackCancelled,
    CallbackRejected,
    CallbackStored,
    CallerHungUp,
    DigitPressed,
    Event,
    ExistingCallback,
    PendingCallbackLookedUp,
    PlaybackFinished,
    QueueLookedUp,
    RulesChanged,
    SurveyLookedUp,
    SurveyOpened,
    TimerFired,
)
from callflow.engine.flow import FlowContext, new_call, step
from callflow.engine.forecast import QueueSnapshot
from callflow.engine.state import CallState, Phase
from callflow.engine.survey import SURVEY_TIMER
from callflow.engine.vocabulary import OPEN_CALLBACK_STATUSES, EventKind
from callflow.service.calls import CallHandler
from callflow.store.models import CallbackRequest, CallEvent
from callflow.store.queues import sync_queues
from callflow.store.session import Database
from tests.engine.caller import Caller
from tests.engine.conftest import with_settings
from tests.fakes.queue import FakeQueue

STARTS = [
    datetime(2026, 1, 12, 8, 0, tzinfo=UTC),  # Monday 10:00
    datetime(2026, 1, 12, 12, 40, tzinfo=UTC),  # Monday 14:40, after the health cutoff
    datetime(2026, 1, 12, 12, 58, tzinfo=UTC),  # two minutes before closing
    datetime(2026, 1, 12, 16, 0, tzinfo=UTC),  # Monday evening, closed
    datetime(2026, 12, 25, 9, 0, tzinfo=UTC),  # Christmas Day
]


def _message(mode: str, **fields: Any) -> dict[str, Any]:
    texts = {"fi": "Häiriö.", "sv": "Störning.", "en": "Outage."}
    return {"texts": texts, "mode": mode, "start": datetime(2026, 1, 12, 9), **fields}


LIVE_RULES = [
    with_settings(settings)
    for settings in (
        {},
        {
            "calendar.closures.2026-01-12T10:30": {
                "start": datetime(2026, 1, 12, 10, 30),
                "end": datetime(2026, 1, 12, 14),
                "reason": "Sähkökatko",
            }
        },
        {"emergency.line": _message("close", after_hours_offer=False)},
        {"emergency.line": _message("callbacks_only")},
        {"emergency.health": _message("close"), "emergency.line": _message("serve")},
        {"emergency.other": _message("callbacks_only"), "emergency.social": _message("close")},
    )
]
"""Rules an admin may put in force while calls are in the line: the file's, a closure, and
emergency messages of every mode."""

SURVEY_ON = with_settings({"survey.enabled": True, "survey.share": 1.0})
"""The example line asking every answered caller the recommendation question."""

actions = st.one_of(
    st.tuples(st.just("press"), st.sampled_from([*"0123456789*#", "", "12", "x"])),
    st.tuples(st.just("hear_out"), st.none()),
    st.tuples(st.just("timer"), st.none()),
    st.tuples(st.just("advisor"), st.none()),
    st.tuples(st.just("advisor_done"), st.none()),
    st.tuples(st.just("hang_up"), st.none()),
    st.tuples(st.just("wait"), st.integers(1, 900)),
    st.tuples(st.just("rules"), st.tuples(st.integers(0, len(LIVE_RULES) - 1), st.booleans())),
)

queues = st.fixed_dictionaries(
    {
        "ahead": st.integers(0, 6),
        "free": st.integers(0, 2),
        "staffed": st.integers(0, 4),
        "planned": st.integers(0, 4),
        "callbacks_ahead": st.integers(0, 200),
        "live_load": st.sampled_from([0.0, 0.5, 3.0]),
    }
)


def has_next_step(state: CallState) -> bool:
    """Something will happen to this caller without their doing anything.

    (A call that has not arrived yet waits for its arrival.)
    """
    if state.phase in (Phase.NEW, Phase.ENDED) or state.playback is not None:
        return True
    if state.phase is Phase.SURVEY:
        # The question, the thanks or goodbye playing, or a timer waiting for a key.
        assert state.survey is not None
        return state.survey.playback is not None or state.survey.timer_at is not None
    if state.queue_need is not None:
        return False  # waiting on the store for the queue: see below
    if state.menu is not None:
        return state.input_at is not None
    if state.phase is Phase.QUEUED:
        return state.in_queue and state.announce_at is not None
    # Waiting on the store is no next step: the shell answers within the same step,
    # so these phases never outlive one.
    return state.phase is Phase.CONNECTED


def event_for(state: CallState, action: str, arg: Any, now: datetime) -> tuple[Event, datetime]:
    """The event an action stands for, and the time it happens."""
    if action == "press":
        return DigitPressed(arg), now
    if action == "hear_out" and state.playback is not None:
        return PlaybackFinished(state.playback), now
    if action == "hear_out" and state.survey is not None and state.survey.playback is not None:
        return PlaybackFinished(state.survey.playback), now
    if action == "timer":
        pending = [
            (at, name)
            for name in ("input", "announce", "closing")
            if (at := getattr(state, f"{name}_at")) is not None
        ]
        if state.survey is not None and state.survey.timer_at is not None:
            pending.append((state.survey.timer_at, SURVEY_TIMER))
        if pending:
            at, name = min(pending)
            return TimerFired(name, at), max(now, at)
    if action == "advisor":
        return AdvisorConnected("advisor-1"), now
    if action == "advisor_done":
        return AdvisorHungUp(), now
    if action == "hang_up":
        return CallerHungUp(), now
    return DigitPressed("5"), now


@pytest.mark.slow  # property-based: 300 generated call scripts
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.sampled_from(STARTS),
    caller=st.sampled_from(["+358401234567", None]),
    queue=queues,
    script=st.lists(actions, max_size=80),
    surveyed=st.booleans(),
)
def test_engine_alone_never_crashes_or_strands_a_caller(
    config: HotlineConfig,
    start: datetime,
    caller: str | None,
    queue: dict[str, Any],
    script: list[tuple[str, Any]],
    surveyed: bool,
) -> None:
    config = SURVEY_ON if surveyed else config
    calendar = _calendar(config)
    c = Caller(config, calendar, FakeQueue(calendar, **queue), start)
    c.dial(caller, withheld=caller is None)
    stores_before = 0
    for action, arg in script:
        if action == "wait":
            c.later(timedelta(seconds=arg))
            continue
        was_ended = c.ended
        if action == "rules":
            rules, told = arg
            before = len(c.commands)
            c.rules_become(LIVE_RULES[rules], told=told)
            out = c.commands[before:]
        else:
            event, c.now = event_for(c.state, action, arg, c.now)
            out = c.send(event)
        assert has_next_step(c.state), (action, c.state.to_dict())
        if was_ended:
            assert all(isinstance(x, ReleaseAdvisor) for x in out), out
        assert len(c.stored) - stores_before <= 1, "two requests stored in one step"
        stores_before = len(c.stored)
    ended = c.records(EventKind.ENDED)
    assert len(ended) == (1 if c.ended else 0)


_CALENDARS: dict[int, Calendar] = {}


def _calendar(config: HotlineConfig) -> Calendar:
    return _CALENDARS.setdefault(id(config), Calendar.from_config(config))


@dataclass
class Line:
    """Several calls on one real store, stepped in the order the script says."""

    handler: CallHandler
    now: datetime
    calls: list[CallState] = field(default_factory=list)
    media: list[list[Command]] = field(default_factory=list)

    def step(self, index: int, event: Event) -> None:
        self.media[index] += self.handler.handle(self.calls[index], event, self.now)


@pytest.mark.slow  # property-based: 40 generated scripts, each on a database
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.sampled_from(STARTS),
    callers=st.lists(
        st.sampled_from(["+358401234567", "+358401234567", "+35891234567", None]),
        min_size=2,
        max_size=3,
    ),
    queue=queues,
    script=st.lists(st.tuples(st.integers(0, 2), actions), max_size=60),
)
def test_with_the_store_one_number_never_has_two_open_callbacks(
    config: HotlineConfig,
    sqlite_template: Path,
    start: datetime,
    callers: list[str | None],
    queue: dict[str, Any],
    script: list[tuple[int, tuple[str, Any]]],
) -> None:
    folder = Path(tempfile.mkdtemp())
    shutil.copy(sqlite_template, folder / "db.sqlite3")
    database = Database.connect(f"sqlite:///{folder / 'db.sqlite3'}")
    try:
        with database.transaction() as session:
            sync_queues(session, config, start)
        calendar = _calendar(config)
        fake = FakeQueue(calendar, **queue)
        contexts = [FlowContext(config, calendar, fake)]
        handler = CallHandler(database, lambda: contexts[-1], fake, provider="property")
        world = Line(handler, start)
        for i, number in enumerate(callers):
            world.calls.append(new_call(f"call-{i}", start))
            world.media.append([])
            world.step(i, CallArrived(number, withheld=number is None))
        for chosen, (action, arg) in script:
            index = chosen % len(callers)
            if action == "wait":
                world.now += timedelta(seconds=arg)
                continue
            if action == "rules":  # in force for every call; told to the chosen one
                rules, told = arg
                live = LIVE_RULES[rules]
                contexts.append(FlowContext(live, _calendar(live), fake, len(contexts)))
                if not told:
                    continue
                event: Event = RulesChanged()
            else:
                event, world.now = event_for(world.calls[index], action, arg, world.now)
            world.step(index, event)
            assert has_next_step(world.calls[index])
            with database.transaction() as session:
                worst = session.scalar(
                    select(func.count())
                    .select_from(CallbackRequest)
                    .where(CallbackRequest.status.in_(OPEN_CALLBACK_STATUSES))
                    .group_by(CallbackRequest.number_e164)
                    .order_by(func.count().desc())
                    .limit(1)
                )
                assert (worst or 0) <= 1
        with database.transaction() as session:
            for call, media in zip(world.calls, world.media, strict=True):
                ended = session.scalar(
                    select(func.count()).where(
                        CallEvent.call_id == call.call_id, CallEvent.kind == EventKind.ENDED
                    )
                )
                assert ended == (1 if call.phase is Phase.ENDED else 0)
                hangups = [c for c in media if isinstance(c, Hangup)]
                assert len(hangups) <= 1
    finally:
        database.close()
        shutil.rmtree(folder, ignore_errors=True)


def _states_in_every_phase(config: HotlineConfig) -> dict[str, CallState]:
    calendar = _calendar(config)
    mobile = "+358401234567"

    def caller(**queue: Any) -> Caller:
        return Caller(config, calendar, FakeQueue(calendar, **queue), STARTS[0])

    def snap(c: Caller) -> CallState:
        return CallState.from_dict(c.state.to_dict())

    states = {"new": new_call("c", STARTS[0])}
    c = caller().dial(mobile)
    states["language menu"] = snap(c)
    states["topic menu"] = snap(c.press("1"))
    states["queued"] = snap(c.press("1").listen())
    states["connected"] = snap(c.advisor_answers())
    states["ended"] = snap(c.advisor_hangs_up())
    c = Caller(SURVEY_ON, _calendar(SURVEY_ON), FakeQueue(calendar), STARTS[0])
    c.dial(mobile).press("1").press("1").listen().advisor_answers().advisor_hangs_up()
    states["survey"] = snap(c)
    c = caller(staffed=2).dial(mobile).press("1").press("1")
    states["offer"] = snap(c)
    states["read-back"] = snap(c.press("1"))
    states["number entry"] = snap(c.press("2").press("040"))
    states["farewell"] = snap(c.press("1234567#").press("1"))
    return states


def test_every_event_in_every_phase_is_answered(config: HotlineConfig) -> None:
    """Whatever arrives, whenever: no crash, and the caller always has a next step."""
    existing = ExistingCallback(9, "fi", "health", STARTS[0], None)
    calendar = _calendar(config)
    context = FlowContext(config, calendar, FakeQueue(calendar))
    states = _states_in_every_phase(config)
    assert {s.phase for s in states.values()} >= set(Phase) - {
        Phase.LOOKING_UP,
        Phase.STORING,
        Phase.CANCELLING,
        Phase.IVR,
    } | {Phase.IVR}
    for name, original in states.items():
        timers = [
            TimerFired(t, at)
            for t in ("input", "announce", "closing")
            if (at := getattr(original, f"{t}_at")) is not None
        ]
        events: list[Event] = [
            CallArrived("+358401234567"),
            DigitPressed("1"),
            DigitPressed("#"),
            PlaybackFinished(original.playback or "p0"),
            *timers,
            PendingCallbackLookedUp(None),
            PendingCallbackLookedUp(existing),
            CallbackStored(5, original.started_at),
            CallbackRejected(existing),
            CallbackCancelled(9),
            QueueLookedUp(QueueSnapshot(3, 0, 2, timedelta(minutes=6), 0.5, 4)),
            AdvisorConnected("a"),
            AdvisorHungUp(),
            CallerHungUp(),
            RulesChanged(),
            SurveyLookedUp(asked_today=False),
            SurveyOpened(3),
        ]
        if original.survey is not None and original.survey.timer_at is not None:
            timers.append(TimerFired(SURVEY_TIMER, original.survey.timer_at))
        if original.survey is not None and original.survey.playback is not None:
            events.append(PlaybackFinished(original.survey.playback))
        for event in events:
            state = CallState.from_dict(original.to_dict())
            now = max([STARTS[0], *(t.at for t in timers)])
            step(state, event, now, context)
            # Here nothing answers the store, so waiting on it is a fair place to stop.
            waiting_on_store = state.phase in (Phase.LOOKING_UP, Phase.STORING, Phase.CANCELLING)
            if not waiting_on_store and state.queue_need is None:
                assert has_next_step(state), (name, event)

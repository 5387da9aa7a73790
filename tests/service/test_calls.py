"""The engine with the real store attached: what lands in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.commands import Ask, Command, Hangup, LeaveQueue, LookUpQueue, Play
from callflow.engine.events import (
    AdvisorConnected,
    CallArrived,
    CallerHungUp,
    DigitPressed,
    Event,
    PlaybackFinished,
    RulesChanged,
    TimerFired,
)
from callflow.engine.flow import FlowContext, new_call
from callflow.engine.forecast import QueueSnapshot
from callflow.engine.state import CallState
from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.errors import StoreError
from callflow.service import calls as service
from callflow.service.calls import CallHandler, fixed
from callflow.store.calls import load_call_state
from callflow.store.models import Call, CallbackRequest, CallEvent
from callflow.store.queue_places import QueuePlace
from callflow.store.session import Database
from tests.engine.conftest import with_settings
from tests.fakes.queue import FakeQueue

T0 = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)  # Monday 10:00 in Helsinki
MOBILE = "+358401234567"


class Phone:
    """One call driven through a CallHandler, hearing prompts out and pressing keys."""

    def __init__(self, handler: CallHandler, call_id: str, now: datetime) -> None:
        self.handler = handler
        self.now = now
        self.state: CallState = new_call(call_id, now)
        self.commands: list[Command] = []

    def send(self, event: Event) -> Phone:
        self.commands += self.handler.handle(
            self.state, event, self.now, provider_ref=f"ref-{self.state.call_id}"
        )
        return self

    def press(self, key: str) -> Phone:
        self.now += timedelta(seconds=5)
        if self.state.playback:
            self.send(PlaybackFinished(self.state.playback))
        self.now += timedelta(seconds=1)
        return self.send(DigitPressed(key))

    def heard(self) -> list[str]:
        return [p.key for c in self.commands if isinstance(c, Play | Ask) for p in c.prompts]


@pytest.fixture
def handler(config: HotlineConfig, database: Database) -> CallHandler:
    calendar = Calendar.from_config(config)
    queue = FakeQueue(calendar, staffed=2, planned=2)
    return CallHandler(
        database, fixed(FlowContext(config, calendar, queue)), queue, provider="test"
    )


def kinds(database: Database, call_id: str) -> list[str]:
    with database.transaction() as session:
        rows = session.scalars(
            select(CallEvent.kind).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
        )
        return [k.value for k in rows]


def request_callback(handler: CallHandler, call_id: str, now: datetime) -> Phone:
    phone = Phone(handler, call_id, now).send(CallArrived(MOBILE))
    return phone.press("1").press("1").press("1").press("1")


def test_a_callback_call_leaves_its_story_in_the_log(
    handler: CallHandler, database: Database
) -> None:
    phone = request_callback(handler, "call-a", T0)
    phone.now += timedelta(seconds=5)
    phone.send(PlaybackFinished(phone.state.playback or ""))
    assert any(isinstance(c, Hangup) for c in phone.commands)
    assert kinds(database, "call-a") == [
        "call.arrived",
        "call.language_chosen",
        "call.topic_chosen",
        "call.queue_entered",
        "call.position_announced",
        "call.callback_offered",
        "call.callback_accepted",
        "call.queue_left",
        "callback.requested",
        "call.ended",
    ]
    with database.transaction() as session:
        call = session.get(Call, "call-a")
        assert call is not None
        assert (call.provider, call.provider_ref, call.caller_e164) == (
            "test",
            "ref-call-a",
            MOBILE,
        )
        assert (call.language, call.topic, call.outcome) == ("fi", "health", "callback_requested")
        assert call.ended_at == phone.now
        request = session.scalars(select(CallbackRequest)).one()
        assert (request.call_id, request.number_e164, request.status) == (
            "call-a",
            MOBILE,
            CallbackStatus.PENDING,
        )
        assert request.queue_entered_at == call.queue_entered_at
        logged = session.scalars(
            select(CallEvent).where(CallEvent.kind == EventKind.CALLBACK_REQUESTED)
        ).one()
        assert (logged.callback_id, logged.topic, logged.language) == (request.id, "health", "fi")


def test_a_second_call_hears_about_the_open_request(
    handler: CallHandler, database: Database
) -> None:
    request_callback(handler, "call-a", T0)
    second = Phone(handler, "call-b", T0 + timedelta(hours=1)).send(CallArrived(MOBILE))
    assert second.heard() == ["greeting", "pending_exists"]
    second.press("2")
    with database.transaction() as session:
        assert session.scalars(select(CallbackRequest.status)).one() is CallbackStatus.CANCELLED
    assert second.heard()[-1] == "pending_cancelled"


def test_two_calls_racing_to_store_leave_one_open_request(
    handler: CallHandler, database: Database
) -> None:
    """Both callers accept an offer from the same number; the second is told about the first."""
    first = Phone(handler, "call-a", T0).send(CallArrived(MOBILE))
    second = Phone(handler, "call-b", T0).send(CallArrived(MOBILE))
    for phone in (first, second):
        phone.press("1").press("1").press("1")  # language, topic, accept: at the read-back
    first.press("1")
    second.press("1")
    assert second.heard()[-1] == "pending_exists"
    with database.transaction() as session:
        open_requests = session.scalars(
            select(CallbackRequest).where(CallbackRequest.status == CallbackStatus.PENDING)
        ).all()
        assert [r.call_id for r in open_requests] == ["call-a"]


def test_the_call_state_can_be_resumed_from_the_store(
    handler: CallHandler, database: Database
) -> None:
    """A provider restarting mid-call rebuilds the engine state and carries on."""
    phone = Phone(handler, "call-a", T0).send(CallArrived(MOBILE)).press("1")
    with database.transaction() as session:
        restored = load_call_state(session, "call-a")
    assert restored is not None and restored.to_dict() == phone.state.to_dict()
    resumed = Phone(handler, "call-a", phone.now)
    resumed.state = restored
    resumed.press("1")
    assert restored.topic == "health" and restored.in_queue


def test_a_hang_up_is_logged_as_abandonment(handler: CallHandler, database: Database) -> None:
    phone = Phone(handler, "call-a", T0).send(CallArrived(None, withheld=True)).press("1")
    phone.now += timedelta(seconds=3)
    phone.send(CallerHungUp())
    assert kinds(database, "call-a")[-2:] == ["call.abandoned", "call.ended"]
    with database.transaction() as session:
        call = session.get(Call, "call-a")
        assert call is not None and call.outcome == "abandoned_ivr" and call.withheld


def test_a_store_failure_changes_nothing_and_the_caller_can_go_on(
    handler: CallHandler, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails as the caller confirms: no half-made request, no lost caller."""
    phone = Phone(handler, "call-a", T0).send(CallArrived(MOBILE))
    phone.press("1").press("1").press("1")  # at the read-back
    before = phone.state.to_dict()
    logged = len(kinds(database, "call-a"))

    def broken(*_: object, **__: object) -> None:
        raise StoreError("database went away")

    monkeypatch.setattr(service, "create_callback", broken)
    with pytest.raises(StoreError):
        phone.send(DigitPressed("1"))
    assert phone.state.to_dict() == before
    assert len(kinds(database, "call-a")) == logged
    monkeypatch.undo()
    phone.send(DigitPressed("1"))
    assert phone.heard()[-1] == "callback_confirmed"
    with database.transaction() as session:
        assert session.scalars(select(CallbackRequest.call_id)).all() == ["call-a"]


# -- the queue: asked in the step's unit of work, and the caller's place kept ---------------


@dataclass
class SeeingQueue:
    """A :class:`FakeQueue` that notes, for each question, which places its session shows."""

    queue: FakeQueue
    seen: list[tuple[str, LookUpQueue, list[str]]] = field(default_factory=list)

    def snapshot(
        self, session: Session, call_id: str, question: LookUpQueue, now: datetime
    ) -> QueueSnapshot:
        self.seen.append((call_id, question, list(session.scalars(select(QueuePlace.call_id)))))
        return self.queue.snapshot(session, call_id, question, now)


def places(database: Database) -> list[str]:
    with database.reading() as session:
        return list(session.scalars(select(QueuePlace.call_id).order_by(QueuePlace.call_id)))


def test_the_queue_is_read_in_the_step_that_queues_the_caller(
    config: HotlineConfig, database: Database
) -> None:
    """The provider's reads answer ``LookUpQueue`` in the step's own transaction: they see
    the caller's place, written by that step and not yet committed."""
    calendar = Calendar.from_config(config)
    fake = FakeQueue(calendar, ahead=2, staffed=4, planned=4)
    reads = SeeingQueue(fake)
    handler = CallHandler(
        database, fixed(FlowContext(config, calendar, fake)), reads, provider="test"
    )
    phone = Phone(handler, "call-a", T0).send(CallArrived(MOBILE)).press("1").press("1")
    ((call_id, question, seen),) = reads.seen
    assert (call_id, question) == ("call-a", LookUpQueue("health", "fi", phone.now))
    assert seen == ["call-a"]
    assert "queue_position" in phone.heard()
    assert not any(isinstance(c, LookUpQueue) for c in phone.commands)  # not the provider's


def test_a_caller_has_a_place_while_queued_and_none_after_hanging_up(
    handler: CallHandler, database: Database
) -> None:
    phone = Phone(handler, "call-a", T0).send(CallArrived(MOBILE)).press("1").press("1")
    phone.press("2")  # no callback, thanks
    with database.reading() as session:
        place = session.get(QueuePlace, "call-a")
        assert place is not None
        assert (place.provider, place.topic, place.language) == ("test", "health", "fi")
        assert place.entered_at == phone.state.queue_entered_at
    phone.send(CallerHungUp())
    assert places(database) == []


def test_a_caller_handed_to_an_advisor_has_no_place(
    handler: CallHandler, database: Database
) -> None:
    phone = Phone(handler, "call-a", T0).send(CallArrived(MOBILE)).press("1").press("1")
    assert places(database) == ["call-a"]
    phone.send(AdvisorConnected("nurse-1"))
    assert places(database) == []


def test_a_caller_taking_a_callback_leaves_their_place(
    handler: CallHandler, database: Database
) -> None:
    """Their place in line goes with the request (its ``queue_entered_at``), not the queue."""
    request_callback(handler, "call-a", T0)
    assert places(database) == []


def test_a_handler_that_shows_no_places_writes_none_and_steps_the_same(
    config: HotlineConfig, database: Database
) -> None:
    """A what-if simulation answers its queue questions from memory and nobody watches
    it: its callers queue, hear the same words and leave no place in the store."""
    calendar = Calendar.from_config(config)
    fake = FakeQueue(calendar, ahead=2, staffed=4, planned=4)
    context = fixed(FlowContext(config, calendar, fake))
    shown = CallHandler(database, context, fake, provider="test")
    unseen = CallHandler(database, context, fake, provider="test", shows_places=False)
    seen_phone = Phone(shown, "call-a", T0).send(CallArrived(MOBILE)).press("1").press("1")
    unseen_phone = Phone(unseen, "call-b", T0).send(CallArrived(MOBILE)).press("1").press("1")
    assert places(database) == ["call-a"]
    assert unseen_phone.heard() == seen_phone.heard()
    assert unseen_phone.state.in_queue


# -- rules that change while the call is in the line ----------------------------------------


class ChangingRules:
    """The rules in force as the running line keeps them: a test changes them as an admin
    would, and the handler asks for them at each event."""

    def __init__(self, config: HotlineConfig, queue: FakeQueue) -> None:
        self.queue = queue
        self.context = FlowContext(config, queue.calendar, queue)

    def __call__(self) -> FlowContext:
        return self.context

    def become(self, config: HotlineConfig) -> None:
        calendar = Calendar.from_config(config)
        self.queue.calendar = calendar
        self.context = FlowContext(config, calendar, self.queue, self.context.version + 1)


CLOSED_FOR_AN_HOUR = {
    "calendar.closures.2026-01-12T10:00": {
        "start": datetime(2026, 1, 12, 10),
        "end": datetime(2026, 1, 12, 11),
        "reason": "Sähkökatko",
    }
}


@pytest.fixture
def rules(config: HotlineConfig) -> ChangingRules:
    return ChangingRules(config, FakeQueue(Calendar.from_config(config), staffed=2, planned=2))


@pytest.fixture
def live(rules: ChangingRules, database: Database) -> CallHandler:
    return CallHandler(database, rules, rules.queue, provider="test")


def waiting(handler: CallHandler, call_id: str = "call-a") -> Phone:
    """A Finnish caller in the health queue, the offer declined, music playing."""
    phone = Phone(handler, call_id, T0).send(CallArrived(MOBILE)).press("1").press("1")
    phone.press("2")
    assert phone.state.in_queue and phone.state.announce_at is not None
    return phone


def test_a_closure_reaches_a_queued_caller_at_their_next_event(
    live: CallHandler, rules: ChangingRules, database: Database
) -> None:
    """The closure starts while they wait; the next thing that happens to their call (here,
    the announcement's timer) first applies the queue's closing policy, in that step."""
    phone = waiting(live)
    rules.become(with_settings(CLOSED_FOR_AN_HOUR))
    phone.now = phone.state.announce_at or phone.now
    phone.send(TimerFired("announce", phone.now))
    assert LeaveQueue("health") in phone.commands and phone.heard()[-1] == "closing_callback"
    assert kinds(database, "call-a")[-2:] == ["call.closing_time", "call.queue_left"]
    assert places(database) == []
    assert phone.state.rules_version == 1
    with database.reading() as session:
        stored = load_call_state(session, "call-a")
    assert stored is not None and stored.rules_version == 1


def test_told_at_once_and_again_at_the_next_event_it_applies_once(
    live: CallHandler, rules: ChangingRules, database: Database
) -> None:
    """A provider pushes the news to its queued callers; the next event finds the call
    already under the new rules, and a second push changes nothing."""
    phone = waiting(live)
    rules.become(with_settings(CLOSED_FOR_AN_HOUR))
    phone.send(RulesChanged())
    assert phone.heard()[-1] == "closing_callback"
    logged = kinds(database, "call-a")
    before = phone.state.to_dict()
    assert live.handle(phone.state, RulesChanged(), phone.now) == []
    assert phone.state.to_dict() == before and kinds(database, "call-a") == logged
    phone.press("1")  # the read-back: yes
    assert kinds(database, "call-a").count("call.closing_time") == 1
    assert phone.heard()[-1] == "callback_confirmed"


def test_a_new_call_starts_under_the_rules_in_force(
    live: CallHandler, rules: ChangingRules, database: Database
) -> None:
    rules.become(with_settings(CLOSED_FOR_AN_HOUR))
    phone = Phone(live, "call-a", T0).send(CallArrived(MOBILE))
    assert phone.state.rules_version == 1
    assert "call.closed_hours" in kinds(database, "call-a")
    assert "call.closing_time" not in kinds(database, "call-a")


def test_a_call_stored_by_the_release_before_live_rules_carries_on(
    live: CallHandler, rules: ChangingRules, database: Database
) -> None:
    """Its stored state has no rules version: read back, the call steps under the rules in
    force, hearing of them first."""
    phone = waiting(live)
    with database.transaction() as session:
        call = session.get(Call, "call-a")
        assert call is not None and call.flow_state is not None
        call.flow_state = {k: v for k, v in call.flow_state.items() if k != "rules_version"}
    with database.reading() as session:
        restored = load_call_state(session, "call-a")
    assert restored is not None and restored.rules_version == 0
    rules.become(with_settings(CLOSED_FOR_AN_HOUR))
    rules.become(with_settings(CLOSED_FOR_AN_HOUR))  # version 2: two changes since
    phone.state = restored
    phone.send(DigitPressed("5"))
    assert phone.heard()[-1] == "closing_callback" and phone.state.rules_version == 2

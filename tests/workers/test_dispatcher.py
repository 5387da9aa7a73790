"""The dispatcher: who gets which callback, what happens on each result, letting go.

A scripted provider stands in for the phones and a fake clock for time, so
each test walks through attempts step by step on the real databases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import FakeClock
from callflow.engine.vocabulary import (
    AttemptResult,
    CallbackStatus,
    ReasonCategory,
    Referral,
    Resolution,
)
from callflow.service.rules import LineRules
from callflow.store.advisors import register_advisor, set_advisor_state
from callflow.store.attempts import retry_policy
from callflow.store.callbacks import cancel_callback
from callflow.store.models import Advisor, AdvisorState, CallbackAttempt, CallbackRequest
from callflow.store.outcomes import Coding, record_outcome
from callflow.store.session import Database
from callflow.store.upkeep import release_expired_leases
from tests.fakes.dialler import ScriptedDialler
from tests.store.helpers import T0, Restarting, add_callback, number
from workers.dispatcher import CLAIMS_PER_TRANSACTION, Dispatcher, Timers

T = TypeVar("T")
CODING = Coding(ReasonCategory.HEALTH, Referral.NONE, Resolution.NO_SERVICE_NEED)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Desk:
    """A dispatcher on a fake clock with scripted phones, and the test's view of the store."""

    def __init__(self, database: Database, config: HotlineConfig) -> None:
        self.database = database
        self.config = config
        self.clock = FakeClock(T0)
        self.dialler = ScriptedDialler()
        self.wakes: list[datetime] = []
        self.dispatcher = Dispatcher(
            LineRules.fixed(config),
            database,
            self.dialler,
            clock=self.clock,
            owner="worker-1",
            timers=Timers(wake_at=self.wakes.append),
        )

    def advisor(
        self,
        name: str,
        *,
        idle_since: datetime,
        skills: tuple[str, ...] = ("nurse",),
        languages: tuple[str, ...] = ("fi",),
    ) -> int:
        with self.database.transaction() as session:
            advisor_id = register_advisor(session, name, skills, languages, idle_since)
            set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, idle_since)
        return advisor_id

    def callback(self, serial: int, *, entered: datetime, **fields: Any) -> int:
        with self.database.transaction() as session:
            return add_callback(session, number(serial), entered=entered, **fields)

    async def dispatch(self) -> int:
        """Claim what can be claimed now and let every attempt run to its end."""
        started = await self.dispatcher.dispatch_due()
        await asyncio.gather(*self.dispatcher.attempts.values())
        return started

    def request(self, callback_id: int) -> CallbackRequest:
        with self.database.reading() as session:
            request = session.get(CallbackRequest, callback_id)
            assert request is not None
            return request

    def attempts(self, callback_id: int) -> list[CallbackAttempt]:
        with self.database.reading() as session:
            return list(
                session.scalars(
                    select(CallbackAttempt)
                    .where(CallbackAttempt.callback_id == callback_id)
                    .order_by(CallbackAttempt.attempt_no)
                )
            )

    def state_of(self, advisor_id: int) -> tuple[AdvisorState, datetime | None]:
        with self.database.reading() as session:
            advisor = session.get(Advisor, advisor_id)
            assert advisor is not None
            return advisor.state, advisor.ready_at

    def advisor_says(self, advisor_id: int, callback_id: int, result: AttemptResult) -> None:
        with self.database.transaction() as session:
            record_outcome(
                session,
                advisor_id,
                callback_id,
                result,
                CODING if result is AttemptResult.REACHED else None,
                self.clock.now(),
                policy=retry_policy(self.config),
                calendar=Calendar.from_config(self.config),
                wrap_up=self.config.dispatch.wrap_up,
            )


@pytest.fixture
def desk(database: Database, config: HotlineConfig) -> Desk:
    return Desk(database, config)


def test_place_in_line_and_the_longest_idle_advisor_who_can_serve(desk: Desk) -> None:
    """The first in line goes to whoever has waited longest for work; a Swedish caller
    waits for a Swedish-speaking nurse, without holding up the Finnish caller behind."""
    finnish_only = desk.advisor("a-fi", idle_since=T0 - timedelta(minutes=10))
    bilingual = desk.advisor(
        "b-fi-sv", idle_since=T0 - timedelta(minutes=20), languages=("fi", "sv")
    )
    first = desk.callback(1, entered=T0 - timedelta(minutes=30))
    swedish = desk.callback(2, entered=T0 - timedelta(minutes=25), language="sv")
    third = desk.callback(3, entered=T0 - timedelta(minutes=20))

    assert run(desk.dispatch()) == 2
    assert [(c.callback_id, c.advisor_id) for c in desk.dialler.calls] == [
        (first, bilingual),
        (third, finnish_only),
    ]
    assert desk.request(swedish).status is CallbackStatus.PENDING
    # Both conversations are over and await the advisors' word: nobody is free yet.
    assert run(desk.dispatch()) == 0

    desk.advisor_says(bilingual, first, AttemptResult.REACHED)
    assert desk.request(first).status is CallbackStatus.COMPLETED
    assert desk.state_of(bilingual) == (AdvisorState.WRAP_UP, T0 + desk.config.dispatch.wrap_up)
    assert run(desk.dispatch()) == 0  # still wrapping up
    desk.clock.advance(desk.config.dispatch.wrap_up)
    assert run(desk.dispatch()) == 1
    assert (desk.dialler.calls[-1].callback_id, desk.dialler.calls[-1].advisor_id) == (
        swedish,
        bilingual,
    )


def test_a_backlog_is_claimed_a_transactions_worth_after_another(desk: Desk) -> None:
    """More pairs possible than one transaction claims: one dispatch starts them all, the
    first in line with whoever has waited longest."""
    pairs = CLAIMS_PER_TRANSACTION * 2 + 1
    advisors = [
        desk.advisor(f"a-{i}", idle_since=T0 - timedelta(minutes=60 - i)) for i in range(pairs)
    ]
    callbacks = [desk.callback(i, entered=T0 - timedelta(minutes=60 - i)) for i in range(pairs + 2)]
    assert run(desk.dispatch()) == pairs
    assert [(c.callback_id, c.advisor_id) for c in desk.dialler.calls] == list(
        zip(callbacks[:pairs], advisors, strict=True)
    )
    assert [desk.request(c).status for c in callbacks[pairs:]] == [CallbackStatus.PENDING] * 2


def test_the_whisper_tells_topic_language_and_wait(desk: Desk) -> None:
    desk.advisor("a", idle_since=T0 - timedelta(minutes=5))
    desk.callback(1, entered=T0 - timedelta(minutes=42))
    run(desk.dispatch())
    (call,) = desk.dialler.calls
    assert (call.topic, call.language, call.waited) == ("health", "fi", timedelta(minutes=42))
    assert call.caller_id == desk.config.line.number
    assert call.number_e164 == number(1)


def test_not_reached_is_retried_after_the_spacing_never_sooner(desk: Desk) -> None:
    desk.advisor("a", idle_since=T0 - timedelta(minutes=5))
    callback_id = desk.callback(1, entered=T0 - timedelta(minutes=10))
    desk.dialler.script(number(1), AttemptResult.NO_ANSWER, AttemptResult.BUSY)
    run(desk.dispatch())
    retry_at = T0 + timedelta(minutes=30)
    request = desk.request(callback_id)
    assert (request.status, request.next_attempt_at) == (CallbackStatus.PENDING, retry_at)
    assert retry_at in desk.wakes  # the dispatcher asked to be woken then

    desk.clock.advance(timedelta(minutes=29))
    assert run(desk.dispatch()) == 0
    desk.clock.set(retry_at)
    assert run(desk.dispatch()) == 1
    assert [a.result for a in desk.attempts(callback_id)] == [
        AttemptResult.NO_ANSWER,
        AttemptResult.BUSY,
    ]


def test_a_machine_is_never_a_completed_callback(desk: Desk) -> None:
    desk.advisor("a", idle_since=T0 - timedelta(minutes=5))
    callback_id = desk.callback(1, entered=T0 - timedelta(minutes=10))
    desk.dialler.script(number(1), *[AttemptResult.MACHINE] * 3)
    for _ in range(3):
        run(desk.dispatch())
        desk.clock.advance(timedelta(minutes=31))
    request = desk.request(callback_id)
    assert request.status is CallbackStatus.FAILED
    assert [a.result for a in desk.attempts(callback_id)] == [AttemptResult.MACHINE] * 3


def test_a_wrong_number_is_closed_as_such(desk: Desk) -> None:
    desk.advisor("a", idle_since=T0 - timedelta(minutes=5))
    callback_id = desk.callback(1, entered=T0 - timedelta(minutes=10))
    desk.dialler.script(number(1), AttemptResult.WRONG_NUMBER)
    run(desk.dispatch())
    assert desk.request(callback_id).status is CallbackStatus.WRONG_NUMBER
    desk.clock.advance(timedelta(hours=1))
    assert run(desk.dispatch()) == 0


def test_no_dialling_outside_the_window(desk: Desk) -> None:
    """After 14:45 nobody is called back; the dispatcher sets a timer for 09:00 next day."""
    desk.advisor("a", idle_since=T0 - timedelta(minutes=5))
    desk.callback(1, entered=T0 - timedelta(minutes=10))
    desk.clock.set(datetime(2026, 1, 12, 12, 50, tzinfo=UTC))  # 14:50 in Helsinki
    assert run(desk.dispatch()) == 0
    assert desk.dialler.log == []
    assert desk.wakes == [datetime(2026, 1, 13, 7, 0, tzinfo=UTC)]


def test_an_advisor_who_does_not_answer_goes_on_a_break(desk: Desk) -> None:
    """The callback goes straight to the next advisor, and the unanswered ring is not
    counted against the resident's attempts."""
    absent = desk.advisor("absent", idle_since=T0 - timedelta(minutes=20))
    present = desk.advisor("present", idle_since=T0 - timedelta(minutes=10))
    desk.dialler.unanswered.add(absent)
    callback_id = desk.callback(1, entered=T0 - timedelta(minutes=10))
    run(desk.dispatch())
    if len(desk.attempts(callback_id)) == 1:
        # Back in line at once; this dispatch's claim loop may or may not have been
        # still running when it came back, so a second look takes it if not.
        assert desk.request(callback_id).status is CallbackStatus.PENDING
        run(desk.dispatch())
    assert desk.state_of(absent) == (AdvisorState.BREAK, None)
    assert [(a.advisor_id, a.result) for a in desk.attempts(callback_id)] == [
        (absent, AttemptResult.INTERRUPTED),
        (present, None),  # reached, awaiting the advisor's outcome
    ]
    assert desk.dialler.dialled() == [callback_id]


def test_a_lease_taken_back_before_the_dial_means_no_dial(desk: Desk) -> None:
    """The reaper took the callback back while the advisor's phone rang (a stalled
    worker): the worker must not dial the resident, and hangs up on the advisor."""
    advisor = desk.advisor("a", idle_since=T0 - timedelta(minutes=5))
    callback_id = desk.callback(1, entered=T0 - timedelta(minutes=10))
    ring = desk.dialler.ring_advisor

    async def ring_while_the_lease_runs_out(*args: Any) -> Any:
        leg = await ring(*args)
        desk.clock.advance(desk.config.callbacks.lease + timedelta(seconds=1))
        with desk.database.transaction() as session:
            release_expired_leases(
                session,
                desk.clock.now(),
                policy=retry_policy(desk.config),
                calendar=Calendar.from_config(desk.config),
            )
            # The reaper made the advisor ready again; away, so nobody re-claims it now.
            set_advisor_state(session, advisor, AdvisorState.BREAK, desk.clock.now())
        return leg

    desk.dialler.ring_advisor = ring_while_the_lease_runs_out  # type: ignore[method-assign]
    run(desk.dispatch())
    assert desk.dialler.dialled() == []
    assert ("hang_up", 0, 0, f"leg-{callback_id}-1") in desk.dialler.log
    assert desk.request(callback_id).status is CallbackStatus.PENDING
    assert desk.dispatcher.metrics.leases_lost._value.get() == 1


def test_a_store_failing_before_the_dial_hangs_up_on_the_advisor(desk: Desk) -> None:
    """The database goes down while the advisor's phone rings: the dial cannot be
    recorded, so the resident is not dialled, and the advisor who answered is hung up
    rather than left on a silent line."""
    desk.advisor("a", idle_since=T0 - timedelta(minutes=5))
    callback_id = desk.callback(1, entered=T0 - timedelta(minutes=10))
    server = Restarting(desk.database)
    ring = desk.dialler.ring_advisor

    async def ring_while_the_database_goes(*args: Any) -> Any:
        leg = await ring(*args)
        server.stop()
        return leg

    desk.dialler.ring_advisor = ring_while_the_database_goes  # type: ignore[method-assign]
    run(desk.dispatch())
    server.start()
    assert desk.dialler.dialled() == []
    assert desk.dialler.log[-1] == ("hang_up", 0, 0, f"leg-{callback_id}-1")


def test_a_caller_cancelling_mid_call_is_let_go(desk: Desk) -> None:
    """The resident calls the line and cancels while the callback rings: the worker
    records nothing over the cancellation and the advisor moves on."""
    advisor = desk.advisor("a", idle_since=T0 - timedelta(minutes=5))
    callback_id = desk.callback(1, entered=T0 - timedelta(minutes=10))
    gate = desk.dialler.gates[number(1)] = asyncio.Event()
    desk.dialler.script(number(1), AttemptResult.NO_ANSWER)

    async def scenario() -> None:
        await desk.dispatcher.dispatch_due()
        while not desk.dialler.dialled():
            await asyncio.sleep(0)
        with desk.database.transaction() as session:
            cancel_callback(session, callback_id, desk.clock.now(), "caller cancelled")
        gate.set()
        await asyncio.gather(*desk.dispatcher.attempts.values())

    run(scenario())
    assert desk.request(callback_id).status is CallbackStatus.CANCELLED
    assert [a.result for a in desk.attempts(callback_id)] == [AttemptResult.INTERRUPTED]
    assert desk.state_of(advisor)[0] is AdvisorState.WRAP_UP


def test_stopping_hands_a_call_in_progress_back_to_the_queue(desk: Desk) -> None:
    desk.advisor("a", idle_since=T0 - timedelta(minutes=5))
    callback_id = desk.callback(1, entered=T0 - timedelta(minutes=10))
    desk.dialler.gates[number(1)] = asyncio.Event()  # never opens

    async def scenario() -> None:
        await desk.dispatcher.dispatch_due()
        while not desk.dialler.dialled():
            await asyncio.sleep(0)
        await desk.dispatcher.stop(timedelta(0))

    run(scenario())
    request = desk.request(callback_id)
    assert (request.status, request.lease_owner) == (CallbackStatus.PENDING, None)
    assert [a.result for a in desk.attempts(callback_id)] == [AttemptResult.INTERRUPTED]

"""Never silence (issue 16, item 4): a call whose step fails, at any kind of step, hears
a short apology in its language and is sent on as ``[provider.ari] on_failure`` says;
the call is closed in the store if the store will, and the next caller is served."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from callflow.config.models import AriFailureConfig, HotlineConfig
from callflow.engine.commands import Command
from callflow.engine.events import (
    AdvisorConnected,
    CallArrived,
    CallerHungUp,
    DigitPressed,
    Event,
    PlaybackFinished,
    TimerFired,
)
from callflow.engine.state import CallState, Phase
from callflow.engine.vocabulary import CallOutcome
from callflow.providers.ari.adapter import AsteriskAdapter
from callflow.providers.ari.calls import InboundCall
from callflow.service.calls import CallHandler
from callflow.service.rules import RulesInForce
from callflow.store.models import AdvisorState
from callflow.store.session import Database
from tests.fakes.ari_asterisk import Phone
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import AdapterRig, running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.ari.test_adapter import (
    ADVISOR_PHONE,
    advisor_state,
    advisor_with_phone,
    closed_in_store,
    queued_for_health,
    stored_call,
)

VOICEMAIL = AriFailureConfig(action="continue", context="hotline-failed", extension="s")
FIRST = "+358401110001"
NEXT = "+358401110002"
Failing = Callable[[CallState, Event], bool]


def database_error() -> OperationalError:
    return OperationalError(
        "UPDATE calls SET ...", {}, sqlite3.OperationalError("database is locked")
    )


def store_fails(line: AsteriskAdapter, when: Failing, *, times: int = 1) -> list[str]:
    """The store raises on the first *times* steps *when* picks; the channels it failed."""
    handler_for = line.handler
    failed: list[str] = []

    def failing_handler(rules: RulesInForce) -> CallHandler:
        handler = handler_for(rules)
        handle = handler.handle

        def handle_or_fail(
            state: CallState, event: Event, now: datetime, *, provider_ref: str | None = None
        ) -> list[Command]:
            if len(failed) < times and when(state, event):
                failed.append(provider_ref or "")
                raise database_error()
            return handle(state, event, now, provider_ref=provider_ref)

        handler.handle = handle_or_fail  # type: ignore[method-assign]
        return handler

    line.handler = failing_handler  # type: ignore[method-assign]
    return failed


def timeline(fake: FakeAsterisk) -> list[str]:
    """Events and answered requests as they happen, in one order."""
    seen: list[str] = []

    def event(app: str, message: dict[str, Any]) -> None:
        playback = message.get("playback", {}).get("id", "")
        seen.append(f"{message['type']} {playback}".strip())

    fake.on_event(event)
    fake.on_request(lambda request: seen.append(f"{request.operation} {request.path}"))
    return seen


def apologies(fake: FakeAsterisk, channel: str) -> list[str]:
    """The apology media played to *channel*."""
    return [
        medium
        for request in fake.requests
        if request.path.endswith("/play") and channel in request.path
        for medium in request.query.get("media", "").split(",")
        if medium.endswith("/technical_problem")
    ]


async def sent_on(rig: AdapterRig, channel: str, language: str, seen: list[str]) -> None:
    """*channel* heard the apology in *language* to its end, was then continued into the
    failure context, and the adapter forgot it; it is no longer in Stasis."""
    continue_request = f"channels.continueInDialplan /ari/channels/{channel}/continue"
    await rig.until(lambda: continue_request in seen, "continued into the dialplan")
    await rig.until(lambda: channel not in rig.line.calls, "the adapter let the call go")
    assert apologies(rig.fake, channel) == [f"sound:{language}/callflow/technical_problem"]
    finished = seen.index(f"PlaybackFinished {channel}~apology~0")
    continued = seen.index(continue_request)
    assert finished < continued
    [request] = [
        r
        for r in rig.fake.requests
        if r.operation == "channels.continueInDialplan" and channel in r.path
    ]
    assert request.query == {"context": "hotline-failed", "extension": "s", "priority": "1"}
    left = rig.fake.model.channels.get(channel)
    assert left is None or left.stasis_app is None


async def next_caller_is_served(rig: AdapterRig) -> None:
    channel = await queued_for_health(rig, NEXT)
    assert rig.call(channel).state.phase is Phase.QUEUED


def failed_once(logs: list[MutableMapping[str, Any]], channel: str) -> None:
    [failure] = [entry for entry in logs if entry["event"] == "ari.call_failed"]
    assert failure["channel"] == channel and failure["call_id"]


@pytest.fixture
def voicemail_line(config: HotlineConfig) -> HotlineConfig:
    return with_ari(config, on_failure=VOICEMAIL)


def is_event(kind: type) -> Failing:
    return lambda state, event: isinstance(event, kind)


@pytest.mark.parametrize(
    ("when", "language"),
    [
        pytest.param(is_event(CallArrived), "fi", id="arrival"),
        pytest.param(is_event(DigitPressed), "fi", id="a-digit"),
        pytest.param(is_event(PlaybackFinished), "fi", id="a-playback-finished"),
        pytest.param(
            lambda state, event: isinstance(event, TimerFired) and state.language == "sv",
            "sv",
            id="a-timer",
        ),
    ],
)
def test_a_step_the_store_fails_ends_in_an_apology_and_the_failure_context(
    fake_ari: FakeAsterisk,
    voicemail_line: HotlineConfig,
    database: Database,
    when: Failing,
    language: str,
) -> None:
    """The database raises on one step of a call (the first, a key, a prompt's end, a
    menu's timeout): the failure is logged once with the call's id, the caller hears the
    apology in their language (the line's before they chose one) and is continued into
    the dialplan; the call is closed in the store, and the next caller is served."""

    async def scenario() -> str:
        async with fake_ari, running_line(fake_ari, voicemail_line, database) as rig:
            seen = timeline(fake_ari)
            failed = store_fails(rig.line, when)
            call = await fake_ari.start_inbound_call(number=FIRST)
            if language == "sv":
                await rig.press(call.channel_id, "2")  # svenska; then silence at the topics
            else:
                await rig.press(call.channel_id, "1")  # a key during the greeting
            await sent_on(rig, call.channel_id, language, seen)
            assert failed == [call.channel_id]
            await rig.until(
                lambda: stored_call(database, call.channel_id).ended_at is not None,
                "the call closed in the store",
            )
            await next_caller_is_served(rig)
            return call.channel_id

    with capture_logs() as logs:
        channel = run(scenario(), timeout=30)
    failed_once(logs, channel)


def test_a_queue_join_that_raises_ends_in_an_apology_and_the_failure_context(
    fake_ari: FakeAsterisk, voicemail_line: HotlineConfig, database: Database
) -> None:
    """Putting a Swedish caller in the queue's bridge fails with an unexpected error: they
    hear the apology in Swedish and are continued, not left alone in the dark."""

    async def scenario() -> str:
        async with fake_ari, running_line(fake_ari, voicemail_line, database) as rig:
            seen = timeline(fake_ari)
            join_queue = rig.line.join_queue
            broken: list[str] = []

            async def join_or_fail(call: InboundCall, topic: str) -> None:
                if not broken:
                    broken.append(call.channel_id)
                    raise RuntimeError("a bug in joining the queue")
                await join_queue(call, topic)

            rig.line.join_queue = join_or_fail  # type: ignore[method-assign]
            channel = await rig.call_in(FIRST)
            await rig.press(channel, "2")  # svenska
            await rig.until(lambda: rig.call(channel).state.language == "sv", "svenska")
            await rig.press(channel, "1")  # health
            await sent_on(rig, channel, "sv", seen)
            assert broken == [channel]
            await next_caller_is_served(rig)
            return channel

    with capture_logs() as logs:
        channel = run(scenario(), timeout=30)
    failed_once(logs, channel)


def test_an_advisor_connect_the_store_fails_frees_the_advisor_and_sends_the_caller_on(
    fake_ari: FakeAsterisk, voicemail_line: HotlineConfig, database: Database
) -> None:
    """The advisor answers but the step that connects them fails in the store: the caller
    hears the apology and is continued, the advisor's leg is hung up and they are not
    left busy."""
    fake_ari.model.devices[ADVISOR_PHONE] = Phone(answer_after=0.5)
    advisor_id = advisor_with_phone(database, languages=("sv",))

    async def scenario() -> str:
        async with fake_ari, running_line(fake_ari, voicemail_line, database) as rig:
            seen = timeline(fake_ari)
            store_fails(rig.line, is_event(AdvisorConnected))
            channel = await queued_for_health(rig, FIRST, "sv")
            await rig.until(lambda: rig.call(channel).advisor_leg is not None, "rung")
            leg = rig.call(channel).advisor_leg
            await sent_on(rig, channel, "sv", seen)
            await rig.until(lambda: leg not in fake_ari.model.channels, "advisor's leg hung up")
            await rig.until(
                lambda: advisor_state(database, advisor_id) is not AdvisorState.BUSY,
                "the advisor freed",
            )
            return channel

    with capture_logs() as logs:
        channel = run(scenario(), timeout=30)
    failed_once(logs, channel)


def test_by_default_a_failed_call_is_hung_up_after_the_apology(
    fake_ari: FakeAsterisk, config: HotlineConfig, database: Database
) -> None:
    """Without an ``on_failure``, the caller hears the apology and is hung up: nothing
    is left of the channel."""

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, with_ari(config), database) as rig:
            seen = timeline(fake_ari)
            store_fails(rig.line, is_event(CallArrived))
            call = await fake_ari.start_inbound_call(number=FIRST)
            channel = call.channel_id
            await rig.until(lambda: channel not in fake_ari.model.channels, "hung up")
            assert apologies(fake_ari, channel) == ["sound:fi/callflow/technical_problem"]
            hangup = seen.index(f"channels.hangup /ari/channels/{channel}")
            assert seen.index(f"PlaybackFinished {channel}~apology~0") < hangup
            await next_caller_is_served(rig)

    run(scenario(), timeout=30)


def test_a_dialplan_that_refuses_the_channel_back_means_a_hang_up(
    fake_ari: FakeAsterisk, voicemail_line: HotlineConfig, database: Database
) -> None:
    """Asterisk refuses to continue the channel: it is hung up rather than kept."""

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, voicemail_line, database) as rig:
            store_fails(rig.line, is_event(CallArrived))
            fake_ari.fail_next("channels.continueInDialplan", status=500)
            call = await fake_ari.start_inbound_call(number=FIRST)
            await rig.until(lambda: call.channel_id not in fake_ari.model.channels, "hung up")

    run(scenario(), timeout=30)


def test_a_store_down_for_good_still_sends_the_caller_on_and_fails_once(
    fake_ari: FakeAsterisk, voicemail_line: HotlineConfig, database: Database
) -> None:
    """Every step of the call fails, closing it too: the caller is still apologised to
    and continued, the failure is logged once, closing it is given up after one try,
    and the adapter forgets the channel."""

    async def scenario() -> str:
        async with fake_ari, running_line(fake_ari, voicemail_line, database) as rig:
            seen = timeline(fake_ari)
            store_fails(rig.line, lambda state, event: True, times=1_000)
            call = await fake_ari.start_inbound_call(number=FIRST)
            await sent_on(rig, call.channel_id, "fi", seen)
            return call.channel_id

    with capture_logs() as logs:
        channel = run(scenario(), timeout=30)
    failed_once(logs, channel)
    assert [e["event"] for e in logs].count("ari.call_not_closed") == 1


class TestOnFailureConfig:
    def test_continue_needs_a_context(self) -> None:
        with pytest.raises(ValidationError, match="needs the dialplan context"):
            AriFailureConfig(action="continue")

    def test_a_context_with_hangup_is_a_mistake(self) -> None:
        with pytest.raises(ValidationError, match='leave it out, or write action = "continue"'):
            AriFailureConfig(action="hangup", context="hotline-failed")

    def test_the_default_hangs_up(self) -> None:
        assert AriFailureConfig().action == "hangup"


def test_a_hang_up_the_store_fails_on_is_still_the_callers_abandon(
    fake_ari: FakeAsterisk, voicemail_line: HotlineConfig, database: Database
) -> None:
    """The caller hangs up in the queue and the store fails on that very step: the call
    is closed as the abandon it was, not as a line that dropped them."""

    async def scenario() -> str:
        async with fake_ari, running_line(fake_ari, voicemail_line, database) as rig:
            channel = await queued_for_health(rig, FIRST)
            store_fails(rig.line, is_event(CallerHungUp))
            await fake_ari.hang_up_far_end(channel)
            await closed_in_store(rig, database, channel)
            return channel

    channel = run(scenario(), timeout=30)
    assert stored_call(database, channel).outcome == CallOutcome.ABANDONED_QUEUE


def test_calls_failing_in_a_database_outage_log_no_traceback_each(
    fake_ari: FakeAsterisk, voicemail_line: HotlineConfig, database: Database
) -> None:
    """The database is down as two callers arrive: each call's failure is one line with
    its call id, the outage is said once, and no traceback is written per call."""

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, voicemail_line, database) as rig:
            seen = timeline(fake_ari)
            store_fails(rig.line, lambda state, event: True, times=1_000)
            first = await fake_ari.start_inbound_call(number=FIRST)
            await sent_on(rig, first.channel_id, "fi", seen)
            second = await fake_ari.start_inbound_call(number=NEXT)
            await sent_on(rig, second.channel_id, "fi", seen)

    with capture_logs() as logs:
        run(scenario(), timeout=30)
    failures = [e for e in logs if e["event"] == "ari.call_failed"]
    assert len(failures) == 2
    assert all(e["exc_info"] is None for e in failures)
    assert [e["event"] for e in logs].count("database.unavailable") == 1

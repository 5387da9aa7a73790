"""The line's rules changed while it runs, heard through Twilio's webhooks.

Admins change the rules through :class:`~callflow.service.rules.LineRules` (the one
path under the CLI, the API and the pages); every webhook is answered under the rules
in force when it comes, so the next call, the next announcement and the next turn of a
queue's hold music follow a change.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from callflow.engine.vocabulary import EventKind
from callflow.store.models import Advisor, AdvisorState
from tests.cli.settings_helpers import run as run_command
from tests.providers.twilio.conftest import BOTH_DATABASES, Caller, TwilioRig, twilio_line_file
from tests.store.helpers import T0, add_advisor

OUTAGE = {
    "fi": "Terveysaseman tietojärjestelmässä on häiriö.",
    "sv": "Det är en störning i hälsostationens datasystem.",
    "en": "The health centre's computer system is down.",
}
EMERGENCY_ON = {"texts": OUTAGE, "mode": "serve", "start": "2026-01-12T09:00:00"}
CLOSED_FOR_AN_HOUR = {
    "start": "2026-01-12T10:00:00",
    "end": "2026-01-12T11:00:00",
    "reason": "Staff meeting",
}


def change(line: TwilioRig, key: str, value: object) -> None:
    line.provider.rules.change(key, value, by="admin", now=line.clock.now())


def queued_for_health(line: TwilioRig, number: str) -> Caller:
    """A caller chooses Finnish and health, hears their first announcement and waits."""
    call = line.call(number).dial()
    call.press("1")
    call.press("1")
    if call.asked:  # offered a callback: no, thank you
        call.press("2")
    assert call.waiting
    return call


@BOTH_DATABASES
def test_an_emergency_message_is_said_to_the_next_caller_until_switched_off(
    live_line: TwilioRig,
) -> None:
    change(live_line, "emergency.line", EMERGENCY_ON)
    told = live_line.call("+358401000001").dial()
    assert OUTAGE["fi"] not in told.text, "the caller's language is not known yet"
    told.press("1")
    assert told.text.index(OUTAGE["fi"]) < told.text.index("Valitse, mitä asiasi koskee.")
    assert told.asked

    change(live_line, "emergency.line", None)
    untold = live_line.call("+358401000002").dial()
    untold.press("1")
    assert "Valitse, mitä asiasi koskee." in untold.text
    assert OUTAGE["fi"] not in untold.text


def test_a_queue_threshold_changed_live_changes_the_next_offer(live_line: TwilioRig) -> None:
    """Eight busy nurses: the second caller's wait is short and one caller is ahead, under
    health's threshold of three; at one caller ahead, the next announcement offers a
    callback."""
    with live_line.database.transaction() as session:
        for n in range(8):
            nurse = session.get(Advisor, add_advisor(session, f"Nurse {n}"))
            assert nurse is not None
            nurse.state = AdvisorState.BUSY
    queued_for_health(live_line, "+358401000001")
    live_line.clock.advance(timedelta(seconds=5))
    second = live_line.call("+358401000002").dial()
    second.press("1")
    second.press("1")
    assert "Olet jonossa sijalla 2." in second.text
    assert "soitamme" not in second.text and second.waiting

    change(live_line, "queues.health.overflow.queue_length", 1)
    live_line.clock.advance(timedelta(seconds=61))
    second.wait_a_turn()
    assert "Olet jonossa sijalla 2." in second.text
    assert "Jos haluat, että soitamme sinulle" in second.text


@BOTH_DATABASES
def test_a_closure_stored_while_callers_wait_applies_the_closing_policy_at_their_next_turn(
    live_line: TwilioRig,
) -> None:
    """Health turns its queued callers into callbacks when it closes: a closure from now
    does so at the next turn of the music (no clock moves), keeping their place."""
    call = queued_for_health(live_line, "+358401234567")
    call.wait_a_turn()
    assert call.waiting and not call.text, "nothing new: the music plays on"

    change(live_line, "calendar.closures.2026-01-12T10:00", CLOSED_FOR_AN_HOUR)
    call.wait_a_turn()
    assert "Soitamme numeroon 040 123 4567." in call.text
    assert not call.hung_up_on
    call.press("1")
    (request,) = live_line.rows("callback_requests")
    assert request["queue_entered_at"] == T0
    kinds = [row["kind"] for row in live_line.rows("call_events")]
    assert EventKind.CLOSING_TIME in kinds


def emergency_command(line: TwilioRig, tmp_path: Path, *args: str) -> None:
    """``callflow emergency ARGS`` as an admin runs it on the line's host, against the
    line's database; the running line then hears of it (as ``follow_rules`` makes it)."""
    url = line.database.engine.url.render_as_string(hide_password=False)
    result = run_command(url, "emergency", *args, config=twilio_line_file(tmp_path))
    assert result.exit_code == 0, result.output
    assert line.provider.rules.refresh()


@BOTH_DATABASES
def test_an_emergency_message_switched_on_and_off_with_the_command_line(
    live_line: TwilioRig, tmp_path: Path
) -> None:
    texts = [f"--text={code}={text}" for code, text in OUTAGE.items()]
    emergency_command(live_line, tmp_path, "on", *texts, "--from", "2026-01-12 09:00")
    told = live_line.call("+358401000001").dial()
    told.press("1")
    assert told.text.index(OUTAGE["fi"]) < told.text.index("Valitse, mitä asiasi koskee.")

    emergency_command(live_line, tmp_path, "off")
    untold = live_line.call("+358401000002").dial()
    untold.press("1")
    assert OUTAGE["fi"] not in untold.text

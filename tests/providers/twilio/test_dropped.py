"""A call Twilio's carrier lost mid-call (its final status ``failed``) is stored ``dropped``,
not abandoned; one that ends ``completed`` is still the caller's hang-up."""

from __future__ import annotations

import httpx
import pytest

from callflow.engine.vocabulary import CallOutcome, EventKind
from tests.providers.twilio.conftest import PUBLIC_URL, Caller, TwilioRig


def final_status(call: Caller, status: str) -> httpx.Response:
    """The status callback Twilio posts when the call is over."""
    params = {**call.params(), "CallStatus": status, "CallDuration": "12"}
    return call.line.webhooks.post_now(f"{PUBLIC_URL}/twilio/status", params)


def event_kinds(line: TwilioRig) -> list[str]:
    return [row["kind"] for row in sorted(line.rows("call_events"), key=lambda r: r["id"])]


@pytest.mark.parametrize(
    ("status", "outcome", "logged"),
    [
        ("failed", CallOutcome.DROPPED, EventKind.DROPPED),
        ("completed", CallOutcome.ABANDONED_IVR, EventKind.ABANDONED),
    ],
)
def test_the_final_status_in_the_menus_tells_a_drop_from_a_hang_up(
    line: TwilioRig, status: str, outcome: CallOutcome, logged: EventKind
) -> None:
    call = line.call().dial()
    call.press("1")
    assert "Valitse, mitä asiasi koskee." in call.text  # the topic menu
    assert final_status(call, status).status_code == 204
    (row,) = line.rows("calls")
    assert row["outcome"] == outcome and row["ended_at"] is not None
    kinds = event_kinds(line)
    assert logged in kinds and kinds[-1] == EventKind.ENDED


def test_a_call_failed_after_its_end_stays_as_it_ended(line: TwilioRig) -> None:
    """A late ``failed`` for a call the caller already hung up changes nothing."""
    call = line.call().dial()
    final_status(call, "completed")
    final_status(call, "failed")
    (row,) = line.rows("calls")
    assert row["outcome"] == CallOutcome.ABANDONED_IVR
    assert EventKind.DROPPED not in event_kinds(line)

"""The dev phone plays Twilio against the app: signed requests, TwiML followed to the end."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import httpx
import pytest

from callflow.engine.vocabulary import CallOutcome
from callflow.errors import ProviderRejected
from callflow.providers.twilio.devphone import DevCall, DevPhone, scripted
from callflow.providers.twilio.settings import TwilioAccount
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, LINE_NUMBER
from tests.providers.twilio.conftest import MOBILE, PUBLIC_URL, TwilioRig

SERVER = "http://app.internal"


def dial(
    line: TwilioRig,
    out: io.StringIO,
    keys: list[str],
    *,
    token: str = AUTH_TOKEN,
    patience: timedelta = timedelta(minutes=2),
) -> DevCall:
    async def call() -> DevCall:
        transport = httpx.ASGITransport(app=line.app)
        async with httpx.AsyncClient(transport=transport) as client:
            phone = DevPhone(
                server_url=SERVER,
                public_url=PUBLIC_URL,
                account=TwilioAccount(ACCOUNT_SID, token),
                caller=MOBILE,
                line_number=LINE_NUMBER,
                keys=scripted(keys),
                out=out,
                hold=timedelta(0),
                patience=patience,
                client=client,
            )
            return await phone.call()

    return asyncio.run(call())


@pytest.fixture
def printed() -> io.StringIO:
    return io.StringIO()


def test_a_rehearsal_to_a_stored_callback(line: TwilioRig, printed: io.StringIO) -> None:
    result = dial(line, printed, ["1", "1", "1", "1"])
    assert result.ended_by == "line"
    conversation = printed.getvalue()
    assert "line: Tervetuloa" in conversation
    assert " you: press 1" in conversation
    assert "(puts you in the queue callflow-health; music)" in conversation
    assert "Soitamme numeroon *** *** *567." in conversation  # masked, as in the logs
    assert "(hangs up)" in conversation
    (request,) = line.rows("callback_requests")
    assert request["number_e164"] == MOBILE
    (call,) = line.rows("calls")
    assert call["outcome"] == CallOutcome.CALLBACK_REQUESTED


def test_out_of_patience_in_the_queue(line: TwilioRig, printed: io.StringIO) -> None:
    result = dial(line, printed, ["1", "1", "2"], patience=timedelta(0))
    assert result.ended_by == "caller"
    assert "(hang up: waited long enough)" in printed.getvalue()
    (call,) = line.rows("calls")
    assert call["outcome"] == CallOutcome.ABANDONED_QUEUE


def test_the_line_refuses_a_phone_with_the_wrong_token(
    line: TwilioRig, printed: io.StringIO
) -> None:
    with pytest.raises(ProviderRejected) as refused:
        dial(line, printed, [], token="not-the-token")
    assert refused.value.status == 403
    assert line.rows("calls") == []

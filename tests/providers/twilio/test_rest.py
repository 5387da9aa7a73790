"""The official twilio Client, through our httpx plug, against the fake REST API."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from callflow.errors import ProviderRejected, ProviderUnavailable
from callflow.providers.twilio.rest import HttpxTwilioClient, make_client, rest_call
from callflow.providers.twilio.settings import TwilioAccount
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, LINE_NUMBER, FakeTwilio

CALL = {
    "to": "+358401234567",
    "from_": LINE_NUMBER,
    "url": "https://hotline.example.fi/twilio/callback/advisor?cb=1&n=1",
    "status_callback": "https://hotline.example.fi/twilio/status",
    "status_callback_event": ["initiated", "completed"],
    "timeout": 20,
}


def create(fake: FakeTwilio, token: str = AUTH_TOKEN, **changes: Any) -> Any:
    async def placing() -> Any:
        http = HttpxTwilioClient(route=fake.route)
        try:
            client = make_client(TwilioAccount(ACCOUNT_SID, token), http)
            return await rest_call("calls.create", client.calls.create_async(**{**CALL, **changes}))
        finally:
            await http.close()

    return asyncio.run(placing())


def test_a_call_is_created_as_twilio_documents_it(fake: FakeTwilio) -> None:
    call = create(fake)
    assert call.sid.startswith("CA") and call.status == "queued"
    (request,) = fake.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert ("StatusCallbackEvent", "initiated") in request.params
    assert ("StatusCallbackEvent", "completed") in request.params
    assert dict(request.params)["From"] == LINE_NUMBER


def test_an_invalid_number_is_twilios_21211(fake: FakeTwilio) -> None:
    with pytest.raises(ProviderRejected) as refused:
        create(fake, to="12345")
    assert (refused.value.status, refused.value.code) == (400, "21211")
    assert "is not a valid phone number" in refused.value.message


def test_a_wrong_token_is_refused(fake: FakeTwilio) -> None:
    with pytest.raises(ProviderRejected) as refused:
        create(fake, token="wrong")
    assert (refused.value.status, refused.value.code) == (401, "20003")


def test_an_api_out_of_reach_is_unavailable(fake: FakeTwilio) -> None:
    fake.stop()
    with pytest.raises(ProviderUnavailable):
        create(fake)


def test_only_twilios_address_may_be_reached(fake: FakeTwilio) -> None:
    with pytest.raises(AssertionError, match=re.escape("only https://api.twilio.com")):
        fake.route("https://example.com/2010-04-01/Accounts")

"""Putting the line together: only the explicit development flag lets unsigned webhooks in."""

from __future__ import annotations

import asyncio

import httpx
from structlog.testing import capture_logs

from callflow.providers.twilio.provider import TwilioProvider
from callflow.providers.twilio.rest import HttpxTwilioClient
from callflow.providers.twilio.settings import TwilioAccount, twilio_settings
from callflow.web.app import create_app
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, Webhooks
from tests.providers.twilio.conftest import PUBLIC_URL, TwilioRig


def test_the_development_flag_believes_unsigned_webhooks_and_says_so(line: TwilioRig) -> None:
    settings = twilio_settings(
        line.provider.settings.config,
        TwilioAccount(ACCOUNT_SID, AUTH_TOKEN),
        verify_signatures=False,
    )
    provider = TwilioProvider(
        settings, line.database, line.clock, http=HttpxTwilioClient(route=line.fake.route)
    )
    with capture_logs() as logs:
        app = create_app(
            settings.config, line.database, clock=line.clock, webhooks=provider.webhooks()
        )
    assert [entry["event"] for entry in logs] == ["twilio.signatures_not_checked"]
    assert logs[0]["log_level"] == "warning"
    webhooks = Webhooks(public_url=PUBLIC_URL, app=app)
    answer = webhooks.post_now(f"{PUBLIC_URL}/twilio/voice", line.call().params(), unsigned=True)
    assert answer.status_code == 200


def test_signatures_are_checked_by_default(line: TwilioRig) -> None:
    answer = line.webhooks.post_now(
        f"{PUBLIC_URL}/twilio/voice", line.call().params(), unsigned=True
    )
    assert answer.status_code == 403


def test_the_webhooks_answer_other_paths_and_methods_as_the_api_does(line: TwilioRig) -> None:
    async def ask() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=line.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return [
                await client.post("/twilio/nowhere"),
                await client.get("/twilio/voice"),
                await client.get("/health"),
            ]

    unknown, wrong_method, health = asyncio.run(ask())
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not-found")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method-not-allowed")
    assert health.status_code == 200


def test_the_webhooks_stay_out_of_the_api_schema(line: TwilioRig) -> None:
    assert not [path for path in line.app.openapi()["paths"] if path.startswith("/twilio")]

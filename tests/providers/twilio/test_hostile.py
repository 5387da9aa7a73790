"""A hostile client at the webhooks: unsigned or bloated bodies are refused before they are
read, and ids or text the database cannot hold are a 400, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest

from callflow.providers.twilio.webhooks import MAX_BODY, MAX_PARAMETERS
from tests.providers.twilio.conftest import BOTH_DATABASES, MOBILE, PUBLIC_URL, TwilioRig

CHUNK = 16_384


@dataclass
class Stream:
    """A request body sent in chunks as the server asks for them, counting what it took."""

    size: int
    taken: int = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.size:
            chunk = b"a=" + b"b" * (min(CHUNK, self.size - sent) - 2)
            sent += len(chunk)
            self.taken = sent
            yield chunk


def post_stream(
    line: TwilioRig, path: str, stream: Stream, headers: dict[str, str]
) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=line.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.post(
                path,
                content=stream.chunks(),
                headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            )

    return asyncio.run(send())


class TestBodiesAreLimitedBeforeTheyAreRead:
    def test_an_unsigned_body_is_refused_unread(self, line: TwilioRig) -> None:
        """The 1.9 MB unsigned POST that held the event loop: now not a byte is read, so
        nothing is parsed or hashed either."""
        stream = Stream(1_900_000)
        answer = post_stream(line, "/twilio/voice", stream, {})
        assert answer.status_code == 403
        assert answer.json() == {
            "error": "webhook-signature-invalid",
            "detail": "no X-Twilio-Signature header",
        }
        assert stream.taken == 0

    def test_a_declared_length_past_the_cap_is_refused_unread(self, line: TwilioRig) -> None:
        stream = Stream(30_000_000)
        headers = {"X-Twilio-Signature": "anything", "Content-Length": str(stream.size)}
        answer = post_stream(line, "/twilio/voice", stream, headers)
        assert answer.status_code == 413
        assert answer.json()["error"] == "body-too-large"
        assert stream.taken == 0

    def test_a_body_without_a_length_is_cut_off_at_the_cap(self, line: TwilioRig) -> None:
        stream = Stream(30_000_000)
        answer = post_stream(line, "/twilio/voice", stream, {"X-Twilio-Signature": "anything"})
        assert answer.status_code == 413
        assert answer.json()["error"] == "body-too-large"
        assert stream.taken <= MAX_BODY + CHUNK
        assert line.rows("calls") == []

    def test_too_many_parameters_are_refused_even_signed(self, line: TwilioRig) -> None:
        params = list(line.call().params().items())
        params += [(f"x{i}", "1") for i in range(MAX_PARAMETERS)]
        assert len(urlencode(params)) < MAX_BODY, "refused for the count, not the size"
        answer = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/voice", params)
        assert answer.status_code == 413
        assert answer.json()["error"] == "too-many-parameters"
        assert line.rows("calls") == []

    def test_health_answers_while_a_huge_unsigned_body_waits(self, line: TwilioRig) -> None:
        """Both on one event loop, as under uvicorn: the refused body is never read, so
        /health is not kept waiting behind it."""
        stream = Stream(30_000_000)

        async def both() -> tuple[httpx.Response, httpx.Response]:
            transport = httpx.ASGITransport(app=line.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                webhook = client.post("/twilio/voice", content=stream.chunks())
                return await asyncio.gather(webhook, client.get("/health"))

        refused, health = asyncio.run(both())
        assert (refused.status_code, health.status_code) == (403, 200)
        assert stream.taken == 0


@BOTH_DATABASES
class TestSignedValuesTheDatabaseCannotHold:
    """Our own ids come back signed in the URLs we give Twilio; one out of the column's
    range is a bug or a forgery, answered 400 (shown in Twilio's debugger), not a 500."""

    @pytest.mark.parametrize(
        ("path", "named"),
        [
            (f"/twilio/callback/advisor?cb={2**63}&n=1", "cb"),
            (f"/twilio/callback/resident?cb=1&n={2**31}", "n"),
            (f"/twilio/connect/advisor?advisor={2**31}&topic=health&lang=fi", "advisor"),
            (f"/twilio/voice/connected?advisor={2**63}", "advisor"),
            (f"/twilio/status?leg=resident&cb={2**64}&n=1", "cb"),
        ],
    )
    def test_an_id_past_its_column_is_400(self, line: TwilioRig, path: str, named: str) -> None:
        params = {**line.call().params(), "CallStatus": "in-progress"}
        answer = line.webhooks.post_now(f"{PUBLIC_URL}{path}", params)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "webhook-malformed"
        assert answer.json()["detail"].startswith(f"{named}: ")

    def test_a_nul_in_the_callers_number_is_400(self, line: TwilioRig) -> None:
        params = {**line.call().params(), "From": MOBILE + "\x00"}
        answer = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/voice", params)
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"] == "From: a NUL character is not allowed"
        assert line.rows("calls") == []


def test_behind_an_https_proxy_every_answer_asks_for_https(line: TwilioRig) -> None:
    """TLS ends at the proxy Twilio calls (the public URL is https); the app itself is asked
    over plain HTTP, and still tells browsers to use HTTPS only."""
    answered = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/voice", line.call().params())
    refused = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/voice", {}, unsigned=True)
    assert PUBLIC_URL.startswith("https://")
    assert (answered.status_code, refused.status_code) == (200, 403)
    for answer in (answered, refused):
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"

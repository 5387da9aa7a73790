"""The dev phone: Twilio's part in one call against a running server, without a carrier.

It posts ``/twilio/voice`` as a call to the line, signed exactly as Twilio
signs (over the configured public URL, so a server behind a proxy checks
it as it would Twilio's), and runs the TwiML it gets back as Twilio would:
says the ``<Say>`` texts, presses the scripted keys at each ``<Gather>``,
follows ``<Redirect>`` and action URLs, waits in a queue by asking its
``waitUrl`` again after each turn of music, leaves it on ``<Leave>``. Every
line of the conversation is printed with the time it happens; numbers are
masked, as in the logs. It ends when the line hangs up, or when the caller
runs out of patience in a queue, and then sends the call's final status
callback.
"""

from __future__ import annotations

import asyncio
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlencode

import httpx

from callflow.errors import ProviderRejected
from callflow.providers.twilio.settings import TwilioAccount
from callflow.providers.twilio.signatures import SIGNATURE_HEADER, sign
from callflow.values.numbers import mask_numbers_in

Keys = Callable[[], str | None]
"""The caller's keys for the next question: digits, "" for silence, None to hang up."""

MAX_REQUESTS = 2000
"""A call that is still going after this many webhooks is a loop, not a conversation."""


def scripted(items: list[str]) -> Keys:
    """Keys from ``--digits``; once they run out the caller stays silent."""
    pending: Iterator[str] = iter(items)
    return lambda: next(pending, "")


@dataclass(frozen=True, slots=True)
class DevCall:
    call_sid: str
    ended_by: str
    """``line`` (it hung up or its TwiML ended) or ``caller`` (out of patience)."""
    requests: int

    def as_json(self) -> dict[str, Any]:
        return {"call_sid": self.call_sid, "ended_by": self.ended_by, "requests": self.requests}


class _HungUp(Exception):
    def __init__(self, by: str) -> None:
        self.by = by


class DevPhone:
    """One call to the line at *server_url*, whose public URL is *public_url*."""

    def __init__(
        self,
        *,
        server_url: str,
        public_url: str,
        account: TwilioAccount,
        caller: str,
        line_number: str,
        keys: Keys,
        out: TextIO,
        hold: timedelta = timedelta(seconds=3),
        patience: timedelta = timedelta(minutes=2),
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.account = account
        self.caller = caller
        self.line_number = line_number
        self.keys = keys
        self.out = out
        self.hold = hold
        self.patience = patience
        self._client = client
        self.call_sid = "CA" + secrets.token_hex(16)
        self.requests = 0
        self._queue_action: str | None = None
        self._queued_at: float | None = None

    async def call(self) -> DevCall:
        client = self._client or httpx.AsyncClient(timeout=30.0)
        try:
            self._http = client
            shown = mask_numbers_in(self.caller) if self.caller else "a withheld number"
            self._say("you", f"(call {self.line_number} from {shown})")
            try:
                document = await self._post(f"{self.public_url}/twilio/voice", {})
                await self._run(document)
                ended_by = "line"
            except _HungUp as hung_up:
                ended_by = hung_up.by
            await self._post(
                f"{self.public_url}/twilio/status",
                {"CallStatus": "completed", "CallDuration": "0"},
                expect_twiml=False,
            )
            return DevCall(self.call_sid, ended_by, self.requests)
        finally:
            if self._client is None:
                await client.aclose()

    # -- running TwiML ---------------------------------------------------------------------

    async def _run(self, document: ET.Element) -> None:
        while True:
            document = await self._document(document)

    async def _document(self, document: ET.Element) -> ET.Element:
        """Run *document*; the next one Twilio would fetch (raises when the call ends)."""
        waiting = self._queue_action is not None
        for verb in document:
            if verb.tag in ("Say", "Play", "Pause"):
                await self._hear(verb, waiting)
            elif verb.tag == "Gather":
                following = await self._gather(verb, waiting)
                if following is not None:
                    return following
            elif verb.tag == "Redirect":
                return await self._post(verb.text or "", {})
            elif verb.tag == "Enqueue":
                self._say("line", f"(puts you in the queue {verb.text}; music)")
                self._queue_action = verb.attrib["action"]
                self._queued_at = asyncio.get_running_loop().time()
                self._wait_url = verb.attrib["waitUrl"]
                return await self._post(self._wait_url, self._queue_params())
            elif verb.tag == "Leave":
                self._say("line", "(takes you out of the queue)")
                action, self._queue_action = self._queue_action or "", None
                return await self._post(action, {"QueueResult": "leave"})
            elif verb.tag == "Hangup":
                self._say("line", "(hangs up)")
                raise _HungUp("line")
            elif verb.tag == "Dial":
                self._say("line", f"(dials {ET.tostring(verb, encoding='unicode')})")
                raise _HungUp("line")
        if waiting:
            await self._check_patience()
            return await self._post(self._wait_url, self._queue_params())
        self._say("line", "(the call ends)")
        raise _HungUp("line")

    async def _hear(self, verb: ET.Element, waiting: bool) -> None:
        if verb.tag == "Say":
            self._say("line", mask_numbers_in(verb.text or ""))
        elif verb.tag == "Play":
            self._say("line", f"(plays {(verb.text or '').rsplit('/', 1)[-1]})")
            if waiting:
                await asyncio.sleep(self.hold.total_seconds())
                await self._check_patience()
        else:
            length = int(verb.attrib.get("length", "1"))
            await asyncio.sleep(min(length, self.hold.total_seconds()))

    async def _gather(self, gather: ET.Element, waiting: bool) -> ET.Element | None:
        for inner in gather:
            await self._hear(inner, waiting)
        if waiting and gather.attrib.get("actionOnEmptyResult") != "true":
            return None  # keys only if the caller has some ready; they wait on
        keys = self.keys()
        if keys is None:
            self._say("you", "(hang up)")
            raise _HungUp("caller")
        finish = gather.attrib.get("finishOnKey", "#")
        if not keys:
            self._say("you", "(silence)")
            if gather.attrib.get("actionOnEmptyResult") != "true":
                return None
            return await self._post(gather.attrib["action"], {"Digits": ""})
        self._say("you", f"press {mask_numbers_in(keys)}")
        finished = ""
        if finish and keys.endswith(finish):
            keys, finished = keys[: -len(finish)], finish
        limit = int(gather.attrib.get("numDigits", "0") or 0)
        if limit:
            keys = keys[:limit]
        params = {"Digits": keys}
        if finished:
            params["FinishedOnKey"] = finished
        return await self._post(gather.attrib["action"], params)

    async def _check_patience(self) -> None:
        """Out of patience in the queue: the caller hangs up, and Twilio tells the line."""
        if self._queued_at is None or self._queue_action is None:
            return
        if asyncio.get_running_loop().time() - self._queued_at < self.patience.total_seconds():
            return
        self._say("you", "(hang up: waited long enough)")
        await self._post(self._queue_action, {"QueueResult": "hangup"})
        raise _HungUp("caller")

    # -- the wire ----------------------------------------------------------------------------

    def _queue_params(self) -> dict[str, str]:
        return {"QueuePosition": "1", "QueueTime": "0", "CurrentQueueSize": "1"}

    async def _post(
        self, url: str, extra: dict[str, str], *, expect_twiml: bool = True
    ) -> ET.Element:
        if not url.startswith(self.public_url):
            raise ProviderRejected(
                "line", 0, f"it handed out {url!r}, outside its public URL {self.public_url}"
            )
        self.requests += 1
        if self.requests > MAX_REQUESTS:
            raise _HungUp("caller")
        params = {**self._standard(), **extra}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            SIGNATURE_HEADER: sign(self.account.auth_token, url, list(params.items())),
        }
        target = self.server_url + url[len(self.public_url) :]
        answer = await self._http.post(target, content=urlencode(params), headers=headers)
        if answer.status_code >= 300:
            raise ProviderRejected(
                "line", answer.status_code, answer.text, operation=f"POST {target}"
            )
        if not expect_twiml:
            return ET.Element("Response")
        return ET.fromstring(answer.text)

    def _standard(self) -> dict[str, str]:
        return {
            "AccountSid": self.account.sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call_sid,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "From": self.caller or "anonymous",
            "Caller": self.caller or "anonymous",
            "To": self.line_number,
            "Called": self.line_number,
        }

    def _say(self, who: str, text: str) -> None:
        self.out.write(f"[{datetime.now().strftime('%H:%M:%S')}] {who:>4}: {text}\n")
        self.out.flush()

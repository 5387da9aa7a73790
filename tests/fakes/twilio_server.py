"""A fake of Twilio: its REST API as a real HTTP server, and its webhooks, signed as it signs.

:class:`FakeTwilio` serves ``/2010-04-01/Accounts/{AccountSid}/Calls.json``
(create), ``.../Calls/{CallSid}.json`` (fetch, update) on 127.0.0.1 with a
port of its own. It checks Basic auth (the account SID and auth token), the
path and the form parameters by the names and values Twilio documents, and
answers with call resources shaped like Twilio's and with Twilio's errors
(``{"code": 21211, "message": ..., "more_info": ..., "status": 400}``).
The real ``twilio.rest.Client`` reaches it through the library's own HTTP
plug: :meth:`FakeTwilio.route` rewrites ``https://api.twilio.com`` to the
fake's address and refuses every other address.

What Twilio does on its own side — ringing, answering, requesting the
call's TwiML, posting status callbacks — the test asks for
(:meth:`FakeTwilio.progress`, :meth:`FakeTwilio.fetch_twiml`), and
:class:`Webhooks` delivers, signed exactly as Twilio signs, to the app
in-process (ASGI) or over HTTP. A placed call that the line ends through
the API gets its final status callback sent as Twilio would send it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from starlette.types import ASGIApp

from callflow.providers.twilio.signatures import SIGNATURE_HEADER, sign

API = "https://api.twilio.com"
API_VERSION = "2010-04-01"
ACCOUNT_SID = "AC" + "5f" * 16
AUTH_TOKEN = "fake-auth-token-of-the-test-account"
LINE_NUMBER = "+358291234500"

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
CREATE_PARAMETERS = frozenset(
    {
        "To", "From", "Url", "Method", "Twiml", "ApplicationSid", "FallbackUrl", "FallbackMethod",
        "StatusCallback", "StatusCallbackMethod", "StatusCallbackEvent", "SendDigits", "Timeout",
        "Record", "MachineDetection", "MachineDetectionTimeout", "AsyncAmd",
        "AsyncAmdStatusCallback", "AsyncAmdStatusCallbackMethod", "CallerId", "TimeLimit",
        "CallReason",
    }
)  # fmt: skip
"""The Calls resource's create parameters (the subset a line could send)."""
PROGRESS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
FINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


class Refusal(Exception):
    """An error answer in Twilio's shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


@dataclass
class FakeCall:
    """A call placed through the fake, as Twilio keeps it."""

    sid: str
    to: str
    from_: str
    url: str
    status_callback: str | None
    events: frozenset[str]
    machine_detection: str | None
    timeout: int
    status: str = "queued"
    answered_by: str | None = None
    duration: int | None = None
    sequence: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def resource(self, account_sid: str) -> dict[str, Any]:
        stamp = format_datetime(self.created_at, usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{self.sid}"
        return {
            "account_sid": account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": stamp,
            "date_updated": stamp,
            "direction": "outbound-api",
            "duration": None if self.duration is None else str(self.duration),
            "end_time": None,
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + "0" * 32,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": None,
            "status": self.status,
            "subresource_uris": {
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
                "events": f"{uri}/Events.json",
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    status: int


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


class Webhooks:
    """Twilio's side of a webhook: the request signed as Twilio signs it, posted to the app.

    URLs are the public ones Twilio knows (under ``public_url``); the request
    goes to the app's own address, as a proxy in front of it would send it.
    """

    def __init__(
        self,
        *,
        public_url: str,
        auth_token: str = AUTH_TOKEN,
        app: ASGIApp | None = None,
        base_url: str | None = None,
    ) -> None:
        assert (app is None) != (base_url is None), "give the app or its URL"
        self.public_url = public_url
        self.auth_token = auth_token
        self._app = app
        self._base = base_url or "http://app.internal"
        self.sent: list[tuple[str, dict[str, str]]] = []

    async def post(
        self,
        url: str,
        params: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        signature: str | None = None,
        unsigned: bool = False,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
    ) -> httpx.Response:
        """POST *params* to the public *url* (signed, unless *unsigned* or a *signature* is
        given); *body* replaces the form (a tampered request)."""
        assert url.startswith(self.public_url), url
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        sent = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        if not unsigned:
            sent[SIGNATURE_HEADER] = signature or sign(self.auth_token, url, pairs)
        sent.update(headers or {})
        target = self._base + url[len(self.public_url) :]
        self.sent.append((url, dict(pairs)))
        transport = httpx.ASGITransport(app=self._app) if self._app is not None else None
        async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
            return await client.post(
                target, content=urlencode(pairs) if body is None else body, headers=sent
            )

    def post_now(
        self, url: str, params: Mapping[str, str] | Sequence[tuple[str, str]], **options: Any
    ) -> httpx.Response:
        """:meth:`post` from synchronous code (an event loop of its own)."""
        return asyncio.run(self.post(url, params, **options))


class FakeTwilio:
    """Twilio's REST API for one account, on 127.0.0.1; start with :meth:`start`."""

    def __init__(
        self,
        webhooks: Webhooks | None = None,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.webhooks = webhooks
        self.calls: dict[str, FakeCall] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._failures: list[Refusal] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # serve_forever looks for stop() between polls, by default every 0.5 s: that was half a
        # second of every Twilio test's teardown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, uri: str) -> str:
        """The HTTP plug's rewrite: Twilio's API to this fake, and nowhere else."""
        if not uri.startswith(API + "/"):
            raise AssertionError(f"a request to {uri!r}: only {API} may be called")
        return self.url + uri[len(API) :]

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the status callbacks Twilio sends by itself are delivered on."""
        self._loop = loop

    async def settle(self) -> None:
        """Wait for the status callbacks sent on the fake's own initiative."""
        while self._pending:
            await asyncio.gather(*[asyncio.wrap_future(f) for f in list(self._pending)])

    # -- test controls -----------------------------------------------------------------------

    def fail_next(self, status: int, code: int, message: str) -> None:
        """The next API request is refused with this Twilio error."""
        with self._lock:
            self._failures.append(Refusal(status, code, message))

    def placed(self, to: str | None = None) -> list[FakeCall]:
        with self._lock:
            return [c for c in self.calls.values() if to is None or c.to == to]

    async def progress(
        self,
        sid: str,
        *statuses: str,
        answered_by: str | None = None,
        duration: int | None = None,
        sequence: int | None = None,
    ) -> list[httpx.Response]:
        """The call moves through *statuses*; each is sent to its status callback as Twilio
        sends it (``sequence`` forces a number, to replay an old or repeated one)."""
        answers = []
        for status in statuses:
            answers.append(
                await self._status(
                    sid, status, answered_by=answered_by, duration=duration, sequence=sequence
                )
            )
        return answers

    async def fetch_twiml(self, sid: str, **extra: str) -> str:
        """Twilio requests the call's TwiML (its ``Url``), as when the call is answered."""
        call = self.calls[sid]
        params = {**self._standard(call), "CallStatus": "in-progress", **extra}
        if call.answered_by is not None:
            params.setdefault("AnsweredBy", call.answered_by)
        answer = await self._webhooks().post(call.url, params)
        assert answer.status_code == 200, answer.text
        return answer.text

    async def dial_over(
        self, sid: str, twiml: str, *, call_status: str, dial_call_status: str = "completed"
    ) -> str | None:
        """The ``<Dial>`` of the call's document *twiml* ends (for a ``<Conference>``: the
        conference ended, or the call left it), as Twilio ends it: with an ``action``, Twilio
        asks it what the call does next — with ``CallStatus`` ``in-progress`` if the call is
        still up, ``completed`` if it hung up (the answer is then not run) — and the answer's
        TwiML is returned. Without one, the call goes on with the verbs after the ``<Dial>``:
        None if there are none, and the call ends
        (https://www.twilio.com/docs/voice/twiml/dial#action)."""
        document = ET.fromstring(twiml)
        verbs = list(document)
        dial = document.find("Dial")
        assert dial is not None, f"no <Dial> in {twiml!r}"
        conference = dial.find("Conference")
        if conference is not None:
            assert conference.attrib.get("endConferenceOnExit") in (None, "true", "false")
        action = dial.attrib.get("action")
        if action is None:
            assert verbs[-1] is dial, "the verbs after the <Dial> would run"
            return None
        assert action.startswith("https://") and dial.attrib.get("method", "POST") == "POST"
        call = self.calls[sid]
        params = {
            **self._standard(call),
            "CallStatus": call_status,
            "DialCallStatus": dial_call_status,
            "DialCallDuration": str(call.duration or 0),
        }
        if call.answered_by is not None:
            params["AnsweredBy"] = call.answered_by
        answer = await self._webhooks().post(action, params)
        assert answer.status_code == 200, answer.text
        return answer.text

    # -- the HTTP side --------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8") if length else ""
        params = parse_qsl(body, keep_blank_values=True)
        try:
            status, document = self._answer(method, parts.path, handler.headers, params)
        except Refusal as refusal:
            status, document = refusal.status, refusal.body()
        with self._lock:
            self.requests.append(Recorded(method, parts.path, tuple(params), status))
        payload = json.dumps(document).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _answer(
        self, method: str, path: str, headers: Any, params: list[tuple[str, str]]
    ) -> tuple[int, dict[str, Any]]:
        self._authenticate(headers.get("Authorization", ""))
        with self._lock:
            if self._failures:
                raise self._failures.pop(0)
        prefix = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls"
        if path == f"{prefix}.json" and method == "POST":
            return 201, self._create(params)
        match = re.fullmatch(rf"{re.escape(prefix)}/(CA[0-9a-f]{{32}})\.json", path)
        if match is None:
            raise Refusal(404, 20404, f"The requested resource {path} was not found")
        with self._lock:
            call = self.calls.get(match.group(1))
        if call is None:
            raise Refusal(404, 20404, f"The requested resource {path} was not found")
        if method == "GET":
            return 200, call.resource(self.account_sid)
        return 200, self._update(call, dict(params))

    def _authenticate(self, header: str) -> None:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if header != f"Basic {expected}":
            raise Refusal(401, 20003, "Authenticate")

    def _create(self, params: list[tuple[str, str]]) -> dict[str, Any]:
        names = {name for name, _ in params}
        unknown = sorted(names - CREATE_PARAMETERS)
        if unknown:
            raise Refusal(400, 20001, f"Unknown parameters: {', '.join(unknown)}")
        single = dict(params)
        to, from_ = single.get("To", ""), single.get("From", "")
        if not to:
            raise Refusal(400, 21201, "No 'To' number is specified")
        if not from_:
            raise Refusal(400, 21213, "No 'From' number is specified")
        if not E164.fullmatch(to):
            raise Refusal(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not E164.fullmatch(from_):
            raise Refusal(400, 21212, f"The 'From' number {from_} is not a valid phone number.")
        url = single.get("Url", "")
        if not url.startswith(("http://", "https://")):
            raise Refusal(400, 21205, f"Url is not a valid URL: {url}")
        for name in ("Method", "StatusCallbackMethod"):
            if single.get(name, "POST") not in ("GET", "POST"):
                raise Refusal(400, 21218, f"Invalid {name}: {single[name]}")
        events = frozenset(value for name, value in params if name == "StatusCallbackEvent")
        if events - PROGRESS_EVENTS:
            raise Refusal(400, 21626, f"Invalid StatusCallbackEvent: {sorted(events)}")
        timeout = int(single.get("Timeout", "60"))
        if not 1 <= timeout <= 600:
            raise Refusal(400, 21216, f"Timeout must be between 1 and 600: {timeout}")
        detection = single.get("MachineDetection")
        if detection not in (None, "Enable", "DetectMessageEnd"):
            raise Refusal(400, 21627, f"Invalid MachineDetection: {detection}")
        call = FakeCall(
            sid=new_call_sid(),
            to=to,
            from_=from_,
            url=url,
            status_callback=single.get("StatusCallback"),
            events=events or frozenset({"completed"}),
            machine_detection=detection,
            timeout=timeout,
        )
        with self._lock:
            self.calls[call.sid] = call
        return call.resource(self.account_sid)

    def _update(self, call: FakeCall, params: dict[str, str]) -> dict[str, Any]:
        status = params.get("Status")
        if status not in (None, "canceled", "completed"):
            raise Refusal(400, 21218, f"Invalid Status: {status}")
        if "Url" in params and call.status in FINAL:
            raise Refusal(400, 21220, "Call is not in-progress. Cannot redirect.")
        if status is not None and call.status not in FINAL:
            ended = status
            if status == "canceled" and call.status == "in-progress":
                ended = ""  # canceling has no effect on an answered call
            elif status == "completed" and call.status in ("queued", "ringing", "initiated"):
                ended = "canceled"
            if ended:
                self._send_soon(call.sid, ended)
        return call.resource(self.account_sid)

    # -- status callbacks ---------------------------------------------------------------------

    def _send_soon(self, sid: str, status: str) -> None:
        with self._lock:
            self.calls[sid].status = status
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(
            self._status(sid, status, apply=False), self._loop
        )
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def _status(
        self,
        sid: str,
        status: str,
        *,
        answered_by: str | None = None,
        duration: int | None = None,
        sequence: int | None = None,
        apply: bool = True,
    ) -> httpx.Response:
        with self._lock:
            call = self.calls[sid]
            if apply:
                call.status = status
            if answered_by is not None:
                call.answered_by = answered_by
            if duration is not None:
                call.duration = duration
            number = call.sequence if sequence is None else sequence
            if sequence is None:
                call.sequence += 1
        assert call.status_callback is not None, "the call has no status callback"
        params = {
            **self._standard(call),
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "Timestamp": format_datetime(datetime.now(UTC), usegmt=True),
            "SequenceNumber": str(number),
        }
        if status in FINAL:
            params["CallDuration"] = str(call.duration or 0)
            params["Duration"] = str(-(-(call.duration or 0) // 60))
            params["SipResponseCode"] = {"completed": "200", "busy": "486"}.get(status, "487")
        if call.answered_by is not None:
            params["AnsweredBy"] = call.answered_by
        return await self._webhooks().post(call.status_callback, params)

    def _standard(self, call: FakeCall) -> dict[str, str]:
        """The parameters Twilio sends with every request about a call."""
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "Direction": "outbound-api",
            "From": call.from_,
            "Caller": call.from_,
            "To": call.to,
            "Called": call.to,
            "FromCountry": "FI",
            "ToCountry": "FI",
        }

    def _webhooks(self) -> Webhooks:
        assert self.webhooks is not None, "this fake delivers no webhooks"
        return self.webhooks


GATHER_NESTS = frozenset({"Say", "Play", "Pause"})
"""What Twilio runs inside a ``<Gather>``; anything else in it is an application error."""
KEYS = frozenset("0123456789*#")


def gather_post(gather: ET.Element, keys: str, *, finished_on_key: str = "") -> dict[str, str]:
    """The parameters Twilio posts to a ``<Gather>``'s action when the caller presses *keys*
    (then *finished_on_key*), checked as Twilio runs it.

    Twilio ends the ``<Gather>`` at its ``numDigits``th key or at its ``finishOnKey``
    (which it leaves out of ``Digits``), and a key after that is never in this request:
    it reaches whatever comes next, if anything listens. So keys the ``<Gather>`` would
    not take, a finishing key it does not have, or a ``<Gather>`` Twilio would refuse
    (a bad ``numDigits``, ``timeout`` or ``finishOnKey``, a verb nested that it cannot
    hold, no ``action``) fail the test instead of reaching the app.
    """
    check_gather(gather)
    limit = int(gather.attrib.get("numDigits", "0")) or None
    finish = gather.attrib.get("finishOnKey", "#")
    assert keys and set(keys) <= KEYS, f"not keys: {keys!r}"
    if finish:
        assert finish not in keys, f"{finish} ends this <Gather>: {keys!r} stops there"
    if limit is not None:
        assert len(keys) <= limit, f"the <Gather> takes {limit} key(s): {keys!r} is more"
    if finished_on_key:
        assert finished_on_key == finish, f"this <Gather> does not end on {finished_on_key}"
        assert limit is None or len(keys) < limit, "the <Gather> ended before the finishing key"
    params = {"Digits": keys}
    if finished_on_key:
        params["FinishedOnKey"] = finished_on_key
    return params


def check_gather(gather: ET.Element) -> None:
    """A ``<Gather>`` as Twilio would run it (https://www.twilio.com/docs/voice/twiml/gather)."""
    assert gather.attrib.get("action", "").startswith("https://"), "a <Gather> without an action"
    assert gather.attrib.get("method", "POST") in ("GET", "POST")
    assert gather.attrib.get("input", "dtmf") in ("dtmf", "speech", "dtmf speech")
    num_digits = gather.attrib.get("numDigits", "1")
    assert num_digits.isdigit() and int(num_digits) >= 1, f"numDigits={num_digits!r}"
    timeout = gather.attrib.get("timeout", "5")
    assert timeout.isdigit() and int(timeout) >= 1, f"timeout={timeout!r}"
    finish = gather.attrib.get("finishOnKey", "#")
    assert finish == "" or (len(finish) == 1 and finish in KEYS), f"finishOnKey={finish!r}"
    nested = {child.tag for child in gather}
    assert nested <= GATHER_NESTS, f"a <Gather> cannot hold {sorted(nested - GATHER_NESTS)}"


def inbound_params(
    call_sid: str, caller: str, *, to: str = LINE_NUMBER, account_sid: str = ACCOUNT_SID
) -> dict[str, str]:
    """What Twilio posts to the voice URL when *caller* dials the line."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": caller,
        "Caller": caller,
        "To": to,
        "Called": to,
        "FromCountry": "FI",
        "ToCountry": "FI",
    }


def serial_sids() -> Iterable[str]:
    """CallSids in a predictable order, for tests that print them."""
    for n in itertools.count(1):
        yield f"CA{n:032x}"

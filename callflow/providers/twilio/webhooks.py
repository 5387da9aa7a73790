"""Twilio's webhooks as HTTP routes: every request signed, every parameter checked.

=========================================  ==============================================
``POST /twilio/voice``                      the number's voice URL: a call arrives
``POST /twilio/status``                     the number's (and every placed call's) status
``POST /twilio/voice/gather|played|wait``   a call's next step (URLs handed out in TwiML)
``POST /twilio/voice/left|connected|tick``  leaving a queue, being joined with an advisor
``POST /twilio/callback/...``               a callback's advisor and resident legs
``POST /twilio/callback/resident/after|..``  the resident's leg after the talk (the question)
``POST /twilio/connect/advisor``            an advisor called to take a queued caller
=========================================  ==============================================

A request without Twilio's signature header is refused (403) before its
body is read, and a body larger than Twilio ever sends (:data:`MAX_BODY`,
:data:`MAX_PARAMETERS`) is refused (413) as it arrives, so an unsigned or
bloated request costs neither memory nor time on the event loop. A request
is then checked for its signature (403 if it is wrong, and nothing is read
further), then for its parameters (400 naming the bad one); only then does
it reach the store. The routes answer these refusals themselves, in the
shape every refusal of the line's app has (:mod:`callflow.http.errors`), so
the app they are mounted on needs to know nothing of Twilio. The store's work
is blocking and runs outside the event loop: a call's steps in batches
sharing a transaction (:mod:`~callflow.providers.twilio.batches`), placed
calls' in the thread pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from callflow.errors import InputError, MalformedWebhook, WebhookSignatureInvalid
from callflow.http.errors import ApiError, error_response
from callflow.http.limits import BodyLimit
from callflow.providers.twilio.batches import WebhookBatches
from callflow.providers.twilio.calls import InboundCalls
from callflow.providers.twilio.legs import PlacedCalls
from callflow.providers.twilio.params import (
    CallbackLeg,
    CallParams,
    ConnectLeg,
    Dequeued,
    DialEnded,
    Gathered,
    IncomingCall,
    LeftQueue,
    LegGathered,
    LegPlayed,
    Played,
    StatusCallback,
    read,
)
from callflow.providers.twilio.signatures import (
    SIGNATURE_HEADER,
    Params,
    WebhookVerifier,
    form_pairs,
)
from callflow.providers.twilio.twiml import left_key, step_key

log = structlog.get_logger("callflow.twilio")

P = TypeVar("P", bound=CallParams)
Endpoint = Callable[[Request], Awaitable[Response]]
XML = "application/xml"
PREFIX = "/twilio"

MAX_BODY = 65_536
"""Bytes of a webhook's body: Twilio's are a few kilobytes (some thirty parameters)."""
MAX_PARAMETERS = 200
"""Parameters in a webhook's form, counted before it is parsed or its signature computed."""
SIGNATURE_NAME = SIGNATURE_HEADER.lower().encode("latin-1")
"""The signature header's name as ASGI gives it."""
STATUS_OF_INPUT: dict[type[InputError], int] = {WebhookSignatureInvalid: 403, MalformedWebhook: 400}


def twilio_webhooks(
    *,
    calls: InboundCalls,
    placed: PlacedCalls,
    batches: WebhookBatches[str],
    verifier: WebhookVerifier,
    account_sid: str,
) -> Mount:
    """The line's routes under ``/twilio``: inbound *calls* and the *placed* ones, a call's
    steps run in *batches*, every request checked by *verifier* and for *account_sid*.

    Plain Starlette routes, not FastAPI's: they have no schema, no dependencies
    and no response model, and every call to the line passes through them, so
    they are spared the work those would cost on every request.
    """
    if not verifier.enabled:
        log.warning(
            "twilio.signatures_not_checked",
            why="development flag: any request to /twilio/ is believed; never in production",
        )
    routes: list[Route] = []

    def post(path: str) -> Callable[[Endpoint], Endpoint]:
        """A webhook at *path*: its signature header required and its body limited once
        routed (so another path or method is answered 404 or 405 as in the API)."""

        def add(endpoint: Endpoint) -> Endpoint:
            limited = BodyLimit(request_response(_refusing(endpoint)), max_bytes=MAX_BODY)
            guarded = SignatureRequired(limited, enabled=verifier.enabled)
            routes.append(Route(path, guarded, methods=["POST"]))
            return endpoint

        return add

    async def parameters(request: Request, model: type[P]) -> P:
        body = await request.body()
        if body.count(b"&") >= MAX_PARAMETERS:
            raise ApiError(
                413, "too-many-parameters", f"a webhook carries at most {MAX_PARAMETERS} parameters"
            )
        path, query = _path(request), _query(request)
        form = verifier.parameters(path, query, request.headers, body)
        params = read(model, Params(form_pairs(query)), form)
        if params.account_sid != account_sid:
            raise MalformedWebhook("AccountSid: not the account of this line")
        return params

    async def answer(work: Callable[[], str]) -> Response:
        """A call's next step, batched with those that arrive with it (see .batches)."""
        return Response(await batches.run(work), media_type=XML)

    async def answer_leg(work: Callable[[], str]) -> Response:
        """A placed call's step: it may wake the dialler's watch, so it is never batched."""
        return Response(await run_in_threadpool(work), media_type=XML)

    @post("/voice")
    async def voice(request: Request) -> Response:
        params = await parameters(request, IncomingCall)
        return await answer(lambda: calls.arrived(params))

    @post("/voice/gather")
    async def gather(request: Request) -> Response:
        params = await parameters(request, Gathered)
        step = step_key("gather", params.step_query())
        return await answer(lambda: calls.gathered(params, step))

    @post("/voice/played")
    async def played(request: Request) -> Response:
        params = await parameters(request, Played)
        step = step_key("played", params.step_query())
        return await answer(lambda: calls.played(params, step, waiting=False))

    @post("/voice/tick")
    async def tick(request: Request) -> Response:
        params = await parameters(request, Played)
        step = step_key("tick", params.step_query())
        return await answer(lambda: calls.played(params, step, waiting=False))

    @post("/voice/wait")
    async def wait(request: Request) -> Response:
        params = await parameters(request, Played)
        step = step_key("wait", params.step_query())
        return await answer(lambda: calls.played(params, step, waiting=True))

    @post("/voice/left")
    async def left(request: Request) -> Response:
        params = await parameters(request, LeftQueue)
        step = left_key({"v": params.visit}, params.queue_result)
        return await answer(lambda: calls.left(params, step))

    @post("/voice/connected")
    async def connected(request: Request) -> Response:
        params = await parameters(request, Dequeued)
        return await answer(lambda: calls.dequeued(params))

    @post("/status")
    async def status(request: Request) -> Response:
        params = await parameters(request, StatusCallback)
        await run_in_threadpool(placed.status, params)
        return Response(status_code=204)

    @post("/callback/advisor")
    async def callback_advisor(request: Request) -> Response:
        params = await parameters(request, CallbackLeg)
        return await answer_leg(lambda: placed.advisor_answered(params))

    @post("/callback/advisor/ready")
    async def callback_advisor_ready(request: Request) -> Response:
        params = await parameters(request, CallbackLeg)
        return await answer_leg(lambda: placed.advisor_ready(params))

    @post("/callback/resident")
    async def callback_resident(request: Request) -> Response:
        params = await parameters(request, CallbackLeg)
        return await answer_leg(lambda: placed.resident_answered(params))

    @post("/callback/resident/after")
    async def callback_resident_after(request: Request) -> Response:
        params = await parameters(request, DialEnded)
        return await answer_leg(lambda: placed.surveys.talk_over(params))

    @post("/callback/resident/gather")
    async def callback_resident_gather(request: Request) -> Response:
        params = await parameters(request, LegGathered)
        step = step_key("gather", params.step_query())
        return await answer_leg(lambda: placed.surveys.gathered(params, step))

    @post("/callback/resident/played")
    async def callback_resident_played(request: Request) -> Response:
        params = await parameters(request, LegPlayed)
        step = step_key("played", params.step_query())
        return await answer_leg(lambda: placed.surveys.played(params, step))

    @post("/connect/advisor")
    async def connect_advisor(request: Request) -> Response:
        params = await parameters(request, ConnectLeg)
        return await answer_leg(lambda: placed.connect_answered(params))

    return Mount(PREFIX, routes=routes)


def _refusing(endpoint: Endpoint) -> Endpoint:
    """*endpoint*, answering a webhook it cannot accept: 403 unsigned, 400 malformed."""

    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except (WebhookSignatureInvalid, MalformedWebhook) as exc:
            return _refusal(request.url.path, exc)

    return answer


def _refusal(path: str, exc: InputError) -> Response:
    log.warning("twilio.refused_webhook", path=path, slug=exc.slug, why=str(exc))
    return error_response(STATUS_OF_INPUT[type(exc)], exc.slug, str(exc))


class SignatureRequired:
    """Refuses a request without ``X-Twilio-Signature`` before its body is read: only a
    signed request is worth reading (the signature itself is checked once it is read).
    Off with the development flag that believes unsigned webhooks."""

    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.enabled and not any(name == SIGNATURE_NAME for name, _ in scope["headers"]):
            unsigned = WebhookSignatureInvalid(f"no {SIGNATURE_HEADER} header")
            await _refusal(scope["path"], unsigned)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _path(request: Request) -> str:
    """The path as requested (under a mount, Starlette keeps the whole of it)."""
    path: str = request.scope["path"]
    return path


def _query(request: Request) -> str:
    """The query string exactly as requested: Twilio signed it so."""
    query: bytes = request.scope["query_string"]
    return query.decode("latin-1")

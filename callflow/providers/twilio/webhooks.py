"""Twilio's webhooks as HTTP routes: every request signed, every parameter checked.

=========================================  ==============================================
``POST /twilio/voice``                      the number's voice URL: a call arrives
``POST /twilio/status``                     the number's (and every placed call's) status
``POST /twilio/voice/gather|played|wait``   a call's next step (URLs handed out in TwiML)
``POST /twilio/voice/left|connected|tick``  leaving a queue, being joined with an advisor
``POST /twilio/callback/...``               a callback's advisor and resident legs
``POST /twilio/connect/advisor``            an advisor called to take a queued caller
=========================================  ==============================================

A request is first checked for Twilio's signature (403 if it is missing or
wrong, and nothing is read further), then for its parameters (400 naming
the bad one); only then does it reach the store. The store's work is
blocking SQLAlchemy and runs in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from callflow.errors import MalformedWebhook
from callflow.providers.twilio.params import (
    CallbackLeg,
    CallParams,
    ConnectLeg,
    Dequeued,
    Gathered,
    IncomingCall,
    LeftQueue,
    Played,
    StatusCallback,
    read,
)
from callflow.providers.twilio.signatures import Params
from callflow.providers.twilio.twiml import left_key

if TYPE_CHECKING:
    from callflow.providers.twilio.provider import TwilioProvider

P = TypeVar("P", bound=CallParams)
XML = "application/xml"


def twilio_router(provider: TwilioProvider) -> APIRouter:
    """The routes of *provider*'s line."""
    router = APIRouter(prefix="/twilio", include_in_schema=False)
    calls, placed = provider.calls, provider.placed

    async def parameters(request: Request, model: type[P]) -> P:
        body = await request.body()
        form = provider.verifier.parameters(
            request.url.path, request.url.query, request.headers, body
        )
        query = Params(parse_qsl(request.url.query, keep_blank_values=True))
        params = read(model, query, form)
        if params.account_sid != provider.settings.account.sid:
            raise MalformedWebhook("AccountSid: not the account of this line")
        return params

    def key(endpoint: str, request: Request) -> str:
        return f"{endpoint}:{request.url.query}"

    async def answer(work: Callable[[], str]) -> Response:
        return Response(await run_in_threadpool(work), media_type=XML)

    @router.post("/voice")
    async def voice(request: Request) -> Response:
        params = await parameters(request, IncomingCall)
        return await answer(lambda: calls.arrived(params))

    @router.post("/voice/gather")
    async def gather(request: Request) -> Response:
        params = await parameters(request, Gathered)
        step = key("gather", request)
        return await answer(lambda: calls.gathered(params, step))

    @router.post("/voice/played")
    async def played(request: Request) -> Response:
        params = await parameters(request, Played)
        step = key("played", request)
        return await answer(lambda: calls.played(params, step, waiting=False))

    @router.post("/voice/tick")
    async def tick(request: Request) -> Response:
        params = await parameters(request, Played)
        step = key("tick", request)
        return await answer(lambda: calls.played(params, step, waiting=False))

    @router.post("/voice/wait")
    async def wait(request: Request) -> Response:
        params = await parameters(request, Played)
        step = key("wait", request)
        return await answer(lambda: calls.played(params, step, waiting=True))

    @router.post("/voice/left")
    async def left(request: Request) -> Response:
        params = await parameters(request, LeftQueue)
        step = left_key({"v": params.visit}, params.queue_result)
        return await answer(lambda: calls.left(params, step))

    @router.post("/voice/connected")
    async def connected(request: Request) -> Response:
        params = await parameters(request, Dequeued)
        step = key("connected", request)
        return await answer(lambda: calls.dequeued(params, step))

    @router.post("/status")
    async def status(request: Request) -> Response:
        params = await parameters(request, StatusCallback)
        await run_in_threadpool(placed.status, params)
        return Response(status_code=204)

    @router.post("/callback/advisor")
    async def callback_advisor(request: Request) -> Response:
        params = await parameters(request, CallbackLeg)
        return await answer(lambda: placed.advisor_answered(params))

    @router.post("/callback/advisor/ready")
    async def callback_advisor_ready(request: Request) -> Response:
        params = await parameters(request, CallbackLeg)
        return await answer(lambda: placed.advisor_ready(params))

    @router.post("/callback/resident")
    async def callback_resident(request: Request) -> Response:
        params = await parameters(request, CallbackLeg)
        return await answer(lambda: placed.resident_answered(params))

    @router.post("/connect/advisor")
    async def connect_advisor(request: Request) -> Response:
        params = await parameters(request, ConnectLeg)
        return await answer(lambda: placed.connect_answered(params))

    return router

"""Twilio's REST API through the official client, on httpx.

The twilio library takes its HTTP client as a plug (``http_client``); this
one is asynchronous on httpx, so calls are placed from the event loop
without a thread each, and its ``route`` is the one place a test may point
the API's address elsewhere (at a local fake). Twilio's own errors become
:class:`ProviderRejected` carrying Twilio's error code (21211: not a valid
phone number), and an API out of reach :class:`ProviderUnavailable`, each
chained to what the library or httpx raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import structlog
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]
from twilio.http import AsyncHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from callflow.errors import ProviderRejected, ProviderUnavailable
from callflow.providers.twilio.settings import TwilioAccount

log = structlog.get_logger("callflow.twilio")

T = TypeVar("T")

REQUEST_TIMEOUT = 10.0
"""Seconds for one API request; Twilio answers in well under one."""


def _as_is(url: str) -> str:
    return url


class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]
    """The twilio library's asynchronous HTTP plug, on one pooled :class:`httpx.AsyncClient`."""

    def __init__(
        self,
        *,
        route: Callable[[str], str] = _as_is,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        super().__init__(logger=None, is_async=True, timeout=timeout)
        self._route = route
        self._client = httpx.AsyncClient(timeout=timeout)

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        try:
            answer = await self._client.request(
                method.upper(),
                self._route(uri),
                params=params,  # type: ignore[arg-type]
                data=data,
                headers=headers,
                auth=auth,
                timeout=timeout or self.timeout,
                follow_redirects=allow_redirects,
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Twilio's API is out of reach: {type(exc).__name__}"
            ) from exc
        return Response(answer.status_code, answer.text, answer.headers)

    async def close(self) -> None:
        await self._client.aclose()


def make_client(account: TwilioAccount, http: HttpxTwilioClient) -> Any:
    """The official REST client for *account*, placing its requests through *http*."""
    return Client(account.sid, account.auth_token, account_sid=account.sid, http_client=http)


async def rest_call(operation: str, request: Awaitable[T]) -> T:
    """Await a REST *request*, turning Twilio's refusal into :class:`ProviderRejected`."""
    try:
        return await request
    except TwilioRestException as exc:
        log.warning("twilio.refused", operation=operation, status=exc.status, code=exc.code)
        raise ProviderRejected(
            "twilio",
            int(exc.status),
            str(exc.msg),
            operation=operation,
            code=None if exc.code is None else str(exc.code),
        ) from exc

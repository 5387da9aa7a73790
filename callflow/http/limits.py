"""Request bodies are limited before they are read.

A body is read whole into memory before anything looks at it (FastAPI parses
JSON, a webhook's form is parsed and its signature computed), so without a
limit one client can fill the memory or hold the event loop with a single
request. :class:`BodyLimit` is a pure ASGI layer that refuses a body whose
``Content-Length`` is too large before reading a byte of it, and counts a
body sent without one (chunked) as it arrives, refusing it the moment it
passes the limit. Either way the answer is 413 in the API's error shape.
"""

from __future__ import annotations

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callflow.http.errors import ApiError, error_response

log = structlog.get_logger("callflow.http")

TOO_LARGE = "body-too-large"


class BodyLimit:
    """*app* with request bodies of at most *max_bytes*; nest one in another for a
    smaller limit on some paths (the tighter one refuses first)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            # Answered here, not raised: nothing inside has run, and nothing will read it.
            log.warning("web.body_refused", path=scope["path"], declared=declared)
            await error_response(413, TOO_LARGE, self._detail())(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    log.warning("web.body_refused", path=scope["path"], received=received)
                    # Raised into whoever reads the body; the app's error handling answers.
                    raise ApiError(413, TOO_LARGE, self._detail())
            return message

        await self.app(scope, counted, send)

    def _detail(self) -> str:
        return f"the request body is larger than this server takes ({self.max_bytes} bytes)"


def _content_length(scope: Scope) -> int | None:
    """The declared length; none (or one that is not a number) means the body is counted. A
    length of more digits than any limit has is simply too large (``int`` refuses to read
    thousands of digits, and ``isdigit`` alone takes other scripts' digits)."""
    value = Headers(scope=scope).get("content-length")
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    return int(value) if len(value) <= 20 else 10**20

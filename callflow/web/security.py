"""Security headers on every answer, errors and refusals included.

The API answers JSON (and Twilio's webhooks XML) that no browser should
render, frame, cache or send a referrer from, so the defaults are the
strictest: ``default-src 'none'``, no framing, no referrer, ``no-store``. A
page that needs more (the docs) sets its own ``Content-Security-Policy`` or
``Cache-Control``, which is kept. HSTS is sent when the request came over
HTTPS, or the line's public URL is HTTPS (TLS ended at a proxy in front).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
HSTS = ("Strict-Transport-Security", "max-age=31536000")


class SecurityHeaders:
    """*app* with :data:`STRICT` on each answer (a header the answer sets itself is kept),
    and HSTS over HTTPS or always when *https* (the public URL is HTTPS)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        over_https = self.https or scope.get("scheme") == "https"

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in STRICT.items():
                    headers.setdefault(name, value)
                if over_https:
                    headers.setdefault(*HSTS)
            await send(message)

        await self.app(scope, receive, sending)

"""Addresses of the pages, as people's browsers reach them.

A link made away from a request (``callflow advisors add`` prints a password
link; the log names the pages at start) cannot ask the request for its
host, so it begins with the configured public URL (see
:class:`~callflow.config.models.WebConfig`).
"""

from __future__ import annotations

from callflow.config.models import HotlineConfig

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


def public_url(config: HotlineConfig) -> str:
    """``[web] public_url``, else the Twilio line's, else the address ``serve`` listens on
    by default."""
    if config.web.public_url is not None:
        return config.web.public_url
    if config.provider.twilio is not None:
        return config.provider.twilio.public_url
    return DEFAULT_PUBLIC_URL


def page_url(config: HotlineConfig, path: str) -> str:
    return public_url(config) + path


def password_link_url(config: HotlineConfig, token: str) -> str:
    """The one-time link to set a password (valid 24 h)."""
    return page_url(config, f"/password/{token}")

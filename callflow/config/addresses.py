"""Where people's browsers reach the line's pages: the start of every link to them.

A link begins with ``[web] public_url`` when it is set (see
:class:`~callflow.config.models.WebConfig`): the address people's browsers use,
which behind a proxy the app cannot know. Without it, a link made while
answering a request (an admin adding someone on ``/admin``) begins with the
address that request came to, the one the admin's browser reached; one made
away from any request (``callflow advisors add``) with the Twilio line's
public URL, else the address ``serve`` listens on by default.
"""

from __future__ import annotations

from callflow.config.models import HotlineConfig

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


def public_url(config: HotlineConfig, reached_at: str | None = None) -> str:
    """``[web] public_url``, else *reached_at* (the base URL a request came to), else the
    Twilio line's, else the address ``serve`` listens on by default."""
    if config.web.public_url is not None:
        return config.web.public_url
    if reached_at is not None:
        return reached_at.rstrip("/")
    if config.provider.twilio is not None:
        return config.provider.twilio.public_url
    return DEFAULT_PUBLIC_URL


def password_link_url(config: HotlineConfig, token: str, reached_at: str | None = None) -> str:
    """The one-time link to set a password (valid 24 h); *reached_at* as for
    :func:`public_url`."""
    return public_url(config, reached_at) + f"/password/{token}"

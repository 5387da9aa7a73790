"""Where links to the pages begin."""

from __future__ import annotations

from callflow.config.addresses import DEFAULT_PUBLIC_URL, password_link_url
from callflow.config.models import HotlineConfig


def test_the_configured_public_url_comes_first(config: HotlineConfig) -> None:
    configured = config.model_copy(
        update={"web": config.web.model_copy(update={"public_url": "https://neuvonta.fi"})}
    )
    link = password_link_url(configured, "t0k", reached_at="http://10.0.0.5:8080/")
    assert link == "https://neuvonta.fi/password/t0k"


def test_else_the_address_the_request_came_to_else_the_default(config: HotlineConfig) -> None:
    assert password_link_url(config, "t0k", "http://desk.lan:8080/") == (
        "http://desk.lan:8080/password/t0k"
    )
    assert password_link_url(config, "t0k") == f"{DEFAULT_PUBLIC_URL}/password/t0k"

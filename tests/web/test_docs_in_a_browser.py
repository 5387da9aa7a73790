"""The API's docs, as an integrator on a closed intranet opens them: in a real browser."""

from __future__ import annotations

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.store.session import Database
from callflow.web.app import create_app
from tests.web.browser import chromium, served, visit

pytestmark = pytest.mark.slow  # a browser of its own

REDOC_LOGO = "'https://cdn.redoc.ly/redoc/logo-mini.svg' violates the following Content Security"


def test_swagger_and_redoc_render_from_the_app_alone(
    config: HotlineConfig, database: Database, clock: FakeClock
) -> None:
    """``/docs`` lists the API's operations and ``/redoc`` its title, under the app's own
    Content-Security-Policy, with nothing fetched from anywhere else and no script error
    (the policy refusing ReDoc's logo from its CDN aside)."""
    app = create_app(config, database, clock=clock)
    with served(app) as base_url, chromium() as browser:
        with visit(browser, base_url) as swagger:
            swagger.page.goto(f"{base_url}/docs")
            operation = swagger.page.locator(".opblock-summary-path", has_text="/advisor/sign-in")
            operation.first.wait_for(timeout=10_000)
            assert swagger.elsewhere == []
            assert swagger.errors == []
        with visit(browser, base_url) as redoc:
            redoc.page.goto(f"{base_url}/redoc")
            redoc.page.get_by_role("heading", name=f"callflow — {config.line.name}").first.wait_for(
                timeout=10_000
            )
            assert redoc.elsewhere == []
            # ReDoc's bundle names its attribution logo on its own CDN; the page's policy
            # stops the browser from asking for it (nothing left for elsewhere), and says so.
            assert [e for e in redoc.errors if REDOC_LOGO not in e] == []

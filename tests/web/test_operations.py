"""What operators rely on: security headers on every answer, docs that work without a CDN
(and can be turned off), and /metrics on an address of its own when configured."""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser

import httpx
import pytest

from callflow.config.models import HotlineConfig, WebConfig
from callflow.engine.clock import FakeClock
from callflow.store.session import Database
from callflow.web.app import create_app, create_metrics_app
from tests.web.conftest import Api, Someone


def config_with(config: HotlineConfig, **web: object) -> HotlineConfig:
    return config.model_copy(update={"web": WebConfig.model_validate(web)})


class TestSecurityHeaders:
    def test_on_every_answer_errors_included(self, client: Api, admin: Someone) -> None:
        answers = [
            client.get("/health"),
            client.get("/advisor/me", headers=admin.auth),
            client.get("/advisor/me"),  # 401
            client.get("/nowhere"),  # 404
            client.post("/admin/advisors", headers=admin.auth, json={"name": ""}),  # 422
            client.post("/admin/advisors", headers={"Content-Length": "99999999"}),  # 413
        ]
        assert [answer.status_code for answer in answers] == [200, 200, 401, 404, 422, 413]
        for answer in answers:
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert answer.headers["Referrer-Policy"] == "no-referrer"
            assert answer.headers["Content-Security-Policy"] == (
                "default-src 'none'; frame-ancestors 'none'"
            )
            assert answer.headers["Cache-Control"] == "no-store"
            assert "Strict-Transport-Security" not in answer.headers

    def test_hsts_over_https(self, client: Api) -> None:
        answer = client.get("https://web.test/health")
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"


class _Links(HTMLParser):
    """Every URL a page loads: scripts, styles, icons, the schema."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value is not None:
                self.urls.append(value)


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


class TestDocs:
    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    def test_a_page_loads_everything_from_the_app(self, client: Api, page: str) -> None:
        answer = client.get(page)
        assert answer.status_code == 200
        urls = links(answer.text)
        assert urls and not [url for url in urls if re.match(r"^([a-z]+:)?//", url)]
        loaded = {url: client.get(f"/{url}") for url in urls}
        assert {url: a.status_code for url, a in loaded.items()} == dict.fromkeys(urls, 200)
        scripts = [a for url, a in loaded.items() if url.endswith(".js")]
        assert scripts and all("javascript" in a.headers["Content-Type"] for a in scripts)
        starts = loaded.get("docs/assets/swagger-start.js")
        assert "openapi.json" in urls or (starts is not None and "openapi.json" in starts.text)

    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    def test_a_page_runs_no_inline_script(self, client: Api, page: str) -> None:
        answer = client.get(page)
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in _scripts(policy)
        assert "frame-ancestors 'none'" in policy
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", answer.text)

    def test_off_they_are_not_found(
        self, config: HotlineConfig, database: Database, clock: FakeClock
    ) -> None:
        client = Api(create_app(config_with(config, docs=False), database, clock=clock))
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"):
            answer = client.get(path)
            assert answer.status_code == 404, path
            assert answer.json()["error"] == "not-found"
        assert client.get("/health").status_code == 200


class TestMetricsApart:
    def test_metrics_move_to_their_own_app(
        self, config: HotlineConfig, database: Database, clock: FakeClock
    ) -> None:
        apart = config_with(config, metrics_host="127.0.0.1", metrics_port=9108)
        api = Api(create_app(apart, database, clock=clock))
        metrics = Api(create_metrics_app(apart, database, clock=clock))

        assert api.get("/metrics").status_code == 404
        assert api.get("/health").status_code == 200
        scraped = metrics.get("/metrics")
        assert scraped.status_code == 200 and "callflow_callbacks_open" in scraped.text
        assert scraped.headers["X-Content-Type-Options"] == "nosniff"
        assert metrics.get("/admin/advisors").status_code == 404
        assert metrics.get("/docs").status_code == 404

    def test_the_address_is_given_whole(self) -> None:
        with pytest.raises(ValueError, match="give both metrics_host and metrics_port"):
            WebConfig(metrics_port=9108)


def test_headers_reach_a_refusal_made_before_the_app_runs(client: Api) -> None:
    """The 413 by Content-Length is answered by the body limit itself, outside the app."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as http:
            return await http.post("/health", headers={"Content-Length": "2000000"})

    answer = asyncio.run(send())
    assert answer.status_code == 413
    assert answer.headers["X-Frame-Options"] == "DENY"


def _scripts(policy: str) -> str:
    """The policy's word on scripts: its ``script-src``, or else its ``default-src``."""
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    return directives.get("script-src", directives["default-src"])

"""The contact page as a resident uses it, in Debian's Chromium, against the app served
over HTTP: a request in Swedish reaches an advisor's desk, and every refusal is a page
that stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.store.advisors import set_advisor_state
from callflow.store.claims import claim_next_callback
from callflow.store.models import AdvisorState, CallbackRequest, CallEvent
from callflow.store.session import Database
from callflow.web.app import create_app
from callflow.web.pages.text import TEXT
from tests.web.browser import chromium, served, visit
from tests.web.conftest import LEASE
from tests.web.pages.browsing import person
from tests.web.pages.test_pages_in_a_browser import accessibility_problems, sign_in

pytestmark = pytest.mark.slow  # a browser of its own

SV = TEXT["sv"]
FOCUSED = "document.activeElement.id || document.activeElement.tagName"
DESCRIPTION = "Ont i halsen <b>sedan</b> i går."


def fill_in(page: Page, base_url: str, number: str, description: str = "") -> None:
    """The form in Swedish, sent as a resident sends it."""
    page.goto(f"{base_url}/contact?lang=sv")
    page.get_by_label(SV["contact_topic"]).select_option(label="Hälsofrågor")
    page.get_by_label(SV["contact_number"]).fill(number)
    page.get_by_label(SV["contact_description"].format(n=1000)).fill(description)
    page.get_by_label(SV["contact_consent"]).check()


def send(page: Page) -> None:
    page.get_by_role("button", name=SV["contact_send"]).click()


def counts(database: Database) -> dict[str, Any]:
    with database.reading() as session:
        return {
            "requests": session.scalar(select(func.count()).select_from(CallbackRequest)),
            "events": session.scalar(select(func.count()).select_from(CallEvent)),
        }


def test_a_request_in_swedish_reaches_the_desk_and_refusals_store_nothing(
    config: HotlineConfig, database: Database, clock: FakeClock
) -> None:
    app = create_app(config, database, clock=clock)
    bert = person(database, "bert", skills=("nurse",), languages=("sv",))
    with (
        served(app, live=True) as base_url,
        chromium() as browser,
        visit(browser, base_url) as resident,
        visit(browser, base_url) as advisor,
    ):
        page = resident.page
        page.goto(f"{base_url}/contact?lang=sv")
        assert accessibility_problems(page) == []
        # On a phone's screen nothing runs off the side.
        page.set_viewport_size({"width": 360, "height": 740})
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        # Keyboard only: every field in order, the trap never reached.
        order = []
        for _ in range(7):
            page.keyboard.press("Tab")
            order.append(
                page.evaluate("document.activeElement.id || document.activeElement.tagName")
            )
        assert order == ["A", "language", "topic", "number", "description", "consent", "BUTTON"]

        # A resident sends a request in Swedish: the time is said as the phone says it.
        fill_in(page, base_url, "040 123 4567", DESCRIPTION)
        send(page)
        expect(page.locator("#promised")).to_have_text(
            SV["contact_sent"].format(when="i dag före klockan 10.00")
        )
        assert accessibility_problems(page) == []

        # A worker gives it to Bert; his desk shows the description, and its origin.
        with database.transaction() as session:
            set_advisor_state(session, bert, AdvisorState.AVAILABLE, clock.now())
            claimed = claim_next_callback(session, bert, clock.now(), owner="w", lease=LEASE)
        assert claimed is not None
        sign_in(advisor.page, base_url, "bert")
        advisor.page.goto(f"{base_url}/desk")
        expect(advisor.page.locator("#resident-description")).to_have_text(DESCRIPTION)
        expect(advisor.page.locator("#from-web")).to_be_visible()
        stored = counts(database)

        # A second request for the number: refused, with the first one's time.
        fill_in(page, base_url, "+358 40 123 4567", "Igen")
        send(page)
        expect(page.locator("#refusal")).to_contain_text("i dag före klockan 10.00")
        expect(page.get_by_label(SV["contact_number"])).to_have_value("+358 40 123 4567")
        assert counts(database) == stored

        # A script fills the field people never see: refused.
        fill_in(page, base_url, "040 765 4321")
        page.locator("#website").fill("http://spam.example", force=True)
        send(page)
        expect(page.locator("#refusal")).to_have_text(SV["contact_bot"])
        assert counts(database) == stored

        # A wrong number: named beside the field and in the summary, reachable by its link.
        fill_in(page, base_url, "040 12")
        send(page)
        expect(page.locator("#number-error")).to_have_text(SV["contact_number_invalid"])
        assert accessibility_problems(page) == []
        assert counts(database) == stored

        # Three so far from this address; seven more are taken, the eleventh is not.
        for n in range(7):
            fill_in(page, base_url, f"040 555 00{n:02d}")
            send(page)
            expect(page.locator("#promised")).to_be_visible()
        stored = counts(database)
        fill_in(page, base_url, "040 555 0099")
        send(page)
        expect(page.locator("#refusal")).to_have_text(
            SV["contact_too_many_from_address"].format(number=config.line.number)
        )
        assert counts(database) == stored == {"requests": 8, "events": 9}
        # The browser's only complaints are the refusals' statuses; nothing went elsewhere.
        refusals = "Failed to load resource: the server responded with a status of 4"
        assert [e for e in resident.errors if not e.startswith(refusals)] == []
        assert len(resident.errors) == 4 and resident.elsewhere == []

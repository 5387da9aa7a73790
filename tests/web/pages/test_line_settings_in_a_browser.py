"""The line's live settings in Debian's Chromium: an admin closes the line by keyboard, is
told beside the field why a closure that ends before it starts is refused, switches an
emergency message on (the board notices it) and off; every page axe-clean, under the
app's own Content-Security-Policy, asking nothing of any other host."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.store.session import Database
from callflow.web.app import create_app
from tests.web.browser import chromium, served, visit
from tests.web.pages.browsing import person
from tests.web.pages.test_pages_in_a_browser import accessibility_problems, sign_in

pytestmark = pytest.mark.slow  # a browser of its own


def test_an_admin_closes_the_line_and_sets_an_emergency_message_by_keyboard(
    config: HotlineConfig, database: Database, clock: FakeClock
) -> None:
    person(database, "pirjo", admin=True, supervisor=True)
    app = create_app(config, database, clock=clock)
    with (
        served(app, live=True) as base_url,
        chromium() as browser,
        visit(browser, base_url) as admin,
    ):
        page = admin.page
        sign_in(page, base_url, "pirjo")
        page.goto(f"{base_url}/admin")
        page.get_by_role("link", name="The line").click()
        expect(page.locator("h1")).to_have_text("Calendar")
        assert accessibility_problems(page) == []

        # A closure ending before it starts: refused, the reason tied to the field.
        section = page.get_by_role("region", name="Close for a time")
        section.get_by_label("From").fill("2026-01-12T12:00")
        section.get_by_label("To").fill("2026-01-12T11:00")
        section.get_by_label("Reason").fill("Staff meeting")
        section.get_by_label("Reason").press("Enter")
        end = section.get_by_label("To")
        expect(end).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#close-end-problem")).to_have_text("'end' must be after 'start'")
        expect(page.locator("#close-problems")).to_contain_text("Nothing was changed")
        assert accessibility_problems(page) == []

        # Corrected by keyboard alone.
        end.focus()
        page.keyboard.press("Control+a")
        end.fill("2026-01-12T13:00")
        page.keyboard.press("Tab")  # the reason, as typed
        page.keyboard.press("Enter")
        expect(page.locator(".notice")).to_contain_text("Closed")
        expect(page.locator("#day-2026-01-12")).to_contain_text("09:00–12:00, 13:00–15:00")
        expect(page.locator("#day-2026-01-12")).to_contain_text("stored by pirjo")
        assert accessibility_problems(page) == []

        # An emergency message for the whole line, on at once.
        page.get_by_role("navigation", name="The line").get_by_role(
            "link", name="Emergency messages"
        ).click()
        assert accessibility_problems(page) == []
        line = page.get_by_role("region", name="the whole line")
        line.get_by_label("Text in suomi").fill("Järjestelmässä on häiriö.")
        line.get_by_label("Text in svenska").fill("Det finns en störning i systemet.")
        line.get_by_label("Text in English").fill("The system is down.")
        line.get_by_label("After the message").select_option("callbacks_only")
        line.get_by_role("button", name="Switch on").click()
        expect(page.locator(".notice")).to_contain_text("saved")
        expect(page.locator("#emergency-line-state")).to_contain_text("In force now")
        expect(page.locator("#emergency-notice")).to_contain_text("the whole line")
        assert accessibility_problems(page) == []
        page.goto(f"{base_url}/board")
        expect(page.locator("#emergency-notice")).to_contain_text("Emergency message in force")

        page.goto(f"{base_url}/admin/line/emergency")
        page.get_by_role("button", name="Switch off: the whole line").click()
        expect(page.locator("#emergency-line-state")).to_contain_text("Off")
        expect(page.locator("#emergency-notice")).to_have_count(0)

        for path in ("queues", "prompts", "history"):
            page.goto(f"{base_url}/admin/line/{path}")
            assert accessibility_problems(page) == [], path
        expect(page.locator("#history")).to_contain_text("emergency.line")
        assert admin.elsewhere == []
        [refusal] = admin.errors  # the refused closure's answer, and nothing else
        assert "status of 422" in refusal

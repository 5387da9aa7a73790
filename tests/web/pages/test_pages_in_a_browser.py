"""The pages as people use them: in Debian's Chromium, against the app served over HTTP,
with the live feed running and the store changed as the line and its workers change it.

Screenshots of the desk, the board and the admin page land in ``$CALLFLOW_SCREENSHOTS``
(else the test's temporary folder): looked at, not committed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.store.advisors import set_advisor_state
from callflow.store.attempts import mark_dialled
from callflow.store.claims import claim_next_callback
from callflow.store.models import Advisor, AdvisorState
from callflow.store.session import Database
from callflow.web.app import create_app
from tests.store.helpers import T0, add_callback
from tests.web.browser import chromium, served, visit
from tests.web.pages.browsing import PASSWORD, person

pytestmark = pytest.mark.slow  # a browser of its own

NUMBER = "+358401234567"
LIVE = 1_000
"""The pages' promise: a change in the store is on the page within a second (ms)."""
SERIOUS = ("serious", "critical")


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CALLFLOW_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(
    page: Page, base_url: str, name: str, password: str = PASSWORD, next_path: str = "/"
) -> None:
    page.goto(f"{base_url}/sign-in?next={next_path}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it stands."""
    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in SERIOUS
    ]


def callbacks_open(page: Page, queue: str) -> Locator:
    """The board's figure of open callback requests in *queue*."""
    card = page.locator(f"#queue-{queue}")
    return card.locator("dt", has_text="Open").locator("xpath=following-sibling::dd[1]")


@pytest.fixture
def people(database: Database) -> Iterator[None]:
    person(database, "pirjo", admin=True)
    person(database, "bert", skills=("nurse",), languages=("fi",))
    yield


def test_an_advisor_added_on_the_admin_page_works_a_callback_live(
    config: HotlineConfig,
    database: Database,
    clock: FakeClock,
    people: None,
    screenshots: Path,
) -> None:
    app = create_app(config, database, clock=clock)
    with (
        served(app, live=True) as base_url,
        chromium() as browser,
        visit(browser, base_url) as admin,
        visit(browser, base_url) as aino,
        visit(browser, base_url) as bert,
    ):
        # The admin adds Aino and gets her one-time link.
        sign_in(admin.page, base_url, "pirjo")
        admin.page.goto(f"{base_url}/admin")
        assert accessibility_problems(admin.page) == []
        admin.page.get_by_label("User name").fill("aino")
        admin.page.locator("input[name=skills][value=nurse]").check()
        admin.page.locator("input[name=languages][value=fi]").check()
        admin.page.get_by_role("button", name="Add").click()
        link = admin.page.locator("#password-link").inner_text()
        admin.page.screenshot(path=screenshots / "admin.png", full_page=True)
        admin.page.get_by_role("link", name="aino").click()
        assert accessibility_problems(admin.page) == []
        admin.page.goto(f"{base_url}/admin/callback-requests")
        assert accessibility_problems(admin.page) == []

        # Aino sets her password through it, signs in and becomes available.
        aino.page.goto(base_url + urlsplit(link).path)
        aino.page.get_by_label("New password").fill("aino's own passphrase")
        aino.page.get_by_role("button", name="Set your password").click()
        sign_in(aino.page, base_url, "aino", "aino's own passphrase")
        expect(aino.page).to_have_url(f"{base_url}/desk")  # an advisor starts at the desk
        assert accessibility_problems(aino.page) == []
        aino.page.get_by_role("button", name="Available", exact=True).click()
        expect(aino.page.locator("#desk-state-now")).to_contain_text("Free")

        sign_in(bert.page, base_url, "bert")
        bert.page.goto(f"{base_url}/desk")
        bert.page.get_by_role("button", name="Available", exact=True).click()

        admin.page.goto(f"{base_url}/board")
        assert accessibility_problems(admin.page) == []
        expect(callbacks_open(admin.page, "health")).to_have_text("0")

        # A resident's callback is stored and the worker gives it to Aino: her desk shows it,
        # the board counts it, neither reloaded.
        with database.transaction() as session:
            aino_id = session.query(Advisor.id).filter(Advisor.name == "aino").scalar()
            callback_id = add_callback(session, NUMBER, topic="health", language="fi")
            claimed = claim_next_callback(
                session, aino_id, T0, owner="worker", lease=timedelta(minutes=2)
            )
            assert claimed is not None and claimed.callback_id == callback_id
            mark_dialled(session, callback_id, claimed.attempt_no, T0, owner="worker")
        expect(aino.page.locator("#resident-number")).to_have_text(NUMBER, timeout=LIVE)
        expect(aino.page.locator("#desk-state-now")).to_contain_text("Talking", timeout=LIVE)
        expect(callbacks_open(admin.page, "health")).to_have_text("1", timeout=LIVE)
        aino.page.screenshot(path=screenshots / "desk.png", full_page=True)
        admin.page.screenshot(path=screenshots / "board.png", full_page=True)
        assert NUMBER not in bert.page.content()
        assert NUMBER not in admin.page.content()

        # She records the outcome by keyboard alone, and is ready for the next.
        aino.page.locator("#result-reached").focus()
        keyboard = aino.page.keyboard
        keyboard.press("Space")
        keyboard.press("Tab")  # past the results (one tab stop) to the reason for contact
        keyboard.press("ArrowDown")
        keyboard.press("Tab")  # the referral
        keyboard.press("Tab")  # the resolution
        keyboard.press("Tab")  # the note
        keyboard.type("asked to be called on +358 40 765 4321")
        keyboard.press("Tab")
        keyboard.press("Enter")
        expect(aino.page.locator(".notice")).to_contain_text("Recorded")
        expect(aino.page.locator("#ready-next")).to_be_visible()
        expect(callbacks_open(admin.page, "health")).to_have_text("0", timeout=LIVE)
        assert aino.page.locator("#desk-today").inner_text().count("Reached") == 1
        assert NUMBER not in bert.page.content()
        admin.page.goto(f"{base_url}/admin/callback-requests/{callback_id}")
        assert accessibility_problems(admin.page) == []
        assert NUMBER not in admin.page.content()
        assert admin.elsewhere == aino.elsewhere == bert.elsewhere == []
        assert admin.errors == aino.errors == bert.errors == []


def test_sign_in_refusals_expiry_and_a_restart_as_a_browser_meets_them(
    config: HotlineConfig, database: Database, clock: FakeClock, people: None
) -> None:
    app = create_app(config, database, clock=clock)
    with (
        served(app, live=True) as base_url,
        chromium() as browser,
        visit(browser, base_url) as bert,
    ):
        page = bert.page
        page.goto(f"{base_url}/desk")  # signed out: to sign in, and back after it
        expect(page).to_have_url(f"{base_url}/sign-in?next=/desk")
        assert accessibility_problems(page) == []
        for _ in range(5):
            sign_in(page, base_url, "bert", "not his password")
        sign_in(page, base_url, "bert")  # the right one, during the lock: no
        expect(page.locator(".error")).to_contain_text("15 minutes")
        clock.advance(timedelta(minutes=15))
        sign_in(page, base_url, "bert")
        page.goto(f"{base_url}/desk")
        expect(page.locator("h1")).to_contain_text("bert")
        assert page.goto(f"{base_url}/admin").status == 403  # type: ignore[union-attr]
        forged = page.request.post(f"{base_url}/desk/state", form={"state": "available"})
        assert forged.status == 403
        page.goto(f"{base_url}/desk")
        expect(page.locator("#desk-state-now")).to_contain_text("Signed out of the line")
        page.get_by_role("button", name="Sign out of the page").click()
        expect(page.locator(".notice")).to_contain_text("signed out")
        page.goto(f"{base_url}/desk")
        expect(page).to_have_url(f"{base_url}/sign-in?next=/desk")

        # Left open two idle hours, the desk ends itself: its next word is "sign in".
        sign_in(page, base_url, "bert", next_path="/desk")
        expect(page.locator("#desk-state-now")).to_be_visible()
        clock.advance(timedelta(hours=2))
        with database.transaction() as session:
            add_callback(session, NUMBER)  # any change wakes the page
        expect(page.locator(".notice")).to_contain_text("session ended", timeout=LIVE * 3)
        assert "next=%2Fdesk" in page.url


def test_the_desk_comes_back_by_itself_after_the_server_restarts(
    config: HotlineConfig, database: Database, clock: FakeClock, people: None
) -> None:
    with chromium() as browser:
        with served(create_app(config, database, clock=clock), live=True) as base_url:
            port = int(base_url.rsplit(":", 1)[1])
            context = browser.new_context()
            page = context.new_page()
            sign_in(page, base_url, "bert")
            expect(page.locator("#desk-state-now")).to_contain_text("Signed out of the line")
        # The server is gone: the page says its updates paused, and waits.
        expect(page.locator("#live-lost")).to_be_visible(timeout=LIVE * 5)
        with served(create_app(config, database, clock=clock), live=True, port=port):
            with database.transaction() as session:
                bert = session.query(Advisor).filter(Advisor.name == "bert").one()
                bert.state_since = clock.now()
            expect(page.locator("#live-lost")).to_be_hidden(timeout=LIVE * 5)
            with database.transaction() as session:
                set_advisor_state(session, bert.id, AdvisorState.AVAILABLE, clock.now())
            expect(page.locator("#desk-state-now")).to_contain_text("Free", timeout=LIVE)
        context.close()

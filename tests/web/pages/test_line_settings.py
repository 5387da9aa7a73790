"""The line's live settings as an admin changes them on the pages, on both databases: the
line closed for an hour from now and seen in the calendar, special hours, an emergency
message switched on (and noticed on the admin pages and the board) and off, a queue's
threshold and a prompt changed, a change undone, the file read again. A form that would
break a rule is shown again with the reason beside its field (422) and nothing is stored;
only admins get in, and no form works without its CSRF token."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from html import unescape

import httpx
import pytest
from fastapi import FastAPI

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.service.rules import LineRules
from callflow.store.line_settings import history
from callflow.store.session import Database
from callflow.web import WebContext
from callflow.web.app import create_app
from callflow.web.pages.text import TEXT
from tests.store.helpers import T0
from tests.web.pages.browsing import Visitor, person
from tests.web.pages.test_admin import send, signed_in, text_of

pytestmark = pytest.mark.slow_on_postgresql

EN = TEXT["en"]
LINE = "/admin/line"
TEXTS = {
    "text-fi": "Terveysaseman järjestelmässä on häiriö.",
    "text-sv": "Det finns en störning i hälsostationens system.",
    "text-en": "The health centre's system is down.",
}


@pytest.fixture
def app(config: HotlineConfig, database: Database, clock: FakeClock) -> FastAPI:
    return create_app(config, database, clock=clock)


@pytest.fixture
def aino(app: FastAPI, database: Database) -> Visitor:
    """Admin Aino, signed in, reading English."""
    person(database, "Aino", admin=True)
    return signed_in(app, "Aino")


def rules_of(app: FastAPI) -> LineRules:
    context: WebContext = app.state.context
    return context.rules


def changes(database: Database) -> int:
    with database.reading() as session:
        return len(history(session, limit=1000))


def day_row(page: httpx.Response, day: str) -> str:
    """The calendar's row of *day* as text, tags removed."""
    found = re.search(rf'<tr id="day-{day}">(.*?)</tr>', page.text, re.S)
    assert found is not None, f"no row for {day}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def beside(page: httpx.Response, field_id: str) -> str:
    """The problem shown beside the field *field_id*, which must point to it."""
    field = re.search(rf'<(?:input|textarea|select) id="{field_id}"[^>]*>', page.text)
    assert field is not None, f"no field #{field_id}"
    assert re.search(rf'aria-describedby="[^"]*\b{field_id}-problem"', field.group(0))
    assert 'aria-invalid="true"' in field.group(0)
    found = re.search(rf'<p class="field-problem" id="{field_id}-problem">(.*?)</p>', page.text)
    assert found is not None
    return unescape(found.group(1))


def post(visitor: Visitor, page_url: str, action: str, fields: Mapping[str, str]) -> httpx.Response:
    return send(visitor, page_url, action, dict(fields))


# -- the calendar ------------------------------------------------------------------------


def test_the_admin_closes_the_line_for_an_hour_from_now_and_sees_it_in_the_calendar(
    app: FastAPI, config: HotlineConfig, database: Database, aino: Visitor
) -> None:
    before = aino.get(LINE)
    assert before.status_code == 200
    assert day_row(before, "2026-01-12") == "Mon 2026-01-12 09:00–15:00"

    closed = post(aino, LINE, f"{LINE}/closures/now", {"minutes": "60", "reason": "Staff meeting"})

    assert (closed.status_code, closed.headers["location"]) == (303, f"{LINE}?done=closed")
    shown = aino.get(closed.headers["location"])
    assert EN["line_done_closed"] in text_of(shown)
    assert day_row(shown, "2026-01-12") == (
        "Mon 2026-01-12 09:00–10:00, 11:00–15:00 "
        "Closed 2026-01-12 10:00–11:00: Staff meeting (stored by Aino, 2026-01-12 10:00)"
    )
    assert not rules_of(app).calendar.is_open(T0)
    assert not LineRules.load(config, database).calendar.is_open(T0)  # any other process


def test_a_closure_from_a_time_to_a_time_and_its_removal(app: FastAPI, aino: Visitor) -> None:
    fields = {"start": "2026-01-13T12:00", "end": "2026-01-13T15:00", "reason": "Training"}

    closed = post(aino, LINE, f"{LINE}/closures", fields)

    assert closed.status_code == 303
    page = aino.get(LINE)
    assert day_row(page, "2026-01-13").startswith("Tue 2026-01-13 09:00–12:00 Closed")
    key = "calendar.closures.2026-01-13T12:00"
    assert f'name="key" value="{key}"' in page.text

    removed = post(aino, LINE, f"{LINE}/remove", {"key": key})

    assert (removed.status_code, removed.headers["location"]) == (303, f"{LINE}?done=removed")
    assert day_row(aino.get(LINE), "2026-01-13") == "Tue 2026-01-13 09:00–15:00"
    assert rules_of(app).current.settings == {}


def test_a_closure_ending_before_it_starts_is_refused_beside_the_field(
    app: FastAPI, database: Database, aino: Visitor
) -> None:
    fields = {"start": "2026-01-12T12:00", "end": "2026-01-12T11:00", "reason": "Oops"}

    refused = post(aino, LINE, f"{LINE}/closures", fields)

    assert refused.status_code == 422
    assert EN["line_refused"] in text_of(refused)
    assert beside(refused, "close-end") == "'end' must be after 'start'"
    assert 'value="2026-01-12T11:00"' in refused.text  # the form as typed
    assert changes(database) == 0
    assert rules_of(app).calendar.is_open(T0 + timedelta(hours=2, minutes=30))


def test_a_closure_without_its_times_is_asked_for_them(database: Database, aino: Visitor) -> None:
    refused = post(aino, LINE, f"{LINE}/closures", {"start": "", "end": "soon", "reason": "x"})

    assert refused.status_code == 422
    assert beside(refused, "close-start") == EN["line_need_time"]
    assert beside(refused, "close-end") == EN["line_need_time"]
    assert changes(database) == 0


def test_special_hours_and_a_day_closed_by_them(app: FastAPI, aino: Visitor) -> None:
    short = post(
        aino,
        LINE,
        f"{LINE}/special-hours",
        {"date": "2026-01-13", "hours": "09:00-12:00", "reason": "Training day"},
    )
    closed = post(
        aino,
        LINE,
        f"{LINE}/special-hours",
        {"date": "2026-01-14", "hours": "", "closed": "yes", "reason": "Moving"},
    )

    assert (short.status_code, closed.status_code) == (303, 303)
    page = aino.get(LINE)
    assert day_row(page, "2026-01-13").startswith(
        "Tue 2026-01-13 09:00–12:00 Special hours 2026-01-13 09:00-12:00: Training day"
    )
    assert day_row(page, "2026-01-14").startswith(
        "Wed 2026-01-14 closed Closed all day 2026-01-14: Moving"
    )


def test_special_hours_breaking_a_promise_are_refused_with_the_reason(
    database: Database, aino: Visitor
) -> None:
    refused = post(
        aino,
        LINE,
        f"{LINE}/special-hours",
        {"date": "2026-01-13", "hours": "09:00-09:10", "reason": "Short"},
    )

    assert refused.status_code == 422
    assert "queue health's promise" in beside(refused, "special-hours")
    assert changes(database) == 0


def test_the_files_own_closures_are_shown_as_the_files(
    app: FastAPI, database: Database, clock: FakeClock
) -> None:
    clock.advance(timedelta(days=392))  # Monday 2027-02-08
    person(database, "Aino", admin=True)
    page = signed_in(app, "Aino").get(LINE)
    assert day_row(page, "2027-02-10") == (
        "Wed 2027-02-10 09:00–12:00 "
        "Closed 2027-02-10 12:00–15:00: Henkilöstön koulutus (from the file)"
    )
    assert EN["line_no_stored_exceptions"] in text_of(page)


def test_holidays_are_named_in_the_calendar(
    app: FastAPI, database: Database, clock: FakeClock
) -> None:
    clock.advance(timedelta(days=354))  # Friday 2027-01-01
    person(database, "Aino", admin=True)
    page = signed_in(app, "Aino").get(LINE)
    assert day_row(page, "2027-01-06") == "Wed 2027-01-06 closed Public holiday: Epiphany"


def test_a_nul_character_is_refused_before_the_store(database: Database, aino: Visitor) -> None:
    refused = post(aino, LINE, f"{LINE}/closures/now", {"minutes": "30", "reason": "a\x00b"})

    assert refused.status_code == 422
    assert "the NUL character is not allowed" in text_of(refused)
    assert changes(database) == 0


# -- emergency messages ------------------------------------------------------------------


def test_an_emergency_message_on_is_noticed_on_every_admin_page_then_off(
    app: FastAPI, aino: Visitor
) -> None:
    page = f"{LINE}/emergency"

    on = post(aino, page, f"{page}/line", {**TEXTS, "mode": "close", "start": "2026-01-12T10:00"})

    assert (on.status_code, on.headers["location"]) == (303, f"{page}?done=emergency_on")
    message = rules_of(app).config.emergency["line"]
    assert (message.mode, message.after_hours_offer, message.end) == ("close", False, None)
    shown = aino.get(page)
    state = re.search(r'id="emergency-line-state">(.*?)</p>', shown.text, re.S)
    assert state is not None and EN["line_state_on"] in state.group(1)
    notice = EN["emergency_in_force"].format(scopes=EN["line_scope_line"])
    assert notice in text_of(aino.get("/admin")) and notice in text_of(aino.get("/board"))

    off = post(aino, page, f"{page}/line/off", {})

    assert off.status_code == 303
    assert rules_of(app).config.emergency == {}
    assert notice not in text_of(aino.get("/admin"))


def test_an_emergency_message_missing_a_language_is_refused_beside_that_text(
    app: FastAPI, database: Database, aino: Visitor
) -> None:
    page = f"{LINE}/emergency"
    fields = {
        **TEXTS,
        "text-sv": " ",
        "mode": "serve",
        "after_hours_offer": "yes",
        "start": "2026-01-12T10:00",
    }

    refused = post(aino, page, f"{page}/health", fields)

    assert refused.status_code == 422
    reason = "the message must be said in every language of the line"
    assert beside(refused, "emergency-health-text-sv") == reason
    assert changes(database) == 0


# -- queues and prompts ------------------------------------------------------------------


def test_a_queue_threshold_is_changed_and_put_back_to_the_files(
    app: FastAPI, aino: Visitor
) -> None:
    page = f"{LINE}/queues"

    changed = post(aino, page, f"{page}/health", {"name": "overflow.queue_length", "value": "5"})

    assert changed.status_code == 303
    assert rules_of(app).config.queues["health"].overflow.queue_length == 5
    shown = aino.get(page)
    assert re.search(r'id="queue-health-overflow-queue_length-now">5<', shown.text)
    assert "stored by Aino" in text_of(shown)

    back = post(aino, page, f"{page}/health/reset", {"name": "overflow.queue_length"})

    assert back.status_code == 303
    assert rules_of(app).config.queues["health"].overflow.queue_length == 3


def test_a_bad_threshold_is_refused_beside_its_field(database: Database, aino: Visitor) -> None:
    page = f"{LINE}/queues"

    refused = post(
        aino, page, f"{page}/social", {"name": "overflow.estimated_wait", "value": "soon"}
    )

    assert refused.status_code == 422
    assert "is not a duration" in beside(refused, "queue-social-overflow-estimated_wait-value")
    assert changes(database) == 0


def test_a_prompt_is_reworded(app: FastAPI, aino: Visitor) -> None:
    page = f"{LINE}/prompts?language=en"
    assert "callflow prompts build" in text_of(aino.get(page))

    changed = post(
        aino,
        page,
        f"{LINE}/prompts/en",
        {"prompt": "greeting", "text": "Welcome to the advice line."},
    )

    assert changed.headers["location"] == f"{page}&done=saved"
    assert rules_of(app).config.languages["en"].prompts["greeting"] == (
        "Welcome to the advice line."
    )
    assert aino.get(f"{LINE}/prompts?language=xx").status_code == 404


# -- history and reload ------------------------------------------------------------------


def test_a_change_is_undone_from_the_history(app: FastAPI, clock: FakeClock, aino: Visitor) -> None:
    post(
        aino,
        f"{LINE}/queues",
        f"{LINE}/queues/health",
        {"name": "closing_policy", "value": "serve"},
    )
    clock.advance(timedelta(minutes=3))
    page = aino.get(f"{LINE}/history")
    assert re.search(
        r'id="change-1">.*?2026-01-12 10:00.*?Aino.*?queues\.health\.closing_policy',
        page.text,
        re.S,
    )

    undone = post(aino, f"{LINE}/history", f"{LINE}/history/1/undo", {})

    assert undone.headers["location"] == f"{LINE}/history?done=undone"
    assert rules_of(app).config.queues["health"].closing_policy == "callback"
    again = aino.get(f"{LINE}/history")
    assert "undoes 1" in text_of(again)
    assert "2026-01-12 10:03" in again.text


def test_undoing_an_unknown_change_says_so(aino: Visitor) -> None:
    refused = post(aino, f"{LINE}/history", f"{LINE}/history/42/undo", {})
    assert refused.status_code == 404
    assert "no change 42 to undo" in text_of(refused)


def test_the_file_is_read_again_on_request(database: Database, aino: Visitor) -> None:
    asked = post(aino, LINE, f"{LINE}/reload", {})

    assert asked.headers["location"] == f"{LINE}?done=reload_asked"
    assert EN["line_reload_asked"] in text_of(aino.get(f"{LINE}/history"))
    assert changes(database) == 1


# -- who may ------------------------------------------------------------------------------

PAGES = [LINE, f"{LINE}/emergency", f"{LINE}/queues", f"{LINE}/prompts", f"{LINE}/history"]
FORMS = [
    (f"{LINE}/closures/now", {"minutes": "60", "reason": "x"}),
    (f"{LINE}/emergency/line", {**TEXTS, "start": "2026-01-12T10:00"}),
    (f"{LINE}/queues/health", {"name": "closing_policy", "value": "serve"}),
    (f"{LINE}/reload", {}),
]


@pytest.mark.parametrize("path", PAGES)
def test_only_an_admin_sees_the_pages(app: FastAPI, database: Database, path: str) -> None:
    person(database, "Bea")
    refused = signed_in(app, "Bea").get(path)
    assert refused.status_code == 403 and EN["forbidden"] in text_of(refused)
    assert Visitor(app).get(path).headers["location"] == f"/sign-in?next={path}"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        (f"{LINE}/queues/dental", {"name": "closing_policy", "value": "serve"}),
        (f"{LINE}/queues/health", {"name": "digit", "value": "7"}),
        (f"{LINE}/emergency/dental", TEXTS),
        (f"{LINE}/prompts/xx", {"prompt": "greeting", "text": "Hi"}),
        (f"{LINE}/prompts/en/reset", {"prompt": "emergency_line"}),
    ],
)
def test_a_form_for_what_the_line_does_not_have_is_a_page_saying_so(
    database: Database, aino: Visitor, path: str, fields: dict[str, str]
) -> None:
    answer = post(aino, LINE, path, fields)

    assert answer.status_code == 404
    assert EN["bad_address"] in text_of(answer)
    assert changes(database) == 0


@pytest.mark.parametrize(("path", "fields"), FORMS)
def test_a_form_without_its_csrf_token_changes_nothing(
    database: Database, aino: Visitor, path: str, fields: dict[str, str]
) -> None:
    without = aino.post(path, data=fields)
    forged = aino.post(path, data={**fields, "csrf": "not-the-token"})

    assert without.status_code == forged.status_code == 403
    assert changes(database) == 0

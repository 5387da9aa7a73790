"""The admin API's live settings on both databases: a closure, special hours, an emergency
message and a queue's threshold are in force the moment they are answered (in this app,
and in the store another process reads); a change that breaks a rule is 422 naming the
key and the reason, and stores nothing; any change can be undone; only admins get in."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from callflow.config.load import load_config
from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.service.rules import LineRules
from callflow.store.line_settings import history
from callflow.store.session import Database
from callflow.web import WebContext
from callflow.web.app import create_app
from tests.conftest import EXAMPLE_CONFIG
from tests.store.helpers import T0
from tests.web.conftest import Api, Someone

pytestmark = pytest.mark.slow_on_postgresql

MEETING = {"start": "2026-01-12T10:00", "end": "2026-01-12T11:00", "reason": "Staff meeting"}
"""From T0 (Monday 10:00 in Helsinki) for an hour."""
MEETING_KEY = "calendar.closures.2026-01-12T10:00"
TEXTS = {
    "fi": "Terveysaseman järjestelmässä on häiriö.",
    "sv": "Det finns en störning i hälsostationens system.",
    "en": "The health centre's system is down.",
}


@pytest.fixture
def app(config: HotlineConfig, database: Database, clock: FakeClock) -> FastAPI:
    return create_app(config, database, clock=clock)


@pytest.fixture
def api(app: FastAPI) -> Api:
    return Api(app)


def rules_of(app: FastAPI) -> LineRules:
    context: WebContext = app.state.context
    return context.rules


def stored_elsewhere(config: HotlineConfig, database: Database) -> LineRules:
    """The rules another process reads from the same file and store."""
    return LineRules.load(config, database)


def changes(database: Database) -> int:
    with database.reading() as session:
        return len(history(session, limit=1000))


def refused(answer: Any) -> list[tuple[str, str]]:
    """A 422 refusal's problems, as (key, reason)."""
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "setting-refused"
    return [(problem["key"], problem["reason"]) for problem in body["problems"]]


# -- the calendar ------------------------------------------------------------------------


def test_a_closure_from_now_closes_the_line_here_and_for_every_process(
    app: FastAPI, api: Api, config: HotlineConfig, database: Database, admin: Someone
) -> None:
    assert rules_of(app).calendar.is_open(T0)

    answer = api.post("/admin/calendar/closures", headers=admin.auth, json=MEETING)

    assert answer.status_code == 201, answer.text
    change = answer.json()
    assert (change["key"], change["by"], change["old"]) == (MEETING_KEY, "Aino", None)
    assert change["new"] == {
        "start": "2026-01-12T10:00:00",
        "end": "2026-01-12T11:00:00",
        "reason": "Staff meeting",
    }
    assert not rules_of(app).calendar.is_open(T0)
    assert rules_of(app).calendar.is_open(T0 + timedelta(hours=1))
    assert not stored_elsewhere(config, database).calendar.is_open(T0)

    listed = api.get("/admin/settings", headers=admin.auth, params={"key": "calendar.closures"})
    by_key = {(s["key"], s["source"]): s for s in listed.json()}
    mine = by_key[(MEETING_KEY, "stored")]
    assert (mine["change_id"], mine["by"]) == (change["id"], "Aino")
    assert by_key[("calendar.closures.2026-12-24", "file")]["value"] == {
        "date": "2026-12-24",
        "reason": "Jouluaatto",
    }
    special = api.get(
        "/admin/settings", headers=admin.auth, params={"key": "calendar.special_hours.2026-12-31"}
    ).json()
    assert [(s["value"], s["source"]) for s in special] == [
        ({"hours": ["09:00-12:00"], "reason": "Uudenvuodenaatto"}, "file")
    ]


def test_a_whole_day_closure_and_special_hours(app: FastAPI, api: Api, admin: Someone) -> None:
    closed = api.post(
        "/admin/calendar/closures",
        headers=admin.auth,
        json={"date": "2026-01-14", "reason": "Moving house"},
    )
    short = api.post(
        "/admin/calendar/special-hours",
        headers=admin.auth,
        json={"date": "2026-01-13", "hours": ["09:00-13:00"], "reason": "Training"},
    )

    assert (closed.status_code, short.status_code) == (201, 201)
    assert short.json()["key"] == "calendar.special_hours.2026-01-13"
    calendar = rules_of(app).calendar
    tuesday, wednesday = T0 + timedelta(days=1), T0 + timedelta(days=2)
    assert [calendar.local(span.end).hour for span in calendar.day(tuesday.date()).spans] == [13]
    assert calendar.day(wednesday.date()).spans == ()


def test_a_closure_ending_before_it_starts_is_refused_naming_the_key(
    app: FastAPI, api: Api, database: Database, admin: Someone
) -> None:
    before = changes(database)

    answer = api.post(
        "/admin/calendar/closures",
        headers=admin.auth,
        json={**MEETING, "end": "2026-01-12T09:00"},
    )

    assert refused(answer) == [(MEETING_KEY, "'end' must be after 'start'")]
    assert answer.json()["problems"][0]["value"] is not None
    assert changes(database) == before
    assert rules_of(app).calendar.is_open(T0)


def test_special_hours_breaking_a_promise_are_refused_with_the_reason(
    api: Api, database: Database, admin: Someone
) -> None:
    before = changes(database)

    answer = api.post(
        "/admin/calendar/special-hours",
        headers=admin.auth,
        json={"date": "2026-01-13", "hours": ["09:00-09:10"], "reason": "Ten minutes"},
    )

    problems = refused(answer)
    assert {key for key, _ in problems} == {"calendar.special_hours.2026-01-13.hours"}
    assert any("queue health's promise" in reason for _, reason in problems)
    assert changes(database) == before


def test_a_malformed_closure_is_422_saying_what_to_give(api: Api, admin: Someone) -> None:
    neither = api.post("/admin/calendar/closures", headers=admin.auth, json={"reason": "x"})
    unknown = api.post("/admin/calendar/closures", headers=admin.auth, json={**MEETING, "to": 1})

    assert neither.status_code == 422
    assert neither.json()["error"] == "invalid-request"
    assert "give 'start' and 'end'" in neither.json()["detail"]
    assert unknown.status_code == 422
    assert "unknown field 'to'" in unknown.json()["detail"]


# -- queues ------------------------------------------------------------------------------


def test_a_queue_threshold_is_changed_then_back_to_the_files(
    app: FastAPI, api: Api, admin: Someone
) -> None:
    key = "queues.health.overflow.queue_length"

    changed = api.put(
        "/admin/queues/health/overflow.queue_length", headers=admin.auth, json={"value": 5}
    )

    assert changed.status_code == 200, changed.text
    assert rules_of(app).config.queues["health"].overflow.queue_length == 5
    listed = api.get("/admin/settings", headers=admin.auth, params={"key": key}).json()
    assert [(s["value"], s["source"], s["by"]) for s in listed] == [(5, "stored", "Aino")]

    removed = api.request("DELETE", f"/admin/settings/{key}", headers=admin.auth)

    assert removed.status_code == 200
    assert (removed.json()["old"], removed.json()["new"]) == (5, None)
    assert rules_of(app).config.queues["health"].overflow.queue_length == 3
    listed = api.get("/admin/settings", headers=admin.auth, params={"key": key}).json()
    assert [(s["value"], s["source"]) for s in listed] == [(3, "file")]
    again = api.request("DELETE", f"/admin/settings/{key}", headers=admin.auth)
    assert (again.status_code, again.json()["error"]) == (404, "setting-not-stored")


def test_a_setting_the_file_leaves_out_shows_its_default(api: Api, admin: Someone) -> None:
    key = "queues.social.callbacks.alternative_prompt"
    listed = api.get("/admin/settings", headers=admin.auth, params={"key": key}).json()
    assert [(s["value"], s["source"]) for s in listed] == [(None, "file")]


def test_an_unknown_queue_or_key_is_refused(api: Api, database: Database, admin: Someone) -> None:
    before = changes(database)

    queue = api.put(
        "/admin/queues/dental/closing_policy", headers=admin.auth, json={"value": "serve"}
    )
    key = api.put("/admin/queues/health/digit", headers=admin.auth, json={"value": 7})
    nowhere = api.put("/admin/settings/line.name", headers=admin.auth, json={"value": "X"})

    [(queue_key, queue_reason)] = refused(queue)
    assert queue_key == "queues.dental.closing_policy"
    assert queue_reason.startswith("unknown queue; queues are: health, other, social")
    [(_, key_reason)] = refused(key)
    assert "not set while the line runs" in key_reason
    [(_, nowhere_reason)] = refused(nowhere)
    assert "not a setting changed while the line runs" in nowhere_reason
    assert changes(database) == before


def test_a_prompt_is_changed_through_the_general_form(
    app: FastAPI, api: Api, admin: Someone
) -> None:
    answer = api.put(
        "/admin/settings/languages.en.prompts.greeting",
        headers=admin.auth,
        json={"value": "Welcome to the advice line."},
    )

    assert answer.status_code == 200
    assert rules_of(app).config.languages["en"].prompts["greeting"] == (
        "Welcome to the advice line."
    )


# -- emergency messages ------------------------------------------------------------------


def test_an_emergency_message_on_from_now_then_off(
    app: FastAPI, api: Api, config: HotlineConfig, database: Database, admin: Someone
) -> None:
    on = api.put(
        "/admin/emergency/line",
        headers=admin.auth,
        json={"texts": TEXTS, "mode": "callbacks_only", "after_hours_offer": False},
    )

    assert on.status_code == 200, on.text
    assert on.json()["new"]["start"] == "2026-01-12T10:00:00"  # now, in the line's time
    message = rules_of(app).config.emergency["line"]
    assert (message.mode, message.after_hours_offer) == ("callbacks_only", False)
    assert message.in_force(rules_of(app).calendar.local(T0).replace(tzinfo=None))
    assert rules_of(app).config.languages["sv"].prompts["emergency_line"] == TEXTS["sv"]
    assert "line" in stored_elsewhere(config, database).config.emergency

    off = api.request("DELETE", "/admin/emergency/line", headers=admin.auth)

    assert off.status_code == 200
    assert rules_of(app).config.emergency == {}


def test_an_emergency_message_missing_a_language_is_refused(
    app: FastAPI, api: Api, database: Database, admin: Someone
) -> None:
    before = changes(database)

    answer = api.put(
        "/admin/emergency/health",
        headers=admin.auth,
        json={"texts": {"fi": TEXTS["fi"]}, "start": "2026-01-12T12:00"},
    )

    assert sorted(refused(answer)) == [
        ("emergency.health.texts.en", "the message must be said in every language of the line"),
        ("emergency.health.texts.sv", "the message must be said in every language of the line"),
    ]
    assert changes(database) == before
    assert rules_of(app).config.emergency == {}


def test_a_text_with_a_nul_character_is_refused_before_the_store(
    api: Api, database: Database, admin: Someone
) -> None:
    answer = api.put(
        "/admin/emergency/line", headers=admin.auth, json={"texts": {**TEXTS, "fi": "a\u0000b"}}
    )
    assert answer.status_code == 422
    assert "NUL" in answer.json()["detail"]
    assert changes(database) == 0


# -- history, undo, reload ---------------------------------------------------------------


def test_every_change_is_in_the_history_and_any_can_be_undone(
    app: FastAPI, api: Api, admin: Someone, clock: FakeClock
) -> None:
    first = api.put(
        "/admin/queues/health/closing_policy", headers=admin.auth, json={"value": "serve"}
    ).json()
    clock.advance(timedelta(minutes=5))
    api.post("/admin/calendar/closures", headers=admin.auth, json=MEETING)

    undone = api.post(f"/admin/settings/history/{first['id']}/undo", headers=admin.auth)

    assert undone.status_code == 200, undone.text
    assert (undone.json()["undoes"], undone.json()["new"]) == (first["id"], None)
    assert rules_of(app).config.queues["health"].closing_policy == "callback"  # the file's
    listed = api.get("/admin/settings/history", headers=admin.auth).json()
    assert [c["key"] for c in listed] == [
        "queues.health.closing_policy",
        MEETING_KEY,
        "queues.health.closing_policy",
    ]
    assert listed[0]["at"] == (T0 + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    older = api.get(
        "/admin/settings/history",
        headers=admin.auth,
        params={"before": listed[0]["id"], "limit": 1},
    ).json()
    assert [c["key"] for c in older] == [MEETING_KEY]
    only = api.get(
        "/admin/settings/history", headers=admin.auth, params={"key": "calendar."}
    ).json()
    assert [c["key"] for c in only] == [MEETING_KEY]


def test_a_nul_character_in_a_history_filter_is_422(api: Api, admin: Someone) -> None:
    answer = api.get("/admin/settings/history", headers=admin.auth, params={"key": "a\x00"})
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid-request")


def test_undoing_an_unknown_change_is_404(api: Api, admin: Someone) -> None:
    answer = api.post("/admin/settings/history/99/undo", headers=admin.auth)
    assert (answer.status_code, answer.json()["error"]) == (404, "change-unknown")


def test_a_reload_is_asked_of_every_process_once_the_file_passes(
    config: HotlineConfig, database: Database, clock: FakeClock, admin: Someone, tmp_path: Path
) -> None:
    copy = tmp_path / "hotline.toml"
    shutil.copy(EXAMPLE_CONFIG, copy)
    api = Api(create_app(load_config(copy), database, clock=clock))

    asked = api.post("/admin/config/reload", headers=admin.auth)

    assert asked.status_code == 200, asked.text
    with database.reading() as session:
        (reload,) = history(session)
    assert (reload.id, reload.key, reload.by) == (asked.json()["change_id"], "file", "Aino")

    copy.write_text(copy.read_text().replace('closing_policy = "serve"', 'closing_policy = "x"'))
    broken = api.post("/admin/config/reload", headers=admin.auth)

    assert broken.status_code == 422
    assert broken.json()["error"] == "config-invalid"
    [problem] = broken.json()["problems"]
    assert problem["key"] == "queues.other.closing_policy"
    assert changes(database) == 1


def test_an_app_of_no_file_changes_nothing(
    config: HotlineConfig, database: Database, clock: FakeClock, admin: Someone
) -> None:
    api = Api(create_app(config.model_copy(update={"source": None}), database, clock=clock))

    answer = api.post("/admin/calendar/closures", headers=admin.auth, json=MEETING)

    assert (answer.status_code, answer.json()["error"]) == (409, "settings-fixed")
    assert changes(database) == 0


# -- who may ------------------------------------------------------------------------------

SETTINGS_CALLS = [
    ("GET", "/admin/settings", None),
    ("GET", "/admin/settings/history", None),
    ("PUT", "/admin/settings/queues.health.closing_policy", {"value": "serve"}),
    ("DELETE", "/admin/settings/queues.health.closing_policy", None),
    ("POST", "/admin/settings/history/1/undo", None),
    ("POST", "/admin/config/reload", None),
    ("POST", "/admin/calendar/closures", MEETING),
    ("POST", "/admin/calendar/special-hours", {"date": "2026-01-13", "hours": [], "reason": "x"}),
    ("PUT", "/admin/emergency/line", {"texts": TEXTS}),
    ("DELETE", "/admin/emergency/line", None),
    ("PUT", "/admin/queues/health/closing_policy", {"value": "serve"}),
]


@pytest.mark.parametrize(("method", "path", "body"), SETTINGS_CALLS)
def test_only_an_admin_changes_the_line(
    api: Api, database: Database, anna: Someone, method: str, path: str, body: object
) -> None:
    as_advisor = api.request(method, path, headers=anna.auth, json=body)
    anonymous = api.request(method, path, json=body)

    assert as_advisor.status_code == 403
    assert as_advisor.json()["error"] == "admin-only"
    assert anonymous.status_code == 401
    assert changes(database) == 0

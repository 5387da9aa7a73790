"""The admin API on both databases: only admins get in; advisors are added, changed,
disabled and given tokens; callback requests are listed (numbers masked), shown with
their history and cancelled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from callflow.engine.clock import FakeClock
from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.store.models import Advisor, AdvisorState, CallbackRequest, CallEvent
from callflow.store.session import Database
from tests.store.helpers import T0, add_callback, number
from tests.web.conftest import Api, Someone, assign, snapshot

pytestmark = pytest.mark.slow_on_postgresql

ADMIN_CALLS = [
    ("GET", "/admin/advisors", None),
    ("POST", "/admin/advisors", {"name": "Eve", "skills": ["nurse"], "languages": ["fi"]}),
    ("PUT", "/admin/advisors/{advisor}/skills", {"skills": ["social_counsellor"]}),
    ("POST", "/admin/advisors/{advisor}/disable", None),
    ("POST", "/admin/advisors/{advisor}/token", None),
    ("POST", "/admin/advisors/{advisor}/state", {"state": "break"}),
    ("GET", "/admin/callbacks", None),
    ("GET", "/admin/callbacks/{callback}", None),
    ("POST", "/admin/callbacks/{callback}/cancel", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_only_an_admin_gets_in(
    client: Api,
    database: Database,
    anna: Someone,
    method: str,
    path: str,
    body: object,
) -> None:
    with database.transaction() as session:
        callback_id = add_callback(session, number(1))
    url = path.format(advisor=anna.id, callback=callback_id)
    before = snapshot(database)

    as_advisor = client.request(method, url, headers=anna.auth, json=body)
    anonymous = client.request(method, url, json=body)

    assert as_advisor.status_code == 403
    assert as_advisor.json() == {"error": "admin-only", "detail": "only an admin can do this"}
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert snapshot(database) == before


# -- advisors -----------------------------------------------------------------------------


def test_an_added_advisor_gets_a_token_that_works(
    client: Api, database: Database, admin: Someone
) -> None:
    added = client.post(
        "/admin/advisors",
        headers=admin.auth,
        json={
            "name": " Cecilia ",
            "skills": ["social_counsellor", "nurse"],
            "languages": ["sv", "fi"],
            "dial_string": "PJSIP/cecilia",
        },
    )

    assert added.status_code == 201
    advisor = added.json()["advisor"]
    assert advisor["name"] == "Cecilia"
    assert (advisor["enabled"], advisor["admin"], advisor["state"]) == (True, False, "offline")
    assert advisor["dial_string"] == "PJSIP/cecilia"
    me = client.get("/advisor/me", headers={"Authorization": f"Bearer {added.json()['token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == advisor["id"]
    assert (me.json()["skills"], me.json()["languages"]) == (
        ["nurse", "social_counsellor"],
        ["fi", "sv"],
    )
    with database.reading() as session:
        stored = session.get(Advisor, advisor["id"])
        assert stored is not None
        assert stored.token_hash != added.json()["token"], "only the token's hash is kept"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"skills": ["nurse", "surgeon"]},
            "skills: 'surgeon' is not a skill on this line; "
            "use one of: nurse, social_counsellor, service_advisor",
        ),
        (
            {"languages": ["de"]},
            "languages: 'de' is not a language on this line; use one of: fi, sv, en",
        ),
        ({"skills": []}, "skills: list should have at least 1 item after validation"),
        ({"admin": "maybe"}, "admin: input should be a valid boolean"),
        ({"name": "  "}, "name: string should have at least 1 character"),
        ({"token": "mine"}, "unknown field 'token'; the fields are: name, skills, languages"),
    ],
)
def test_adding_an_advisor_wrongly_is_422_and_adds_nobody(
    client: Api, database: Database, admin: Someone, change: dict[str, object], expected: str
) -> None:
    body = {"name": "Eve", "skills": ["nurse"], "languages": ["fi"], **change}
    before = snapshot(database)
    answer = client.post("/admin/advisors", headers=admin.auth, json=body)
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid-request"
    assert expected in answer.json()["detail"]
    assert snapshot(database) == before


def test_a_taken_name_is_409(
    client: Api, database: Database, admin: Someone, anna: Someone
) -> None:
    before = snapshot(database)
    answer = client.post(
        "/admin/advisors",
        headers=admin.auth,
        json={"name": "Anna", "skills": ["nurse"], "languages": ["fi"]},
    )
    assert answer.status_code == 409
    assert answer.json()["error"] == "advisor-exists"
    assert snapshot(database) == before
    assert client.get("/advisor/me", headers=anna.auth).status_code == 200


def test_the_advisor_list(client: Api, admin: Someone, anna: Someone) -> None:
    listed = client.get("/admin/advisors", headers=admin.auth).json()
    assert [(a["name"], a["admin"], a["state"]) for a in listed] == [
        ("Aino", True, "offline"),
        ("Anna", False, "available"),
    ]


def test_skills_are_replaced_and_checked(
    client: Api, database: Database, admin: Someone, anna: Someone
) -> None:
    path = f"/admin/advisors/{anna.id}/skills"
    changed = client.put(path, headers=admin.auth, json={"skills": ["social_counsellor"]})
    assert changed.status_code == 200
    assert (changed.json()["skills"], changed.json()["languages"]) == (
        ["social_counsellor"],
        ["fi"],
    )
    both = client.put(path, headers=admin.auth, json={"skills": ["nurse"], "languages": ["en"]})
    assert (both.json()["skills"], both.json()["languages"]) == (["nurse"], ["en"])

    before = snapshot(database)
    wrong = client.put(path, headers=admin.auth, json={"skills": ["nurse"], "languages": ["xx"]})
    assert wrong.status_code == 422
    assert "languages: 'xx' is not a language on this line" in wrong.json()["detail"]
    nobody = client.put(
        "/admin/advisors/999/skills", headers=admin.auth, json={"skills": ["nurse"]}
    )
    assert nobody.status_code == 404
    assert nobody.json()["error"] == "advisor-unknown"
    assert snapshot(database) == before


def test_a_disabled_advisors_token_stops_working(
    client: Api, database: Database, admin: Someone, anna: Someone
) -> None:
    disabled = client.post(f"/admin/advisors/{anna.id}/disable", headers=admin.auth)
    assert disabled.status_code == 200
    assert (disabled.json()["enabled"], disabled.json()["state"]) == (False, "offline")

    refused = client.get("/advisor/me", headers=anna.auth)
    assert refused.status_code == 401
    assert refused.json()["error"] == "token-invalid"
    no_token = client.post(f"/admin/advisors/{anna.id}/token", headers=admin.auth)
    assert no_token.status_code == 409
    assert no_token.json()["error"] == "advisor-disabled"


def test_a_new_token_replaces_the_old(client: Api, admin: Someone, anna: Someone) -> None:
    issued = client.post(f"/admin/advisors/{anna.id}/token", headers=admin.auth)
    assert issued.status_code == 200
    assert issued.json()["advisor_id"] == anna.id
    assert client.get("/advisor/me", headers=anna.auth).status_code == 401
    fresh = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert client.get("/advisor/me", headers=fresh).json()["name"] == "Anna"


def test_an_admin_sets_an_advisors_state(
    client: Api, database: Database, clock: FakeClock, admin: Someone, anna: Someone
) -> None:
    clock.advance(timedelta(minutes=10))
    path = f"/admin/advisors/{anna.id}/state"
    on_break = client.post(path, headers=admin.auth, json={"state": "break"})
    assert on_break.status_code == 200
    assert (on_break.json()["state"], on_break.json()["state_since"]) == (
        "break",
        "2026-01-12T08:10:00Z",
    )
    busy = client.post(path, headers=admin.auth, json={"state": "busy"})
    assert busy.status_code == 422
    assert busy.json()["detail"] == (
        "state: 'busy' is not allowed; use 'available', 'break' or 'offline'"
    )
    client.post(path, headers=admin.auth, json={"state": "available"})
    assign(database, anna, number(1), at=clock.now())
    holding = client.post(path, headers=admin.auth, json={"state": "offline"})
    assert holding.status_code == 409
    assert holding.json()["error"] == "advisor-busy"
    with database.reading() as session:
        advisor = session.get(Advisor, anna.id)
        assert advisor is not None and advisor.state is AdvisorState.BUSY


# -- callback requests --------------------------------------------------------------------


def test_the_list_masks_numbers_and_filters(
    client: Api, database: Database, admin: Someone, anna: Someone
) -> None:
    held = assign(database, anna, number(1))
    with database.transaction() as session:
        waiting = add_callback(session, number(2), entered=T0 + timedelta(minutes=1))
        social = add_callback(session, number(3), topic="social", entered=T0)
        session.execute(
            update(CallbackRequest).where(CallbackRequest.id == social).values(at_risk_at=T0)
        )

    everything = client.get("/admin/callbacks", headers=admin.auth)

    assert everything.status_code == 200
    assert [c["id"] for c in everything.json()] == [held, social, waiting]
    assert [c["number_masked"] for c in everything.json()] == [
        "+*********001",
        "+*********003",
        "+*********002",
    ]
    assert all(number(i) not in everything.text for i in (1, 2, 3))
    assert everything.json()[0]["status"] == "in_progress"
    assert everything.json()[0]["advisor_id"] == anna.id

    def ids(query: str) -> list[int]:
        answer = client.get(f"/admin/callbacks?{query}", headers=admin.auth)
        assert answer.status_code == 200, answer.text
        return [c["id"] for c in answer.json()]

    assert ids("status=pending") == [social, waiting]
    assert ids("status=pending&status=in_progress&limit=1") == [held]
    assert ids("at_risk=true") == [social]
    assert ids("topic=health") == [held, waiting]
    assert ids("status=completed") == []

    for query, expected in [
        ("topic=dentist", "query parameter topic: 'dentist' is not a queue on this line"),
        ("status=done", "query parameter status[0]: 'done' is not allowed; use 'pending'"),
        ("limit=0", "query parameter limit: input should be greater than or equal to 1"),
    ]:
        answer = client.get(f"/admin/callbacks?{query}", headers=admin.auth)
        assert answer.status_code == 422
        assert expected in answer.json()["detail"]


def test_one_requests_history(
    client: Api, database: Database, clock: FakeClock, admin: Someone, anna: Someone
) -> None:
    callback_id = assign(database, anna, number(1))
    clock.advance(timedelta(minutes=1))
    client.post(
        f"/advisor/assignment/{callback_id}/outcome",
        headers=anna.auth,
        json={"result": "no_answer"},
    )

    shown = client.get(f"/admin/callbacks/{callback_id}", headers=admin.auth)

    assert shown.status_code == 200
    history = shown.json()
    assert history["request"]["status"] == "pending"
    assert history["request"]["number_masked"] == "+*********001"
    assert number(1) not in shown.text
    [tried] = history["attempts"]
    assert (tried["attempt_no"], tried["advisor_id"], tried["result"]) == (1, anna.id, "no_answer")
    assert tried["dialled_at"] == "2026-01-12T08:00:00Z"
    assert [event["kind"] for event in history["events"]] == [
        "callback.claimed",
        "callback.dialled",
        "callback.attempt_ended",
    ]
    unknown = client.get("/admin/callbacks/999", headers=admin.auth)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "callback-unknown"


def test_cancelling_a_request(
    client: Api, database: Database, clock: FakeClock, admin: Someone
) -> None:
    with database.transaction() as session:
        callback_id = add_callback(session, number(1))
    now = clock.advance(timedelta(minutes=7))
    path = f"/admin/callbacks/{callback_id}/cancel"

    cancelled = client.post(path, headers=admin.auth, json={"reason": "resident called in"})

    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["closed_reason"]) == (
        "cancelled",
        "resident called in",
    )
    with database.reading() as session:
        request = session.get(CallbackRequest, callback_id)
        assert request is not None
        assert (request.status, request.closed_at) == (CallbackStatus.CANCELLED, now)
        logged = session.scalars(
            select(CallEvent).where(CallEvent.kind == EventKind.CALLBACK_CANCELLED)
        ).one()
        assert (logged.callback_id, logged.at, logged.data) == (
            callback_id,
            now,
            {"by": "admin", "reason": "resident called in", "admin": "Aino"},
        )

    before = snapshot(database)
    again = client.post(path, headers=admin.auth)
    assert again.status_code == 409
    assert again.json() == {
        "error": "callback-closed",
        "detail": f"callback {callback_id} is already cancelled; "
        "only an open request can be cancelled, nothing changed",
    }
    assert client.post("/admin/callbacks/999/cancel", headers=admin.auth).status_code == 404
    assert snapshot(database) == before


def test_cancelling_a_request_being_called_ends_its_attempt(
    client: Api, database: Database, admin: Someone, anna: Someone
) -> None:
    callback_id = assign(database, anna, number(1))
    cancelled = client.post(f"/admin/callbacks/{callback_id}/cancel", headers=admin.auth)
    assert cancelled.status_code == 200
    assert (cancelled.json()["closed_reason"], cancelled.json()["advisor_id"]) == (
        "cancelled by an admin",
        None,
    )
    history = client.get(f"/admin/callbacks/{callback_id}", headers=admin.auth).json()
    assert history["attempts"][0]["result"] == "interrupted"
    assert client.get("/advisor/assignment", headers=anna.auth).json() == {"assignment": None}

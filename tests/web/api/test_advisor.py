"""The advisor API on both databases: who may do what, what a refusal leaves behind
(nothing), and what an advisor sees and changes by signing in, taking a break and
recording how a callback went."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.engine.vocabulary import AttemptResult, CallbackStatus, EventKind
from callflow.store.attempts import mark_dialled
from callflow.store.models import Advisor, AdvisorState, CallbackAttempt, CallbackRequest, CallEvent
from callflow.store.outcomes import await_outcome
from callflow.store.session import Database
from tests.store.helpers import T0, number
from tests.web.conftest import WORKER, Api, Someone, assign, enrol, snapshot

pytestmark = pytest.mark.slow_on_postgresql

REACHED = {
    "result": "reached",
    "resolution": "simple_need",
    "referral": "own_services",
    "reason": "health",
}

ADVISOR_CALLS = [
    ("GET", "/advisor/me"),
    ("POST", "/advisor/sign-in"),
    ("POST", "/advisor/available"),
    ("POST", "/advisor/break"),
    ("POST", "/advisor/sign-out"),
    ("GET", "/advisor/assignment"),
    ("GET", "/advisor/assignment/{id}"),
    ("POST", "/advisor/assignment/{id}/outcome"),
]

NOT_A_TOKEN = [
    {},
    {"Authorization": "Bearer not-a-token"},
    {"Authorization": "Basic YW5uYTpzZWNyZXQ="},
    {"Authorization": "Bearer"},
]


def row(database: Database, model: Any, key: int) -> Any:
    with database.reading() as session:
        return session.get(model, key)


def attempt(database: Database, callback_id: int) -> CallbackAttempt:
    with database.reading() as session:
        return session.scalars(
            select(CallbackAttempt).where(CallbackAttempt.callback_id == callback_id)
        ).one()


# -- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ADVISOR_CALLS)
def test_without_a_valid_token_nothing_is_done(
    client: Api, database: Database, anna: Someone, method: str, path: str
) -> None:
    callback_id = assign(database, anna, number(1))
    before = snapshot(database)
    for headers in NOT_A_TOKEN:
        answer = client.request(method, path.format(id=callback_id), headers=headers, json=REACHED)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert answer.json()["error"] in ("token-missing", "token-invalid")
        assert "Bearer" in answer.json()["detail"] or "not valid" in answer.json()["detail"]
    assert snapshot(database) == before


def test_another_advisors_callback_can_be_neither_read_nor_recorded(
    client: Api, database: Database, anna: Someone, bert: Someone
) -> None:
    callback_id = assign(database, anna, number(1))
    before = snapshot(database)

    read = client.get(f"/advisor/assignment/{callback_id}", headers=bert.auth)
    recorded = client.post(
        f"/advisor/assignment/{callback_id}/outcome", headers=bert.auth, json=REACHED
    )

    for answer in (read, recorded):
        assert answer.status_code == 403
        assert answer.json() == {
            "error": "assignment-not-yours",
            "detail": f"callback {callback_id} is not assigned to you",
        }
        assert number(1) not in answer.text
    assert snapshot(database) == before
    assert row(database, CallbackRequest, callback_id).status is CallbackStatus.IN_PROGRESS


def test_an_unknown_callback_is_404(client: Api, anna: Someone) -> None:
    answer = client.post("/advisor/assignment/999/outcome", headers=anna.auth, json=REACHED)
    assert answer.status_code == 404
    assert answer.json()["error"] == "callback-unknown"


# -- bad payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"result": "answered"},
            "result: 'answered' is not allowed; use 'reached', 'no_answer' or 'wrong_number'",
        ),
        ({"result": "reached"}, "resolution, referral, reason: required when result is 'reached'"),
        (
            {**REACHED, "reason": None, "referral": None},
            "referral, reason: required when result is 'reached'",
        ),
        (
            {**REACHED, "resolution": "solved"},
            "resolution: 'solved' is not allowed; use 'no_service_need', 'simple_need' or "
            "'complex_case'",
        ),
        ({**REACHED, "referral": "hospital"}, "referral: 'hospital' is not allowed; use 'none'"),
        (
            {"result": "no_answer", "colour": "blue"},
            "unknown field 'colour'; the fields are: result, resolution, referral, reason",
        ),
        (
            {"result": "wrong_number", "reason": "health"},
            "reason: only a reached resident's conversation is coded",
        ),
        ({}, "result: is required"),
        ([REACHED], "input should be a valid dictionary"),
    ],
)
def test_a_bad_outcome_is_422_naming_the_field_and_changes_nothing(
    client: Api, database: Database, anna: Someone, body: object, expected: str
) -> None:
    callback_id = assign(database, anna, number(1))
    before = snapshot(database)
    answer = client.post(f"/advisor/assignment/{callback_id}/outcome", headers=anna.auth, json=body)
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid-request"
    assert expected in answer.json()["detail"]
    assert snapshot(database) == before


def test_a_body_that_is_not_json_is_422(client: Api, database: Database, anna: Someone) -> None:
    callback_id = assign(database, anna, number(1))
    answer = client.post(
        f"/advisor/assignment/{callback_id}/outcome",
        headers={**anna.auth, "Content-Type": "application/json"},
        content=b"result=reached",
    )
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid-request"


def test_a_path_that_is_not_a_number_is_422(client: Api, anna: Someone) -> None:
    answer = client.get("/advisor/assignment/first", headers=anna.auth)
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("path parameter callback_id: ")


def test_a_number_echoed_in_an_error_is_masked(
    client: Api, database: Database, anna: Someone
) -> None:
    callback_id = assign(database, anna, number(1))
    answer = client.post(
        f"/advisor/assignment/{callback_id}/outcome",
        headers=anna.auth,
        json={"result": "+358 40 765 4321"},
    )
    assert answer.status_code == 422
    assert "765 4321" not in answer.text and "321" in answer.json()["detail"]


# -- signing in and out -------------------------------------------------------------------


def test_me_says_who_they_are(client: Api, anna: Someone) -> None:
    answer = client.get("/advisor/me", headers=anna.auth)
    assert answer.status_code == 200
    assert answer.json() == {
        "id": anna.id,
        "name": "Anna",
        "state": "available",
        "state_since": "2026-01-12T08:00:00Z",
        "ready_at": "2026-01-12T08:00:00Z",
        "skills": ["nurse"],
        "languages": ["fi"],
    }


def test_signing_in_makes_them_ready_now(client: Api, database: Database, clock: FakeClock) -> None:
    cecilia = enrol(database, "Cecilia", available=False)
    now = clock.advance(timedelta(minutes=3))
    answer = client.post("/advisor/sign-in", headers=cecilia.auth)
    assert answer.status_code == 200
    assert answer.json()["state"] == "available"
    assert answer.json()["ready_at"] == "2026-01-12T08:03:00Z"
    advisor = row(database, Advisor, cecilia.id)
    assert advisor.state is AdvisorState.AVAILABLE and advisor.ready_at == now


def test_a_break_and_signing_out_take_them_out_of_line(
    client: Api, database: Database, clock: FakeClock, anna: Someone
) -> None:
    clock.advance(timedelta(minutes=1))
    on_break = client.post("/advisor/break", headers=anna.auth).json()
    assert (on_break["state"], on_break["ready_at"]) == ("break", None)
    assert on_break["state_since"] == "2026-01-12T08:01:00Z"
    back = client.post("/advisor/available", headers=anna.auth).json()
    assert (back["state"], back["ready_at"]) == ("available", "2026-01-12T08:01:00Z")
    gone = client.post("/advisor/sign-out", headers=anna.auth).json()
    assert (gone["state"], gone["ready_at"]) == ("offline", None)
    assert row(database, Advisor, anna.id).state is AdvisorState.OFFLINE


def test_holding_a_callback_they_cannot_step_away(
    client: Api, database: Database, anna: Someone
) -> None:
    assign(database, anna, number(1))
    before = snapshot(database)
    for path in ("/advisor/break", "/advisor/sign-out", "/advisor/sign-in"):
        answer = client.post(path, headers=anna.auth)
        assert answer.status_code == 409
        assert answer.json()["error"] == "advisor-busy"
        assert "record its outcome" in answer.json()["detail"]
    assert snapshot(database) == before


# -- the assignment -----------------------------------------------------------------------


def test_the_assignment_shows_the_number_to_its_advisor_only(
    client: Api, database: Database, clock: FakeClock, anna: Someone, bert: Someone
) -> None:
    callback_id = assign(database, anna, number(1))
    clock.advance(timedelta(minutes=2))

    mine = client.get("/advisor/assignment", headers=anna.auth)
    theirs = client.get("/advisor/assignment", headers=bert.auth)

    assert mine.status_code == 200
    assert mine.json() == {
        "assignment": {
            "callback_id": callback_id,
            "attempt_no": 1,
            "topic": "health",
            "language": "fi",
            "number_e164": number(1),
            "queue_entered_at": "2026-01-12T08:00:00Z",
            "waited_s": 120.0,
            "due_at": "2026-01-12T13:00:00Z",
            "late": False,
            "at_risk": False,
            "dialled": True,
            "awaiting_outcome": False,
        }
    }
    assert (
        client.get(f"/advisor/assignment/{callback_id}", headers=anna.auth).json()
        == (mine.json()["assignment"])
    )
    assert theirs.status_code == 200
    assert theirs.json() == {"assignment": None}
    assert number(1) not in theirs.text


def test_an_undialled_assignment_and_one_awaiting_the_outcome(
    client: Api, database: Database, anna: Someone
) -> None:
    callback_id = assign(database, anna, number(1), dialled=False)
    shown = client.get("/advisor/assignment", headers=anna.auth).json()["assignment"]
    assert (shown["dialled"], shown["awaiting_outcome"]) == (False, False)
    too_early = client.post(
        f"/advisor/assignment/{callback_id}/outcome", headers=anna.auth, json=REACHED
    )
    assert too_early.status_code == 409
    assert too_early.json()["error"] == "outcome-not-allowed"

    with database.transaction() as session:
        mark_dialled(session, callback_id, 1, T0, owner=WORKER)
        await_outcome(
            session,
            callback_id,
            1,
            T0 + timedelta(minutes=4),
            owner=WORKER,
            until=T0 + timedelta(minutes=19),
            duration_s=240,
        )
    shown = client.get("/advisor/assignment", headers=anna.auth).json()["assignment"]
    assert (shown["dialled"], shown["awaiting_outcome"]) == (True, True)


def test_no_assignment_is_null(client: Api, anna: Someone) -> None:
    assert client.get("/advisor/assignment", headers=anna.auth).json() == {"assignment": None}


# -- recording the outcome ----------------------------------------------------------------


def test_reached_with_coding_completes_it_and_starts_the_wrap_up(
    client: Api,
    database: Database,
    config: HotlineConfig,
    clock: FakeClock,
    anna: Someone,
) -> None:
    callback_id = assign(database, anna, number(1))
    now = clock.advance(timedelta(minutes=5))

    answer = client.post(
        f"/advisor/assignment/{callback_id}/outcome", headers=anna.auth, json=REACHED
    )

    assert answer.status_code == 200
    ready_at = now + config.dispatch.wrap_up
    assert answer.json() == {
        "callback_id": callback_id,
        "status": "completed",
        "next_attempt_at": None,
        "advisor_state": "wrap_up",
        "ready_at": ready_at.isoformat().replace("+00:00", "Z"),
    }
    request = row(database, CallbackRequest, callback_id)
    assert (request.status, request.closed_at, request.advisor_id) == (
        CallbackStatus.COMPLETED,
        now,
        None,
    )
    tried = attempt(database, callback_id)
    assert tried.result is AttemptResult.REACHED
    assert (tried.resolution, tried.referral, tried.reason) == (
        "simple_need",
        "own_services",
        "health",
    )
    assert tried.duration_s == 300.0
    advisor = row(database, Advisor, anna.id)
    assert (advisor.state, advisor.ready_at) == (AdvisorState.WRAP_UP, ready_at)
    with database.reading() as session:
        coded = session.scalars(
            select(CallEvent).where(CallEvent.kind == EventKind.CONTACT_CODED)
        ).one()
    assert coded.data["advisor_id"] == anna.id and coded.data["channel"] == "callback"
    assert client.get("/advisor/assignment", headers=anna.auth).json() == {"assignment": None}


def test_no_answer_schedules_the_next_attempt(
    client: Api,
    database: Database,
    config: HotlineConfig,
    clock: FakeClock,
    anna: Someone,
) -> None:
    callback_id = assign(database, anna, number(1))
    now = clock.advance(timedelta(minutes=1))

    answer = client.post(
        f"/advisor/assignment/{callback_id}/outcome",
        headers=anna.auth,
        json={"result": "no_answer"},
    )

    assert answer.status_code == 200
    retry_at = now + config.callbacks.retry.spacing  # 10:31 in Helsinki: inside the window
    assert answer.json()["status"] == "pending"
    assert answer.json()["next_attempt_at"] == retry_at.isoformat().replace("+00:00", "Z")
    request = row(database, CallbackRequest, callback_id)
    assert (request.status, request.next_attempt_at, request.advisor_id, request.closed_at) == (
        CallbackStatus.PENDING,
        retry_at,
        None,
        None,
    )
    assert attempt(database, callback_id).result is AttemptResult.NO_ANSWER


def test_a_wrong_number_closes_it(
    client: Api, database: Database, clock: FakeClock, anna: Someone
) -> None:
    callback_id = assign(database, anna, number(1))
    now = clock.advance(timedelta(seconds=40))
    answer = client.post(
        f"/advisor/assignment/{callback_id}/outcome",
        headers=anna.auth,
        json={"result": "wrong_number"},
    )
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["next_attempt_at"]) == ("wrong_number", None)
    request = row(database, CallbackRequest, callback_id)
    assert (request.status, request.closed_at) == (CallbackStatus.WRONG_NUMBER, now)


def test_recording_twice_is_409_and_the_first_stands(
    client: Api, database: Database, clock: FakeClock, anna: Someone
) -> None:
    callback_id = assign(database, anna, number(1))
    clock.advance(timedelta(minutes=2))
    path = f"/advisor/assignment/{callback_id}/outcome"
    assert client.post(path, headers=anna.auth, json=REACHED).status_code == 200
    before = snapshot(database)
    clock.advance(timedelta(minutes=1))

    again = client.post(path, headers=anna.auth, json={"result": "no_answer"})

    assert again.status_code == 409
    assert again.json()["error"] == "outcome-not-allowed"
    assert "completed" in again.json()["detail"]
    assert snapshot(database) == before


# -- the schema ---------------------------------------------------------------------------


def test_the_openapi_schema_documents_the_api(client: Api) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for method, path in ADVISOR_CALLS:
        assert method.lower() in paths[path.replace("{id}", "{callback_id}")]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    outcome = paths["/advisor/assignment/{callback_id}/outcome"]["post"]
    assert outcome["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert set(schema["components"]["schemas"]["OutcomeIn"]["properties"]["result"]["enum"]) == {
        "reached",
        "no_answer",
        "wrong_number",
    }
    assert client.get("/docs").status_code == 200


def test_an_unexpected_failure_is_a_json_500_that_shows_no_number(
    client: Api, anna: Someone, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("INSERT failed for +358401234567")

    monkeypatch.setattr("callflow.web.actions.set_advisor_state", broken)
    answer = client.post("/advisor/break", headers=anna.auth)
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "internal-error",
        "detail": "the server failed; the error is in its log",
    }


def test_an_unknown_path_answers_in_the_same_shape(client: Api) -> None:
    answer = client.get("/advisor/nowhere")
    assert (answer.status_code, answer.json()) == (
        404,
        {"error": "not-found", "detail": "Not Found"},
    )
    wrong_method = client.get("/advisor/sign-in")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method-not-allowed")

"""``/metrics`` reads the line from the database at scrape time (exact figures for known
rows, on both databases), and ``/health`` tells a load balancer whether the database
answers."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.engine.vocabulary import AttemptResult, CallbackStatus, EventKind
from callflow.store.claims import claim_next_callback
from callflow.store.models import (
    Advisor,
    AdvisorState,
    Call,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
)
from callflow.store.queue_places import take_place
from callflow.store.session import Database
from callflow.web.app import create_app
from tests.store.helpers import T0, add_advisor, add_callback, number
from tests.web.conftest import LEASE, WORKER, Api

UNREACHABLE = "postgresql+psycopg://nobody:secret@127.0.0.1:1/nothing"


def scrape(client: Api) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample values by sample name, then by their labels."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def call(
    session: Session,
    topic: str | None,
    *,
    queued: bool,
    answered: bool,
    ended: bool,
    in_line: bool = False,
) -> None:
    """A call as its provider stored it; *in_line*, with the place it holds in *topic*'s
    queue (a call that queued and left, for an advisor or a callback, holds none)."""
    call_id = str(uuid4())
    if in_line:
        assert topic is not None
        take_place(session, call_id, provider="sim", topic=topic, language="fi", entered_at=T0)
    session.add(
        Call(
            id=call_id,
            provider="sim",
            started_at=T0,
            topic=topic,
            queue_entered_at=T0 if queued else None,
            answered_at=T0 if answered else None,
            ended_at=T0 if ended else None,
            updated_at=T0,
        )
    )


def closed(session: Session, i: int, status: CallbackStatus, *results: AttemptResult) -> None:
    """A closed request with ended attempts of these results."""
    callback_id = add_callback(session, number(i))
    session.execute(
        update(CallbackRequest)
        .where(CallbackRequest.id == callback_id)
        .values(status=status, closed_at=T0, attempts=len(results))
    )
    session.add_all(
        CallbackAttempt(
            callback_id=callback_id, attempt_no=n, claimed_at=T0, ended_at=T0, result=result
        )
        for n, result in enumerate(results, start=1)
    )


def test_the_metrics_count_what_the_database_holds(
    client: Api, database: Database, config: HotlineConfig
) -> None:
    with database.transaction() as session:
        call(session, "health", queued=True, answered=False, ended=False, in_line=True)
        call(session, "health", queued=True, answered=False, ended=False, in_line=True)
        call(session, "social", queued=True, answered=False, ended=False, in_line=True)
        call(session, "health", queued=True, answered=True, ended=False)  # talking
        call(session, "other", queued=True, answered=False, ended=True)  # hung up
        call(session, None, queued=False, answered=False, ended=False)  # still in the menu

        nurse = add_advisor(session, "nurse")
        add_advisor(session, "idle")
        resting = add_advisor(session, "resting")
        away = add_advisor(session, "away")
        add_advisor(session, "gone", enabled=False)
        for advisor_id, state in ((resting, AdvisorState.BREAK), (away, AdvisorState.OFFLINE)):
            session.execute(update(Advisor).where(Advisor.id == advisor_id).values(state=state))

        being_called = add_callback(session, number(1), entered=T0 - timedelta(hours=1))
        claimed = claim_next_callback(session, nurse, T0, owner=WORKER, lease=LEASE)
        assert claimed is not None and claimed.callback_id == being_called
        add_callback(session, number(2))
        flagged = add_callback(session, number(3))
        carried = add_callback(session, number(4), topic="social")
        session.execute(
            update(CallbackRequest).where(CallbackRequest.id == flagged).values(at_risk_at=T0)
        )
        session.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == carried)
            .values(at_risk_at=T0, late=True)
        )

        closed(
            session, 10, CallbackStatus.COMPLETED, AttemptResult.NO_ANSWER, AttemptResult.REACHED
        )
        closed(session, 11, CallbackStatus.COMPLETED, AttemptResult.REACHED)
        closed(session, 12, CallbackStatus.WRONG_NUMBER, AttemptResult.WRONG_NUMBER)
        closed(session, 13, CallbackStatus.CANCELLED, AttemptResult.INTERRUPTED)
        closed(session, 14, CallbackStatus.FAILED, *[AttemptResult.NO_ANSWER] * 2)
        session.add_all(
            CallEvent(at=T0, kind=kind, data={})
            for kind in (EventKind.CALLBACK_CLAIMED, EventKind.CALLBACK_CLAIMED, EventKind.ANSWERED)
        )

    found = scrape(client)

    assert found["callflow_queue_waiting_calls"] == {
        (("queue", "health"),): 2,
        (("queue", "other"),): 0,
        (("queue", "social"),): 1,
    }
    open_now = {
        dict(labels)["queue"] + "/" + dict(labels)["status"] + "/" + dict(labels)["promise"]: value
        for labels, value in found["callflow_callbacks_open"].items()
    }
    assert len(open_now) == len(config.queues) * 2 * 3, "every series, even when empty"
    assert {series: n for series, n in open_now.items() if n} == {
        "health/in_progress/on_time": 1,
        "health/pending/on_time": 1,
        "health/pending/at_risk": 1,
        "social/pending/late": 1,
    }
    assert found["callflow_advisors"] == {
        (("state", "available"),): 1,
        (("state", "break"),): 1,
        (("state", "busy"),): 1,
        (("state", "offline"),): 1,
        (("state", "wrap_up"),): 0,
    }
    assert found["callflow_callback_claims_total"] == {(): 3}
    attempts = {
        dict(labels)["result"]: n for labels, n in found["callflow_callback_attempts_total"].items()
    }
    assert {result: n for result, n in attempts.items() if n} == {
        "reached": 2,
        "no_answer": 3,
        "wrong_number": 1,
        "interrupted": 1,
    }
    assert set(attempts) == {result.value for result in AttemptResult}
    assert found["callflow_callbacks_closed_total"] == {
        (("status", "completed"),): 2,
        (("status", "expired"),): 0,
        (("status", "failed"),): 1,
        (("status", "cancelled"),): 1,
        (("status", "wrong_number"),): 1,
    }


def test_a_caller_out_of_the_queue_is_not_waiting(client: Api, database: Database) -> None:
    """A caller who took a callback and is keying their number (or was offered one at
    closing) has left the queue: their call goes on, unanswered, with the time it
    queued, but they wait for nobody. Only callers in a queue are counted."""
    with database.transaction() as session:
        call(session, "health", queued=True, answered=False, ended=False)  # keying a number
        call(session, "health", queued=True, answered=False, ended=False, in_line=True)
    assert scrape(client)["callflow_queue_waiting_calls"] == {
        (("queue", "health"),): 1,
        (("queue", "other"),): 0,
        (("queue", "social"),): 0,
    }


def test_the_metrics_of_an_empty_line_are_zeros(client: Api) -> None:
    found = scrape(client)
    assert found["callflow_callback_claims_total"] == {(): 0}
    assert set(found["callflow_queue_waiting_calls"].values()) == {0}
    assert set(found["callflow_callbacks_open"].values()) == {0}


def test_health_says_ok_when_the_database_answers(client: Api) -> None:
    answer = client.get("/health")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_an_unreachable_database_is_503_without_its_address(
    config: HotlineConfig, clock: FakeClock
) -> None:
    database = Database.connect(UNREACHABLE)
    try:
        client = Api(create_app(config, database, clock=clock))
        for path in ("/health", "/metrics"):
            answer = client.get(path)
            assert answer.status_code == 503
            assert answer.json() == {
                "error": "store-error",
                "detail": "the database is not available; try again shortly",
            }
    finally:
        database.close()

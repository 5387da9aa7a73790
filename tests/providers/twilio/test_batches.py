"""Webhooks that arrive together share a commit, and fail alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from callflow.errors import MalformedWebhook
from callflow.providers.twilio.batches import WebhookBatches
from callflow.providers.twilio.store import Writes, locked_call
from callflow.store.base import Base
from callflow.store.session import Database
from callflow.store.twilio_tables import TwilioLeg
from tests.providers.twilio.conftest import BOTH_DATABASES
from tests.store.helpers import T0

CALLS = Base.metadata.tables["twilio_calls"]


def add_row(session: Session, call_sid: str) -> None:
    session.execute(
        insert(CALLS).values(
            call_sid=call_sid,
            kind=TwilioLeg.INBOUND,
            status="in-progress",
            created_at=T0,
            updated_at=T0,
        )
    )


def writing(writes: Writes, call_sid: str) -> Callable[[], str]:
    """A webhook's work: one row written in its transaction, its CallSid answered."""

    def work() -> str:
        with writes.transaction() as session:
            add_row(session, call_sid)
        return call_sid

    return work


def stored(database: Database) -> set[str]:
    with database.reading() as session:
        return set(session.scalars(select(CALLS.c.call_sid)))


def together(batches: WebhookBatches[str], works: list[Callable[[], str]]) -> list[Any]:
    """The works posted at the same moment, each as its own request; answers or errors."""

    async def post_all() -> list[Any]:
        return await asyncio.gather(*(batches.run(work) for work in works), return_exceptions=True)

    return asyncio.run(post_all())


def commits(database: Database) -> list[int]:
    counted = [0]

    @event.listens_for(database.engine, "commit")
    def _count(_connection: object) -> None:
        counted[0] += 1

    return counted


@BOTH_DATABASES
def test_every_webhook_is_answered_once_its_work_is_stored(database: Database) -> None:
    writes = Writes(database)
    sids = [f"CA{n}" for n in range(10)]
    answers = together(WebhookBatches(writes), [writing(writes, sid) for sid in sids])
    assert answers == sids
    assert stored(database) == set(sids)


@BOTH_DATABASES
def test_webhooks_arriving_together_share_commits(database: Database) -> None:
    writes = Writes(database)
    counted = commits(database)
    together(WebhookBatches(writes), [writing(writes, f"CA{n}") for n in range(20)])
    assert stored(database) == {f"CA{n}" for n in range(20)}
    assert counted[0] < 20


@BOTH_DATABASES
def test_a_failing_webhook_fails_alone(database: Database) -> None:
    writes = Writes(database)

    def failing() -> str:
        with writes.transaction() as session:
            add_row(session, "CA-bad")
            raise MalformedWebhook("CallSid CA-bad is not a call to this line")

    works = [writing(writes, "CA1"), failing, writing(writes, "CA2")]
    answers = together(WebhookBatches(writes), works)
    assert answers[0] == "CA1" and answers[2] == "CA2"
    assert isinstance(answers[1], MalformedWebhook)
    assert stored(database) == {"CA1", "CA2"}


@BOTH_DATABASES
def test_a_transaction_a_webhook_got_over_is_undone_as_if_it_ran_alone(
    database: Database,
) -> None:
    """A webhook that catches its transaction's failure and goes on (a race lost, then the
    winner's row read) must not leave that transaction's writes in the shared one."""
    writes = Writes(database)

    def recovering() -> str:
        try:
            with writes.transaction() as session:
                add_row(session, "CA-undone")
                raise MalformedWebhook("lost a race")
        except MalformedWebhook:
            return writing(writes, "CA-after")()

    answers = together(
        WebhookBatches(writes), [writing(writes, "CA1"), recovering, writing(writes, "CA2")]
    )
    assert answers == ["CA1", "CA-after", "CA2"]
    assert stored(database) == {"CA1", "CA-after", "CA2"}


@BOTH_DATABASES
def test_what_waits_for_the_commit_sees_it(database: Database) -> None:
    writes = Writes(database)
    seen: list[set[str]] = []

    def joined_a_queue(call_sid: str) -> Callable[[], str]:
        def work() -> str:
            answer = writing(writes, call_sid)()
            writes.after_commit(lambda: seen.append(stored(database)))
            return answer

        return work

    together(WebhookBatches(writes), [joined_a_queue(f"CA{n}") for n in range(5)])
    assert len(seen) == 5
    assert all(f"CA{n}" in rows for n, rows in enumerate(seen))


def test_a_request_that_went_away_takes_no_answer_but_its_work_is_done(
    database: Database,
) -> None:
    writes = Writes(database)
    batches: WebhookBatches[str] = WebhookBatches(writes)

    async def impatient() -> None:
        late = asyncio.ensure_future(batches.run(writing(writes, "CA-late")))
        on_time = asyncio.ensure_future(batches.run(writing(writes, "CA1")))
        await asyncio.sleep(0)
        late.cancel()
        assert await on_time == "CA1"

    asyncio.run(impatient())
    assert stored(database) == {"CA-late", "CA1"}


ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@ON_POSTGRESQL
def test_on_postgresql_a_webhook_waiting_for_its_call_holds_up_no_other_call(
    database: Database,
) -> None:
    """Another process holds a call's row: the webhook for that call waits for it, and a
    webhook for another call arriving meanwhile is answered all the same."""
    writes = Writes(database)
    batches: WebhookBatches[str] = WebhookBatches(writes)
    with writes.transaction() as session:
        add_row(session, "CA-held")
    waiting = threading.Event()

    def held_call() -> str:
        waiting.set()
        with writes.transaction() as session:
            assert locked_call(session, "CA-held") is not None
        return "CA-held"

    async def meanwhile() -> None:
        with database.transaction() as other_process:
            assert locked_call(other_process, "CA-held") is not None
            held = asyncio.ensure_future(batches.run(held_call))
            assert await asyncio.to_thread(waiting.wait, 30)
            answered = await asyncio.wait_for(batches.run(writing(writes, "CA-free")), 30)
            assert answered == "CA-free"
            assert not held.done()
        assert await asyncio.wait_for(held, 30) == "CA-held"

    asyncio.run(meanwhile())
    assert stored(database) == {"CA-held", "CA-free"}

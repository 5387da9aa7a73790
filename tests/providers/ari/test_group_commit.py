"""Many calls' steps to one commit: each step's store work stands or falls alone, and
nobody hears of a step before it is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from callflow.engine.flow import new_call
from callflow.providers.ari.group_commit import GroupCommit
from callflow.store.calls import DirectJournal
from callflow.store.models import Call
from callflow.store.session import Database
from tests.providers.ari.rig import run
from tests.store.helpers import T0


class Refused(Exception):
    """The store refusing one call's step."""


@contextmanager
def group_commit(database: Database) -> Iterator[GroupCommit]:
    executor = ThreadPoolExecutor(1)
    try:
        yield GroupCommit(database, executor)
    finally:
        executor.shutdown(wait=True)


def stored_calls(database: Database) -> set[str]:
    with database.reading() as session:
        return set(session.scalars(select(Call.id)))


@contextmanager
def commits_counted(database: Database) -> Iterator[list[int]]:
    """How many transactions committed, one entry each."""
    commits: list[int] = []

    def committed(_connection: object) -> None:
        commits.append(1)

    event.listen(database.engine, "commit", committed)
    try:
        yield commits
    finally:
        event.remove(database.engine, "commit", committed)


def a_step(steps: GroupCommit, call_id: str, *, refused: bool = False) -> Callable[[], str]:
    """A call's first step as the adapter stores it (its row), refused after writing it if
    *refused*."""

    def work() -> str:
        with steps.unit() as session:
            DirectJournal().record(
                session, new_call(call_id, T0), [], T0, provider="ari", provider_ref=call_id
            )
        if refused:
            raise Refused(call_id)
        return call_id

    return work


def test_steps_waiting_together_share_one_commit(database: Database) -> None:
    async def scenario() -> list[str]:
        with group_commit(database) as steps, commits_counted(database) as commits:
            answers = await asyncio.gather(*(steps.run(a_step(steps, f"c{n}")) for n in range(5)))
            assert len(commits) == 1
            return answers

    assert run(scenario()) == ["c0", "c1", "c2", "c3", "c4"]
    assert stored_calls(database) == {"c0", "c1", "c2", "c3", "c4"}


def test_one_calls_refused_step_loses_no_other_calls_step(database: Database) -> None:
    """The refused step fails alone and leaves nothing behind; the steps around it in the
    same transaction are stored and answered."""

    async def scenario() -> list[str | BaseException]:
        with group_commit(database) as steps:
            return await asyncio.gather(
                steps.run(a_step(steps, "before")),
                steps.run(a_step(steps, "refused", refused=True)),
                steps.run(a_step(steps, "after")),
                return_exceptions=True,
            )

    before, refused, after = run(scenario())
    assert (before, after) == ("before", "after")
    assert isinstance(refused, Refused)
    assert stored_calls(database) == {"before", "after"}


def test_a_step_is_answered_only_once_it_is_committed(database: Database) -> None:
    """When a call hears its step's answer, another connection sees the step stored; what
    waits for the commit has been done by then, and never for a refused step."""
    told: list[str] = []

    def telling(steps: GroupCommit, call_id: str, refused: bool = False) -> Callable[[], str]:
        store = a_step(steps, call_id, refused=refused)

        def work() -> str:
            steps.after_commit(lambda: told.append(call_id))
            return store()

        return work

    async def answered(steps: GroupCommit, call_id: str) -> tuple[bool, bool]:
        await steps.run(telling(steps, call_id))
        return call_id in stored_calls(database), call_id in told

    async def scenario() -> list[tuple[bool, bool]]:
        with group_commit(database) as steps:
            refused = steps.run(telling(steps, "refused", refused=True))
            answers = await asyncio.gather(
                answered(steps, "a"),
                answered(steps, "b"),
                refused,
                return_exceptions=True,
            )
            return [answer for answer in answers if not isinstance(answer, Refused)]

    assert run(scenario()) == [(True, True), (True, True)]
    assert told == ["a", "b"]


def test_a_failure_after_the_commit_is_its_own_steps_alone(database: Database) -> None:
    """What a step asked to follow its commit raises: that step's caller gets the error, its
    work stays stored, and no step is run twice."""
    runs: list[str] = []

    def step(steps: GroupCommit, call_id: str) -> Callable[[], str]:
        store = a_step(steps, call_id)

        def tell() -> None:
            raise Refused(call_id)

        def work() -> str:
            runs.append(call_id)
            if call_id == "told-badly":
                steps.after_commit(tell)
            return store()

        return work

    async def scenario() -> list[str | BaseException]:
        with group_commit(database) as steps:
            return await asyncio.gather(
                *(steps.run(step(steps, c)) for c in ("a", "told-badly", "b")),
                return_exceptions=True,
            )

    a, told_badly, b = run(scenario())
    assert (a, b) == ("a", "b")
    assert isinstance(told_badly, Refused)
    assert sorted(runs) == ["a", "b", "told-badly"]
    assert stored_calls(database) == {"a", "b", "told-badly"}


def test_a_batch_whose_commit_fails_fails_each_step_and_runs_none_twice(
    database: Database,
) -> None:
    """The commit fails (the connection lost as the server committed, maybe): its work may
    be stored, so no step runs again (a callback would be asked for twice, the second time
    refused as a duplicate); each fails, and its call is handed back as a failed step is."""
    failed: list[int] = []
    runs: list[str] = []

    def fail_first_commit(_connection: object) -> None:
        if not failed:
            failed.append(1)
            raise ConnectionError("the connection went away")

    def counted(step: Callable[[], str], call_id: str) -> Callable[[], str]:
        def work() -> str:
            runs.append(call_id)
            return step()

        return work

    async def scenario() -> list[str | BaseException]:
        with group_commit(database) as steps:
            return await asyncio.gather(
                *(steps.run(counted(a_step(steps, f"c{n}"), f"c{n}")) for n in range(3)),
                return_exceptions=True,
            )

    event.listen(database.engine, "commit", fail_first_commit)
    try:
        answers = run(scenario())
    finally:
        event.remove(database.engine, "commit", fail_first_commit)
    assert failed == [1]
    assert sorted(runs) == ["c0", "c1", "c2"]
    assert all(isinstance(answer, ConnectionError) for answer in answers)


def test_store_work_outside_a_step_is_refused(database: Database) -> None:
    with group_commit(database) as steps, pytest.raises(RuntimeError), steps.unit():
        pass

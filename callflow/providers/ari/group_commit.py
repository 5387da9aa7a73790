"""The calls' steps: many calls' store work to one commit.

Every step of every call is store work (the call's row and events, its place in
a queue, the queue read for an announcement), and in a transaction of its own
the commit and the transaction's set-up cost as much as the work. Under a
stampede the steps queued for the store thread, and every caller's next prompt
waited behind the others' commits. So the steps that wait when the store comes
free run one after another in one transaction, committed once, as Twilio's
webhooks are (:mod:`callflow.providers.twilio.batches`).

- **Each step alone.** A step runs in a savepoint of its own: one that fails
  (the store refusing it, a bug) is rolled back alone and fails alone (its call
  apologises and is handed back to the dialplan, as any failed step), while
  the others' work is committed.
- **Nothing before its commit.** A step's result (the call's new state and the
  commands for Asterisk) is handed back only once the transaction holding it
  has committed: no caller hears what was not stored.
- **A batch that fails.** If the batch's transaction cannot begin, none of its
  work was stored, so each step runs again alone, in a transaction of its own:
  a failure stays with the steps that meet it. A step reads all it needs from
  the store and from a copy of its call's state, so running it again is
  running it once. But a commit that fails may have been stored all the same
  (the connection lost as the server committed): running its steps again could
  do them twice, so every step of that batch fails instead, and its call is
  handed back as any failed step.

One batch runs at a time, on the adapter's store executor: SQLite takes one
writer at a time anyway, and steps arriving meanwhile form the next batch.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from callflow.store.session import Database, unreachable_as_store_error

T = TypeVar("T")
BATCH_LIMIT = 64
"""Steps at most in one transaction: enough to share commits under any load, few enough
that the first of them is not kept long."""


class _CommitFailed(Exception):
    """A batch's commit failed: its work may or may not be stored (a signal within this
    module, never raised out of it)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(slots=True)
class _Outcome:
    """How one step's work ended."""

    value: Any = None
    error: Exception | None = None

    def settle(self, future: asyncio.Future[Any]) -> None:
        if future.done():  # its call stopped waiting (the adapter is stopping)
            return
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.value)


@dataclass(slots=True)
class _Waiting:
    work: Callable[[], Any]
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Running:
    """The transaction a work runs in, and what waits for it to commit."""

    session: Session
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def settled(self, outcome: _Outcome) -> _Outcome:
        """*outcome* once what waited for the commit is done (the error of the first that
        raises, if one does)."""
        try:
            for action in self.after_commit:
                action()
        except Exception as exc:
            return _Outcome(error=exc)
        return outcome


class GroupCommit:
    """Runs store work in shared transactions, a batch at a time, on *executor*.

    A work reaches its transaction through :meth:`unit` and asks for what must wait
    for the commit with :meth:`after_commit`.
    """

    def __init__(self, database: Database, executor: Executor) -> None:
        self._database = database
        self._executor = executor
        self._steps: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None
        self._running = threading.local()

    async def run(self, work: Callable[[], T]) -> T:
        """*work*'s result once the transaction it ran in has committed (or its error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._steps.append(_Waiting(work, future))
        if self._draining is None:
            self._draining = loop.create_task(self._drain(), name="ari-group-commit")
        return await future

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """The session of the work running now on this thread (a unit of work for
        :class:`~callflow.service.calls.CallHandler`)."""
        yield self._current().session

    def after_commit(self, action: Callable[[], None]) -> None:
        """Do *action* (on the store thread) once the running work has committed; never
        if it is rolled back. If it raises, the work's caller gets that error, as if the
        work had raised it after its commit."""
        self._current().after_commit.append(action)

    def _current(self) -> _Running:
        running: _Running | None = getattr(self._running, "work", None)
        if running is None:
            raise RuntimeError("a step's store work runs inside GroupCommit.run")
        return running

    async def close(self) -> None:
        """Until the work handed in has run (its callers may have stopped waiting)."""
        if self._draining is not None:
            await asyncio.shield(self._draining)

    async def _drain(self) -> None:
        """Run what waits, a batch at a time, until nothing does."""
        loop = asyncio.get_running_loop()
        try:
            while self._steps:
                batch = self._steps[:BATCH_LIMIT]
                del self._steps[:BATCH_LIMIT]
                works = [waiting.work for waiting in batch]
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._run, works)
                except Exception as exc:  # the executor refused (shut down)
                    outcomes = [_Outcome(error=exc)] * len(batch)
                except BaseException:  # cancelled (the loop is closing): nobody waits forever
                    self._steps[:0] = batch
                    raise
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    outcome.settle(waiting.future)
        finally:
            self._draining = None
            for waiting in self._steps:  # left only when draining was cut short
                waiting.future.cancel()
            self._steps.clear()

    def _run(self, works: list[Callable[[], Any]]) -> list[_Outcome]:
        if len(works) > 1:
            try:
                done = self._together(works)
            except _CommitFailed as failed:  # stored or not, no step may run twice
                return [_Outcome(error=failed.error) for _ in works]
            except Exception:  # nothing stored: each again, alone
                pass
            else:
                return [running.settled(outcome) for outcome, running in done]
        return [self._alone(work) for work in works]

    def _together(self, works: list[Callable[[], Any]]) -> list[tuple[_Outcome, _Running]]:
        """Each work in a savepoint of one transaction; raises if that cannot begin, and
        :class:`_CommitFailed` if it cannot commit."""
        done = []
        committing = False
        try:
            with self._database.transaction() as session:
                for work in works:
                    running = _Running(session)
                    try:
                        with (
                            unreachable_as_store_error(self._database.engine),
                            session.begin_nested(),
                        ):
                            outcome = _Outcome(value=self._within(running, work))
                    except Exception as exc:  # rolled back: nothing of it follows the commit
                        outcome, running = _Outcome(error=exc), _Running(session)
                    done.append((outcome, running))
                committing = True
        except Exception as exc:
            if committing:
                raise _CommitFailed(exc) from exc
            raise
        return done

    def _alone(self, work: Callable[[], Any]) -> _Outcome:
        try:
            with self._database.transaction() as session:
                running = _Running(session)
                outcome = _Outcome(value=self._within(running, work))
        except Exception as exc:
            return _Outcome(error=exc)
        return running.settled(outcome)

    def _within(self, running: _Running, work: Callable[[], T]) -> T:
        self._running.work = running
        try:
            return work()
        finally:
            self._running.work = None

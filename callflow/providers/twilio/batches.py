"""Calls' webhooks: one batch at a time, many webhooks to a commit.

A webhook's work is a few small statements and a commit, and the commit is
the dearest part: on SQLite it writes every page the transaction touched to
the log, on PostgreSQL it waits for the log to be flushed. So the webhooks
waiting when the database comes free run one after another in one
transaction, committed once: webhooks that arrive together share the commit
(and the pages they touch). One thread does it, rather than a thread per
webhook: SQLite lets one transaction write at a time anyway, and Python's
threads take turns for the interpreter, so more of them only add the cost of
waking them in turn.

A webhook is answered only once its transaction has committed: no caller
hears what was not stored, and what comes after a commit (a connector
woken) waits for it (:meth:`~callflow.providers.twilio.store.Writes.after_commit`).
If any webhook of a batch fails — a bad request, a race with another process
lost, a deadlock PostgreSQL broke — the batch is rolled back and each of its
webhooks runs again alone, in a transaction of its own, so a failure stays
with the webhook that met it and takes nobody's answer with it. A webhook's
work reads all it needs from the database, so running it again after a
rollback is running it once.

On PostgreSQL a few batches run at once (:data:`BATCHES_AT_ONCE`), each in a
transaction and on a connection of its own: most of a batch's time there is
waiting for the server's answers, a round trip per statement, and one batch
waiting need not keep the next from being sent. Two webhooks of one call in
batches at once take turns on the call's row, as two processes' would; a
deadlock between two batches, which PostgreSQL breaks, fails one of them, and
its webhooks run again alone. SQLite lets one transaction write at a time, so
there one batch runs at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

from starlette.concurrency import run_in_threadpool

from callflow.providers.twilio.store import Writes

T = TypeVar("T")
BATCH_LIMIT = 64
"""Webhooks at most in one transaction: enough to share commits under any load, few
enough that the last of them is not kept long."""
BATCHES_AT_ONCE = 4
"""Batches in flight at once on PostgreSQL: enough to keep the process busy while others
wait for the server, few enough to leave the connection pool (5, and 10 more when
needed) to the line's other work. One on SQLite."""


class _Spoilt(Exception):
    """A webhook of the batch failed inside it, even if it went on: the batch is void (a
    signal within this module, never raised out of it)."""


@dataclass(slots=True)
class _Outcome(Generic[T]):
    """How one webhook's work ended."""

    value: T | None = None
    error: BaseException | None = None

    @classmethod
    def of(cls, work: Callable[[], T]) -> _Outcome[T]:
        try:
            return cls(value=work())
        except Exception as exc:
            return cls(error=exc)

    def settle(self, future: asyncio.Future[T]) -> None:
        if future.done():  # the request went away; its work is done all the same
            return
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.value)  # type: ignore[arg-type]


@dataclass(slots=True)
class _Queue(Generic[T]):
    """The webhooks of one event loop waiting for the database, and who runs them."""

    jobs: list[tuple[Callable[[], T], asyncio.Future[T]]] = field(default_factory=list)
    drains: set[asyncio.Task[None]] = field(default_factory=set)
    """Tasks running batches of these webhooks."""
    busy: int = 0
    """Those of them running a batch now; the others are about to take one."""


class WebhookBatches(Generic[T]):
    """Runs webhooks' store work in shared transactions, a batch at a time."""

    def __init__(self, writes: Writes) -> None:
        self._writes = writes
        self._at_once = 1 if writes.database.dialect == "sqlite" else BATCHES_AT_ONCE
        self._queues: WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue[T]] = WeakKeyDictionary()
        """One per event loop: a future belongs to its loop (a server has one; tests may
        run each request in a loop of its own)."""

    async def run(self, work: Callable[[], T]) -> T:
        """*work*'s result once its transaction has committed (or its error)."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[T] = loop.create_future()
        queue.jobs.append((work, future))
        drains = len(queue.drains)
        if drains == queue.busy and drains < self._at_once:  # none is free to take it
            queue.drains.add(loop.create_task(self._drain(queue), name="twilio-webhook-batches"))
        return await future

    async def _drain(self, queue: _Queue[T]) -> None:
        """Run what waits, a batch at a time, until nothing does; webhooks that arrive
        meanwhile form the next batch (this drain's, or another's already free)."""
        try:
            while queue.jobs:
                batch = queue.jobs[:BATCH_LIMIT]
                del queue.jobs[:BATCH_LIMIT]
                queue.busy += 1
                try:
                    outcomes = await run_in_threadpool(self._run, [work for work, _ in batch])
                except Exception as exc:
                    outcomes = [_Outcome(error=exc)] * len(batch)
                except BaseException:  # shutting down: nobody may wait for an answer forever
                    queue.jobs[:0] = batch
                    raise
                finally:
                    queue.busy -= 1
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    outcome.settle(future)
        finally:
            queue.drains.discard(asyncio.current_task())
            for _, future in queue.jobs:  # left only when draining was cut short
                future.cancel()
            queue.jobs.clear()

    def _run(self, works: list[Callable[[], T]]) -> list[_Outcome[T]]:
        if len(works) > 1:
            try:
                with self._writes.batch() as batch:
                    values = [work() for work in works]
                    if batch.spoilt:
                        raise _Spoilt
                return [_Outcome(value=value) for value in values]
            except Exception:  # rolled back: each again, alone
                pass
        return [_Outcome.of(work) for work in works]

"""The store's answer to ``LookUpQueue``: who waits ahead (of this provider's callers), who
is staffed, the load of the last hour and the callbacks ahead, all read in one session."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.commands import LookUpQueue
from callflow.service.queue_reads import StoreQueueReads
from callflow.store.models import Advisor, AdvisorState, Call
from callflow.store.queue_places import take_place
from callflow.store.session import Database
from tests.store.helpers import T0, add_advisor, add_callback

HANDLE = timedelta(minutes=6)


class Reads(StoreQueueReads):
    provider = "ari"

    def _mean_handle(self, session: Session, topic: str) -> timedelta:
        return HANDLE


def test_a_snapshot_from_the_store(config: HotlineConfig, database: Database) -> None:
    with database.transaction() as session:
        for call_id, seconds, provider in (
            ("a", 0, "ari"),
            ("b", 5, "ari"),  # same entry as the caller, an earlier call id: ahead
            ("z", 5, "ari"),  # same entry, a later call id: behind
            ("d", 10, "ari"),
            ("t", 0, "twilio"),  # another provider's line
        ):
            take_place(
                session,
                call_id,
                provider=provider,
                topic="health",
                language="fi",
                entered_at=T0 + timedelta(seconds=seconds),
            )
        for n in range(3):
            session.add(
                Call(
                    id=f"arrived-{n}",
                    provider="ari",
                    started_at=T0 - timedelta(minutes=10),
                    topic="health",
                    queue_entered_at=T0 - timedelta(minutes=9),
                    updated_at=T0,
                )
            )
        add_advisor(session, "Aino")
        busy = session.get(Advisor, add_advisor(session, "Bert"))
        assert busy is not None
        busy.state = AdvisorState.BUSY  # on a call: signed in, not free
        add_advisor(session, "Swedish only", languages=("sv",))
        add_callback(session, "+358401000001", entered=T0 - timedelta(minutes=1))
        add_callback(session, "+358401000002", entered=T0 + timedelta(minutes=1))
    reads = Reads(config)
    now = T0 + timedelta(minutes=1)
    with database.reading() as session:
        queued = reads.snapshot(
            session, "c", LookUpQueue("health", "fi", T0 + timedelta(seconds=5)), now
        )
        newcomer = reads.snapshot(session, "new", LookUpQueue("health", "fi", None), now)
    assert (queued.position, newcomer.position) == (3, 5)
    assert (queued.staffed, queued.free) == (2, 1)
    assert queued.mean_handle == HANDLE
    assert queued.live_load == 3 / 3600 * HANDLE.total_seconds()
    assert (queued.callbacks_ahead, newcomer.callbacks_ahead) == (1, 2)

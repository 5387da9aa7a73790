"""How a queue stands for a caller on Twilio: the store's reads, and the handle times of
the advisors' recent calls.

Twilio keeps the callers in its queues, but any process may answer any
webhook, so everything is read from the database in the webhook's own
transaction (:class:`~callflow.service.queue_reads.StoreQueueReads`); how
long calls with an advisor take comes from the advisors' legs the line placed
for queued callers.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from callflow.service.queue_reads import RECENT_HANDLES, StoreQueueReads
from callflow.store.twilio_tables import TwilioCall, TwilioLeg

PROVIDER = "twilio"


class TwilioQueueReads(StoreQueueReads):
    """The store's queue reads, with handle times from Twilio's advisor legs."""

    provider = PROVIDER

    def _mean_handle(self, session: Session, topic: str) -> timedelta:
        """Mean of the recent live calls' lengths; the configured default until there are some."""
        recent = list(
            session.scalars(
                select(TwilioCall.duration_s)
                .where(
                    TwilioCall.kind == TwilioLeg.CONNECT,
                    TwilioCall.topic == topic,
                    TwilioCall.ready_at.is_not(None),
                    TwilioCall.duration_s.is_not(None),
                )
                .order_by(TwilioCall.updated_at.desc())
                .limit(RECENT_HANDLES)
            )
        )
        if not recent:
            return self._config.queues[topic].default_handle_time
        return timedelta(seconds=sum(d or 0.0 for d in recent) / len(recent))

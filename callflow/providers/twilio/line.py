"""The line as a Twilio webhook sees it: who waits and how long calls take, from the store.

Twilio keeps the callers in its queues, but any process may answer any
webhook, so the callers each Twilio queue holds (``twilio_calls``) and the
handle times of recent live calls are read from the database, in the
webhook's own transaction, like the rest of :class:`StoreLine`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from callflow.service.line import RECENT_HANDLES, StoreLine
from callflow.store.twilio_tables import TwilioCall, TwilioLeg


class TwilioLine(StoreLine):
    """An engine :class:`~callflow.engine.turn.LineView` over one webhook's session."""

    provider = "twilio"

    def _callers(self, topic: str) -> list[tuple[datetime, str]]:
        rows = self._session.execute(
            select(TwilioCall.queue_entered_at, TwilioCall.call_id).where(
                TwilioCall.topic == topic,
                TwilioCall.queue_entered_at.is_not(None),
                TwilioCall.kind == TwilioLeg.INBOUND,
            )
        )
        return sorted((entered, call_id or "") for entered, call_id in rows if entered is not None)

    def _mean_handle(self, topic: str) -> timedelta:
        """Mean of the recent live calls' lengths; the configured default until there are some."""
        recent = list(
            self._session.scalars(
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

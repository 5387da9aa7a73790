"""What the store shows of the simulated advisors (the staffing plan's seats).

Who of the seats is free is decided on the floor, in memory (:mod:`.shifts`); the claim is
asked for one floor-free seat at a time, so a run of whole days needs the store to know no
more than that every seat may be claimed: :data:`READY_FOR_GOOD`, the cheapest.

On ``callflow serve``'s line the supervisor's board reads the advisors' states from the
store, as on any provider, and must move as the seats work. There :class:`FloorInStore`
writes each change of a seat's floor state as it happens: off shift, free, talking to a
queued caller, wrapping up, at lunch. A callback's steps are the store's own (the claim
makes the seat busy, the attempt's end begins its wrap-up), and the floor's own wrap-up
then follows. A free seat is written available before it is offered work, so the claim,
which takes only a ready advisor, agrees with the floor.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from callflow.providers.sim.stage import Stage
from callflow.store.advisors import BreakReason, set_advisor_state, show_seat
from callflow.store.models import AdvisorState


class SeatStates(Protocol):
    """Told of every change of a seat's floor state, by its name (``health-1``)."""

    def registered(self, session: Session, store_id: int, now: datetime) -> None:
        """The seat was just registered in the store (inside *session*'s unit)."""
        ...

    def free(self, advisor_id: str, idle_since: datetime) -> None:
        """Signed in and free for work since *idle_since*."""
        ...

    def talking(self, advisor_id: str, call_id: str) -> None:
        """Put through to the queued caller *call_id*."""
        ...

    def wrapping_up(self, advisor_id: str, until: datetime) -> None:
        """Done with a caller or a resident; free again at *until*."""
        ...

    def on_break(self, advisor_id: str, reason: BreakReason) -> None: ...

    def signed_out(self, advisor_id: str) -> None:
        """Off shift (gone home, or not in yet)."""
        ...

    def all_signed_out(self) -> None:
        """The line stops: no seat is working any more."""
        ...


class _ReadyForGood:
    """Every seat ready in the store from registration on, whatever the floor says."""

    def registered(self, session: Session, store_id: int, now: datetime) -> None:
        set_advisor_state(session, store_id, AdvisorState.AVAILABLE, now)

    def free(self, advisor_id: str, idle_since: datetime) -> None:
        pass

    def talking(self, advisor_id: str, call_id: str) -> None:
        pass

    def wrapping_up(self, advisor_id: str, until: datetime) -> None:
        pass

    def on_break(self, advisor_id: str, reason: BreakReason) -> None:
        pass

    def signed_out(self, advisor_id: str) -> None:
        pass

    def all_signed_out(self) -> None:
        pass


READY_FOR_GOOD: SeatStates = _ReadyForGood()


class FloorInStore:
    """Each seat's floor state written to the store as it changes, in the simulation's
    batch (one unit a change), for a line whose board is watched."""

    def __init__(self, stage: Stage, store_ids: Mapping[str, int]) -> None:
        self.stage = stage
        self.store_ids = store_ids
        """Each seat's advisor id in the store, filled in as they are registered."""

    def registered(self, session: Session, store_id: int, now: datetime) -> None:
        # Not in yet: signed in when their shift starts. (One left at work by an earlier
        # run that stopped short is signed out too.)
        show_seat(session, store_id, AdvisorState.OFFLINE, now)

    def free(self, advisor_id: str, idle_since: datetime) -> None:
        self._show(advisor_id, AdvisorState.AVAILABLE, ready_at=idle_since)

    def talking(self, advisor_id: str, call_id: str) -> None:
        self._show(advisor_id, AdvisorState.BUSY, serving_call_id=call_id)

    def wrapping_up(self, advisor_id: str, until: datetime) -> None:
        # The seat coded the call as it ended: no call is left on it to code.
        self._show(advisor_id, AdvisorState.WRAP_UP, ready_at=until)

    def on_break(self, advisor_id: str, reason: BreakReason) -> None:
        self._show(advisor_id, AdvisorState.BREAK, break_reason=reason)

    def signed_out(self, advisor_id: str) -> None:
        self._show(advisor_id, AdvisorState.OFFLINE)

    def all_signed_out(self) -> None:
        stage = self.stage
        with stage.batch.unit() as session:
            for store_id in self.store_ids.values():
                show_seat(session, store_id, AdvisorState.OFFLINE, stage.clock.now())

    def _show(
        self,
        advisor_id: str,
        state: AdvisorState,
        *,
        ready_at: datetime | None = None,
        break_reason: BreakReason | None = None,
        serving_call_id: str | None = None,
    ) -> None:
        stage = self.stage
        with stage.batch.unit() as session:
            show_seat(
                session,
                self.store_ids[advisor_id],
                state,
                stage.clock.now(),
                ready_at=ready_at,
                break_reason=break_reason,
                serving_call_id=serving_call_id,
            )

"""People at the desk: advisors in the store who are not the simulation's seats, given
simulated callers and callbacks while they make themselves available.

On ``callflow serve``'s simulated line a person signs in on the web pages and works
beside the simulated advisors: the production matcher pairs them with queued callers
(:meth:`~.floor.SimulatedFloor.match`) and the claim gives them due callbacks
(:mod:`.callbacks`), by the same rules. Their state is theirs: the simulation never
signs them in or out, sends them to lunch or codes for them, and reads whether they are
free from the store, once a tick of real time and only while someone waits or a callback
is open (one query). Between reads the store has the last word: a person read as free
who went on a break meanwhile is not taken (:func:`~callflow.store.advisors.take_advisor`).
Every step is the store's own, as on a live line: taken for a caller, their leg ended
when the caller hangs up (:func:`~callflow.store.advisors.advisor_leg_ended`), the
outcome of a reached resident awaited from them (:mod:`.callbacks`).

A reached resident's outcome is held for the person for ``[dispatch] outcome_timeout``
(as the worker's dispatcher holds it); one they never record (they closed the browser)
is taken back as the workers' reaper would (:meth:`Desk.take_back_forgotten`), since
``callflow serve`` on the simulated line runs no worker.

A person's id on the floor is their store id as text, as the live providers name an
advisor to the engine; a seat's is its name (``health-1``), never a number.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from callflow.engine.matching import FreeAdvisor
from callflow.providers.sim.shifts import Shifts
from callflow.providers.sim.stage import Stage
from callflow.store.advisors import LegEnd, advisor_leg_ended, free_advisors, take_advisor
from callflow.store.attempts import retry_policy
from callflow.store.upkeep import release_expired_leases

REAP_EVERY = timedelta(minutes=1)


class Desk:
    """The people working the simulated line from the web desk; see the module docstring."""

    def __init__(self, stage: Stage, shifts: Shifts, *, became_free: Callable[[], None]) -> None:
        self.stage = stage
        self.shifts = shifts
        self.became_free = became_free
        """Called when someone at the desk is newly free for work."""
        self._free: dict[str, FreeAdvisor[str]] = {}
        """Those read free at the last look, less those given work since."""
        self._talking: set[str] = set()
        """Those the simulation has put through to a queued caller."""
        self._reaped_at: datetime | None = None

    def take_back_forgotten(self) -> list[int]:
        """Release the callbacks whose hold ran out (looked at once a line minute): the
        resident was reached, so the request is completed as the reaper completes it.
        Returns the ids released."""
        stage = self.stage
        now = stage.clock.now()
        if self._reaped_at is not None and now - self._reaped_at < REAP_EVERY:
            return []
        self._reaped_at = now
        with stage.batch.unit() as session:
            released = release_expired_leases(
                session, now, policy=retry_policy(stage.config), calendar=stage.calendar
            )
        return [lease.callback_id for lease in released]

    def is_person(self, advisor_id: str) -> bool:
        """Someone at the desk, not one of the simulation's seats."""
        return advisor_id not in self.shifts.seats

    def store_id(self, advisor_id: str) -> int:
        """The advisor's id in the store: a seat's as registered, a person's their own."""
        seat = self.shifts.store_ids.get(advisor_id)
        return int(advisor_id) if seat is None else seat

    def free(self) -> list[FreeAdvisor[str]]:
        return list(self._free.values())

    def look(self) -> None:
        """Read who at the desk is free now, if there is work for them: someone waiting or
        a callback open. Anyone newly free is offered work at once."""
        stage = self.stage
        if not (any(stage.floor.queues.values()) or len(stage.floor.backlog)):
            return
        with stage.batch.unit() as session:
            ready = free_advisors(session, stage.clock.now(), by_phone=False)
        seats = set(self.shifts.store_ids.values())
        before = self._free
        self._free = {
            str(advisor.advisor_id): FreeAdvisor(
                str(advisor.advisor_id), advisor.skills, advisor.languages, advisor.idle_since
            )
            for advisor in ready
            if advisor.advisor_id not in seats
        }
        if self._free.keys() - before.keys():
            self.became_free()

    def look_at(self, at: datetime) -> None:
        """Look again at *at* (when someone's wrap-up ends)."""
        self.stage.loop.call_at(at, self.look)

    def take(self, advisor_id: str, call_id: str) -> bool:
        """Busy with the queued caller *call_id* in the store (their desk shows the call);
        False if they are no longer free there."""
        stage = self.stage
        self._free.pop(advisor_id, None)
        with stage.batch.unit() as session:
            taken = take_advisor(
                session, int(advisor_id), call_id, stage.clock.now(), by_phone=False
            )
        if taken is None:
            return False
        self._talking.add(advisor_id)
        return True

    def took_callback(self, advisor_id: str) -> None:
        """The claim gave them a callback: not free until it is over."""
        self._free.pop(advisor_id, None)

    def leg_ended(self, advisor_id: str, how: LegEnd) -> None:
        """Their call with a queued caller is over: wrap-up after a conversation (free
        at once without one), by the line's one rule; looked at again when it ends."""
        self.look_at(self._end_leg(advisor_id, how))

    def hand_back(self) -> None:
        """Stop: whoever is talking to a simulated caller is done with them (their
        wrap-up runs), so no desk shows a call that is gone."""
        for advisor_id in sorted(self._talking):
            self._end_leg(advisor_id, LegEnd.TALKED)

    def _end_leg(self, advisor_id: str, how: LegEnd) -> datetime:
        """The leg ended in the store; returns when they are free again."""
        stage = self.stage
        now = stage.clock.now()
        wrap_up = stage.config.dispatch.wrap_up
        self._talking.discard(advisor_id)
        with stage.batch.unit() as session:
            advisor_leg_ended(session, int(advisor_id), how, now, wrap_up=wrap_up)
        return now + wrap_up if how is LegEnd.TALKED else now

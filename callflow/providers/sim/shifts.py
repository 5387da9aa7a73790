"""The simulated advisors at work: signed in and out by the staffing plan's shifts, away
for lunch, and free again once a call or a callback is written down.

Who is free is decided here, in memory, on the floor, and the claim is asked for one free
advisor at a time (see :mod:`.callbacks`); what the store shows of it is :mod:`.seats`'
(ready for good, or each change as it happens on a line whose board is watched). Each time
an advisor becomes free the simulation is told, so a waiting caller or a due callback can
take them at once. How long things take (handle times, wrap-up, when lunch falls) is drawn
by :class:`~.staff.AdvisorHabits`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, timedelta

from callflow.providers.sim.floor import SimAdvisor
from callflow.providers.sim.seats import READY_FOR_GOOD, FloorInStore, SeatStates
from callflow.providers.sim.staff import LUNCH, Seat, seats
from callflow.providers.sim.stage import Stage
from callflow.store.advisors import BreakReason, register_advisor


class Shifts:
    """Every seat of the staffing plan, and who of them is on the floor now."""

    def __init__(
        self, stage: Stage, *, became_free: Callable[[], None], in_store: bool = False
    ) -> None:
        """*in_store*: every change of a seat's state is written to the store as it happens
        (:class:`~.seats.FloorInStore`), for a line whose board is watched."""
        self.stage = stage
        self.became_free = became_free
        """Called whenever an advisor is free for new work."""
        self.seats = {seat.advisor_id: seat for seat in seats(stage.config)}
        self.store_ids: dict[str, int] = {}
        """Each seat's advisor id in the store, once registered."""
        self.states: SeatStates = (
            FloorInStore(stage, self.store_ids) if in_store else READY_FOR_GOOD
        )
        self._leaving: set[str] = set()
        self._lunch_due: set[str] = set()

    def register(self) -> None:
        """Every seat as an advisor in the store (once)."""
        if self.store_ids:
            return
        stage = self.stage
        with stage.batch.unit() as session:
            for seat in self.seats.values():
                store_id = register_advisor(
                    session, seat.advisor_id, {seat.skill}, seat.languages, stage.clock.now()
                )
                self.states.registered(session, store_id, stage.clock.now())
                self.store_ids[seat.advisor_id] = store_id

    def plan(self, day: date) -> None:
        """Put the day's shifts and lunches on the loop, inside the day's opening hours."""
        stage = self.stage
        spans = stage.calendar.day(day).spans
        if not spans:
            return
        weekday = day.strftime("%A").lower()
        for number, seat in enumerate(self.seats.values()):
            block = seat.block
            if weekday not in block.days:
                continue
            start = max(spans[0].start, stage.calendar.at_minute(day, block.hours.start_minute))
            end = min(spans[-1].end, stage.calendar.at_minute(day, block.hours.end_minute))
            if end <= start:
                continue
            stage.loop.call_at(start, functools.partial(self._sign_in, seat))
            stage.loop.call_at(end, functools.partial(self._sign_out, seat.advisor_id))
            lunch = stage.habits.lunch_at(start, end, number)
            if lunch is not None and lunch >= stage.clock.now():
                stage.loop.call_at(lunch, functools.partial(self._lunch, seat.advisor_id))

    def sign_in_everyone(self) -> None:
        """Every seat on duty from now on, with no shifts (a stationary line)."""
        self.register()
        for seat in self.seats.values():
            self._sign_in(seat)

    def _sign_in(self, seat: Seat) -> None:
        floor = self.stage.floor
        self._leaving.discard(seat.advisor_id)
        if seat.advisor_id not in floor.advisors:
            now = self.stage.clock.now()
            floor.sign_in(SimAdvisor(seat.advisor_id, seat.skill, seat.languages, idle_since=now))
            self.states.free(seat.advisor_id, now)
        self.became_free()

    def _sign_out(self, advisor_id: str) -> None:
        floor = self.stage.floor
        advisor = floor.advisors.get(advisor_id)
        if advisor is None:
            return
        self._lunch_due.discard(advisor_id)
        if advisor.free:
            self._leave(advisor_id)
        else:
            self._leaving.add(advisor_id)

    def _leave(self, advisor_id: str) -> None:
        self._leaving.discard(advisor_id)
        self.stage.floor.sign_out(advisor_id)
        self.states.signed_out(advisor_id)

    def _lunch(self, advisor_id: str) -> None:
        advisor = self.stage.floor.advisors.get(advisor_id)
        if advisor is None:
            return
        if not advisor.free:
            self._lunch_due.add(advisor_id)
            return
        self._away(advisor, LUNCH)

    def _away(self, advisor: SimAdvisor, length: timedelta) -> None:
        stage = self.stage
        advisor.busy_until = stage.clock.now() + length
        self.states.on_break(advisor.advisor_id, BreakReason.LUNCH)
        stage.loop.call_at(advisor.busy_until, lambda: self._back(advisor.advisor_id))

    def _back(self, advisor_id: str) -> None:
        advisor = self.stage.floor.advisors.get(advisor_id)
        if advisor is None or advisor.serving is not None:
            return
        if advisor_id in self._leaving:  # the shift ended during the break
            self._leave(advisor_id)
            return
        self._release(advisor_id)

    def _release(self, advisor_id: str) -> None:
        """Free on the floor, and shown so before being offered work: the claim takes only
        an advisor the store shows ready."""
        now = self.stage.clock.now()
        self.stage.floor.release(advisor_id, now)
        self.states.free(advisor_id, now)
        self.became_free()

    def talking(self, advisor_id: str, call_id: str) -> None:
        """The advisor the floor paired with the queued caller *call_id* talks with them."""
        self.states.talking(advisor_id, call_id)

    def after_work(self, advisor_id: str, wrap_up: timedelta) -> None:
        """The advisor is free again once *wrap_up* is over."""
        stage = self.stage
        until = stage.clock.now() + wrap_up
        self.states.wrapping_up(advisor_id, until)
        stage.loop.call_at(until, lambda: self.free(advisor_id))

    def all_signed_out(self) -> None:
        """The line stops: nobody is at work any more."""
        self.states.all_signed_out()

    def free(self, advisor_id: str) -> None:
        """The advisor is done: off home if their shift is over, to lunch if it is due,
        else free on the floor."""
        floor = self.stage.floor
        advisor = floor.advisors.get(advisor_id)
        if advisor is None:
            return
        if advisor_id in self._leaving:
            self._leave(advisor_id)
            return
        advisor.serving = None
        if advisor_id in self._lunch_due:
            self._lunch_due.discard(advisor_id)
            self._away(advisor, LUNCH)
            return
        self._release(advisor_id)

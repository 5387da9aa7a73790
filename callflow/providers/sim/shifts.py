"""The simulated advisors at work: signed in and out by the staffing plan's shifts, away
for lunch, and free again once a call or a callback is written down.

Who is free is decided here, in memory, on the floor; in the store every advisor stays
ready for good, and the claim is asked for one free advisor at a time (see
:mod:`.callbacks`). Each time an advisor becomes free the simulation is told, so a waiting
caller or a due callback can take them at once. How long things take (handle times,
wrap-up, when lunch falls) is drawn by :class:`~.staff.AdvisorHabits`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, timedelta

from callflow.providers.sim.floor import SimAdvisor
from callflow.providers.sim.staff import LUNCH, Seat, seats
from callflow.providers.sim.stage import Stage
from callflow.store.advisors import register_advisor, set_advisor_state
from callflow.store.models import AdvisorState


class Shifts:
    """Every seat of the staffing plan, and who of them is on the floor now."""

    def __init__(self, stage: Stage, *, became_free: Callable[[], None]) -> None:
        self.stage = stage
        self.became_free = became_free
        """Called whenever an advisor is free for new work."""
        self.seats = {seat.advisor_id: seat for seat in seats(stage.config)}
        self.store_ids: dict[str, int] = {}
        """Each seat's advisor id in the store, once registered."""
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
                # Ready in the store for good: the simulation decides in memory who is
                # free, and asks the claim for that one advisor only.
                set_advisor_state(session, store_id, AdvisorState.AVAILABLE, stage.clock.now())
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
            floor.advisors[seat.advisor_id] = SimAdvisor(
                seat.advisor_id, seat.skill, seat.languages, idle_since=self.stage.clock.now()
            )
        self.became_free()

    def _sign_out(self, advisor_id: str) -> None:
        floor = self.stage.floor
        advisor = floor.advisors.get(advisor_id)
        if advisor is None:
            return
        self._lunch_due.discard(advisor_id)
        if advisor.free:
            del floor.advisors[advisor_id]
        else:
            self._leaving.add(advisor_id)

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
        stage.loop.call_at(advisor.busy_until, lambda: self._back(advisor.advisor_id))

    def _back(self, advisor_id: str) -> None:
        floor = self.stage.floor
        advisor = floor.advisors.get(advisor_id)
        if advisor is None or advisor.serving is not None:
            return
        if advisor_id in self._leaving:  # the shift ended during the break
            self._leaving.discard(advisor_id)
            del floor.advisors[advisor_id]
            return
        floor.release(advisor_id, self.stage.clock.now())
        self.became_free()

    def after_work(self, advisor_id: str, wrap_up: timedelta) -> None:
        """The advisor is free again once *wrap_up* is over."""
        stage = self.stage
        stage.loop.call_at(stage.clock.now() + wrap_up, lambda: self.free(advisor_id))

    def free(self, advisor_id: str) -> None:
        """The advisor is done: off home if their shift is over, to lunch if it is due,
        else free on the floor."""
        floor = self.stage.floor
        advisor = floor.advisors.get(advisor_id)
        if advisor is None:
            return
        if advisor_id in self._leaving:
            self._leaving.discard(advisor_id)
            del floor.advisors[advisor_id]
            return
        advisor.serving = None
        if advisor_id in self._lunch_due:
            self._lunch_due.discard(advisor_id)
            self._away(advisor, LUNCH)
            return
        floor.release(advisor_id, self.stage.clock.now())
        self.became_free()

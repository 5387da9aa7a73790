"""A line on a virtual clock: the real engine, the real store and the real claim.

Simulated callers arrive, go through the menus, wait, give up or take a
callback (:mod:`.arrivals`); simulated advisors work their shifts, answer the
longest-waiting caller they can serve, take lunch and code what they did
(:mod:`.shifts`); with nobody waiting for them they claim the next callback
with :func:`~callflow.store.claims.claim_next_callback`, which is dialled back
with the results real numbers give and retried by the configured policy
(:mod:`.callbacks`). Residents also leave requests on the web page
(:mod:`.web_requests`), and those asked the recommendation question answer it or
hang up (:mod:`.respondents`). Everything runs on a discrete-event loop, so a day takes
seconds, and one seed always gives the same day. :class:`Simulation` builds
the parts on one :class:`~.stage.Stage` and runs them. A line run in real time
lets people at the web desk work beside the simulated advisors (:mod:`.desk`).
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import FakeClock
from callflow.engine.events import RulesChanged
from callflow.engine.flow import FlowContext
from callflow.engine.forecast import RotaCapacity
from callflow.providers.sim.arrivals import Arrivals
from callflow.providers.sim.callbacks import Callbacks
from callflow.providers.sim.calls import SimulatedCall
from callflow.providers.sim.desk import Desk
from callflow.providers.sim.floor import SimulatedFloor
from callflow.providers.sim.loop import VirtualLoop
from callflow.providers.sim.shifts import Shifts
from callflow.providers.sim.staff import AdvisorHabits
from callflow.providers.sim.stage import Stage, Tally
from callflow.providers.sim.web_requests import WebResidents
from callflow.providers.sim.workload import Caller, Workload
from callflow.service.calls import CallHandler, fixed
from callflow.service.rules import LineRules, RulesInForce
from callflow.store.calls import BufferedJournal
from callflow.store.queue_places import give_up_places_of_run
from callflow.store.session import Database

UNITS_PER_COMMIT = 20_000
"""Units of work per commit: each commit rewrites the rows of the calls in progress, and a
what-if run that fails can be run again."""
PROVIDER = "sim"
"""The provider the simulated calls are stored under."""


class Simulation:
    """Drives calls and advisors: schedule days or callers, then :meth:`run_until`."""

    def __init__(
        self,
        config: HotlineConfig,
        database: Database,
        *,
        seed: int,
        start: datetime,
        calls_per_day: float | None = None,
        habits: AdvisorHabits | None = None,
        owner: str = "sim",
        people_at_the_desk: bool = False,
        shows_places: bool | None = None,
        rules: LineRules | None = None,
        run_id: str | None = None,
    ) -> None:
        """*people_at_the_desk*: advisors in the store who are not the plan's seats are
        looked for at each :meth:`run_until` and given work while they are free, and the
        seats' states are written to the store as they change, for the board; for a line
        run in real time, where someone can answer and watch (a run of whole days takes
        seconds, and would leave their callbacks waiting for outcomes).

        *shows_places*: the callers' places in the queues are written to the store, for the
        board (by default, where people are at the desk); a what-if run answers its queue
        questions from memory and writes none.

        *rules*: the line's rules in force, asked at each step of a call (a line served live,
        where admins change them); without, *config*'s, fixed (a what-if run).

        *run_id*: what the run's call ids start with (8 characters; by default a random
        one). The recommendation question's share is drawn by the call's id, so a run
        that must be the same for the same seed names its own (:func:`~.runs.run_days`)."""
        self.config = config
        rng = random.Random(seed)
        self.clock = FakeClock(start)
        self.calendar = calendar = Calendar.from_config(config)
        window = config.callbacks.retry.allowed_hours
        capacity = RotaCapacity(calendar, config.staffing, window)
        floor = SimulatedFloor(config, capacity)
        batch = database.batch(units_per_commit=UNITS_PER_COMMIT)
        journal = BufferedJournal()
        batch.before_commit.append(journal.flush)
        workload = Workload(config, calendar, rng, calls_per_day=calls_per_day)
        self.stage = Stage(
            config,
            rng,
            self.clock,
            VirtualLoop(self.clock),
            calendar,
            floor,
            batch,
            habits or AdvisorHabits(config, rng),
            workload,
        )
        self.tally: Tally = self.stage.tally
        self.shifts = Shifts(self.stage, became_free=self._became_free, in_store=people_at_the_desk)
        self.desk = Desk(self.stage, self.shifts, became_free=self._became_free)
        self._people_at_the_desk = people_at_the_desk
        self.callbacks = Callbacks(self.stage, self.shifts, self.desk, owner=owner)
        context = FlowContext(config, calendar, capacity)
        fixed_rules = RulesInForce(config, calendar, context)
        handler = CallHandler(
            database,
            (lambda: rules.current.context) if rules is not None else fixed(context),
            floor,
            provider=PROVIDER,
            unit_of_work=batch.unit,
            journal=journal,
            on_callback_change=self.callbacks.changed,
            shows_places=people_at_the_desk if shows_places is None else shows_places,
        )
        self.arrivals = Arrivals(
            self.stage,
            handler,
            journal,
            self.shifts,
            self.callbacks,
            self.desk,
            run_id=run_id or uuid.uuid4().hex[:8],
        )
        self.web = WebResidents(
            self.stage,
            database,
            self.callbacks,
            (lambda: rules.current) if rules is not None else (lambda: fixed_rules),
        )

    @property
    def run_id(self) -> str:
        """Call ids start with this: runs into one database never collide."""
        return self.arrivals.run_id

    @property
    def calls(self) -> dict[str, SimulatedCall]:
        """The calls in progress, by call id."""
        return self.arrivals.calls

    @property
    def on_arrival(self) -> Callable[[], None] | None:
        """Called once per arriving caller (a progress bar)."""
        return self.arrivals.on_arrival

    @on_arrival.setter
    def on_arrival(self, call: Callable[[], None] | None) -> None:
        self.arrivals.on_arrival = call

    def schedule_days(self, first: date, days: int) -> int:
        """Put *days* days of callers, web requests and shifts on the loop; returns how
        many callers."""
        self.shifts.register()
        callers = 0
        for offset in range(days):
            day = first + timedelta(days=offset)
            self.shifts.plan(day)
            callers += self.schedule_callers(self.stage.workload.day(day))
            self.web.schedule_day(day)
            self.callbacks.dial_when_window_opens(day)
        return callers

    def sign_in_everyone(self) -> None:
        """Every planned advisor on duty from now on, with no shifts (a stationary line)."""
        self.shifts.sign_in_everyone()

    def schedule_callers(self, callers: Iterable[Caller]) -> int:
        """Callers who would have arrived before now (a run started mid-day) never call."""
        now = self.clock.now()
        scheduled = 0
        for caller in callers:
            if caller.arrives_at >= now:
                self.stage.loop.call_at(
                    caller.arrives_at, functools.partial(self.arrivals.arrive, caller)
                )
                scheduled += 1
        return scheduled

    def run_until(self, deadline: datetime | None) -> bool:
        """Run everything due up to *deadline* (all of it when None); False once nothing is left.

        With people at the desk, who of them is free is read first, and the callback
        backlog they may have changed on their pages: a line in real time runs on a tick
        at a time, so both are read once a tick."""
        loop, batch = self.stage.loop, self.stage.batch
        if self._people_at_the_desk:
            for callback_id in self.desk.take_back_forgotten():
                self.callbacks.changed(callback_id)
            self.callbacks.reread_backlog()
            self.desk.look()
        while True:
            at = loop.next_at()
            if at is None:
                if deadline is not None and deadline > self.clock.now():
                    self.clock.set(deadline)
                batch.commit()
                return False
            if deadline is not None and at > deadline:
                self.clock.set(deadline)
                batch.commit()
                return True
            loop.run_next()

    def rules_changed(self) -> None:
        """The line's rules changed: each caller waiting in a queue hears of it now (a
        closure that starts while they wait closes the queue on them); everyone else
        meets the new rules at their next step."""
        for call in list(self.calls.values()):
            if call.state.in_queue:
                self.arrivals.deliver(call, RulesChanged())
        self.stage.batch.commit()

    def close(self) -> None:
        """Stop: a callback being dialled goes back to the queue (its attempt ended as
        interrupted), so no request is left leased to a simulation that is gone; a person
        at the desk talking to a simulated caller is done with them; the simulated
        advisors shown in the store sign out and the callers still queued give up their
        places, so no wallboard counts them working or waiting for ever."""
        self.callbacks.interrupt()
        self.desk.hand_back()
        self.shifts.all_signed_out()
        with self.stage.batch.unit() as session:
            give_up_places_of_run(session, PROVIDER, self.run_id)
        self.stage.batch.commit()

    def _became_free(self) -> None:
        """An advisor is free: a waiting caller they can serve first, else a due callback."""
        self.arrivals.connect_waiting()
        self.callbacks.dispatch()

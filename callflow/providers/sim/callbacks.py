"""The dispatcher's side of the simulation: a free advisor with nobody waiting for them
claims the next due callback, the resident is dialled back with the results real numbers
give, and a resident not reached is tried again by the configured policy.

A person at the desk (:mod:`.desk`) is given callbacks the same way, and a reached
resident's outcome is theirs to record, as on a live line: the attempt waits for it in
their name (:func:`~callflow.store.outcomes.await_outcome`, as the worker's dispatcher
does), and their desk records it.

The claim, the lease and every step of the attempt are the store's own
(:func:`~callflow.store.claims.claim_next_callback`, :mod:`callflow.store.attempts`),
the same a worker runs; only the telephone is simulated (:mod:`.dialler`). Nothing is
dialled outside the retry policy's dialling window.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from datetime import date, datetime, timedelta

from callflow.engine.vocabulary import AttemptResult, CallbackStatus
from callflow.errors import LeaseLost
from callflow.providers.sim.calls import Speech
from callflow.providers.sim.desk import Desk
from callflow.providers.sim.dialler import ADVISOR_ANSWERS, DIAL_RESULTS, RING_FOR, WHISPER
from callflow.providers.sim.draws import weighted_choice
from callflow.providers.sim.leg_survey import ask_after_callback
from callflow.providers.sim.shifts import Shifts
from callflow.providers.sim.stage import Stage
from callflow.store.advisors import begin_wrap_up
from callflow.store.attempts import finish_attempt, mark_dialled, renew_lease, retry_policy
from callflow.store.callbacks import backlog_place, open_backlog
from callflow.store.claims import ClaimedCallback, claim_next_callback
from callflow.store.outcomes import await_outcome, record_callback_coding

NOT_REACHED_WRAP_UP = timedelta(seconds=15)


class Callbacks:
    """Callbacks claimed, dialled and ended by the simulated advisors and the people at
    the desk."""

    def __init__(self, stage: Stage, shifts: Shifts, desk: Desk, *, owner: str) -> None:
        self.stage = stage
        self.shifts = shifts
        self.desk = desk
        self.policy = retry_policy(stage.config)
        self.owner = owner
        """The lease owner the simulation claims as."""
        self.speech = Speech(stage.config)
        self._in_flight: dict[str, ClaimedCallback] = {}
        """Callbacks claimed and not yet over, by advisor."""
        self._whole_backlog_unread = True
        self._changed_requests: set[int] = set()
        """Requests changed since the floor's backlog was brought up to date."""

    def dial_when_window_opens(self, day: date) -> None:
        """Requests made overnight become due when the day's dialling window opens."""
        calendar = self.stage.calendar
        midnight = calendar.at_minute(day, 0)
        opens = calendar.first_instant_within(midnight, self.policy.window)
        if calendar.local_date(opens) == day:
            self.stage.loop.call_at(opens, self.dispatch)

    def changed(self, callback_id: int) -> None:
        """A caller stored or cancelled a request: the backlog changed, and a free advisor
        may take it now (the simulation's in-process wake-up)."""
        self._changed_requests.add(callback_id)
        pending = self.stage.workload.numbers.pending
        for number in [n for n, known in pending.items() if known == callback_id]:
            del pending[number]  # cancelled; a new request is entered again by the caller's step
        self.stage.loop.call_at(self.stage.clock.now(), self.dispatch)

    def refresh_backlog(self) -> None:
        """Bring the open requests on the floor up to date: read again the ones that changed
        since the last look (all of them the first time, and after :meth:`reread_backlog`).

        One request at a time: a busy day's backlog runs to thousands, and reading all of
        it at each of its thousands of changes would cost more than the rest of the day."""
        stage = self.stage
        if self._whole_backlog_unread:
            with stage.batch.unit() as session:
                stage.floor.backlog = open_backlog(session)
            self._whole_backlog_unread = False
            self._changed_requests.clear()
        elif self._changed_requests:
            backlog = stage.floor.backlog
            with stage.batch.unit() as session:
                for callback_id in sorted(self._changed_requests):
                    place = backlog_place(session, callback_id)
                    if place is None:
                        backlog.drop(callback_id)
                    else:
                        backlog.put(callback_id, place)
            self._changed_requests.clear()

    def reread_backlog(self) -> None:
        """Read the whole backlog at the next look: others (people on the web pages) may
        have changed requests the simulation was not told of."""
        self._whole_backlog_unread = True

    def dispatch(self) -> None:
        """Free advisors with nobody waiting for them claim the next due callback, longest
        idle first (the people at the desk among them)."""
        stage = self.stage
        now = stage.clock.now()
        dials_at = now + ADVISOR_ANSWERS + WHISPER
        if not (self._may_dial(now) and self._may_dial(dials_at)):
            return  # the resident would be dialled after the window closes
        self.refresh_backlog()
        if not stage.floor.backlog:
            return
        free: list[tuple[datetime, str, Collection[str], frozenset[str]]] = [
            (a.idle_since, a.advisor_id, (a.skill,), a.languages)
            for a in stage.floor.advisors.values()
            if a.free
        ]
        free += [(p.idle_since, p.advisor_id, p.skills, p.languages) for p in self.desk.free()]
        free.sort(key=lambda advisor: advisor[:2])
        # Skills and languages a free seat found nothing due for: a seat alike would find
        # nothing either, and this is asked each time an advisor is free. (A person at the
        # desk always asks: their state in the store is their own.)
        nothing_for: set[tuple[frozenset[str], frozenset[str]]] = set()
        for _, advisor_id, skills, languages in free:
            able, person = (frozenset(skills), languages), self.desk.is_person(advisor_id)
            if (able in nothing_for and not person) or self._someone_waits_for(skills, languages):
                continue
            with stage.batch.unit() as session:
                claimed = claim_next_callback(
                    session,
                    self.desk.store_id(advisor_id),
                    now,
                    owner=self.owner,
                    lease=stage.config.callbacks.lease,
                )
            if claimed is not None:
                self._changed_requests.add(claimed.callback_id)
                self._start_attempt(advisor_id, claimed)
            elif not person:
                nothing_for.add(able)

    def interrupt(self) -> None:
        """Stop: a callback being dialled goes back to the queue (its attempt ended as
        interrupted), so no request is left leased to a simulation that is gone."""
        stage = self.stage
        now = stage.clock.now()
        for claimed in self._in_flight.values():
            # A LeaseLost: the caller cancelled it meanwhile, and nothing is held.
            with stage.batch.unit() as session, contextlib.suppress(LeaseLost):
                finish_attempt(
                    session,
                    claimed.callback_id,
                    claimed.attempt_no,
                    AttemptResult.INTERRUPTED,
                    now,
                    owner=self.owner,
                    policy=self.policy,
                    calendar=stage.calendar,
                )
        self._in_flight.clear()

    def _may_dial(self, at: datetime) -> bool:
        return self.stage.calendar.first_instant_within(at, self.policy.window) == at

    def _someone_waits_for(self, skills: Collection[str], languages: frozenset[str]) -> bool:
        for topic, waiting in self.stage.floor.queues.items():
            if self.stage.config.queues[topic].skill not in skills:
                continue
            if any(w.language in languages for w in waiting):
                return True
        return False

    def _start_attempt(self, advisor_id: str, claimed: ClaimedCallback) -> None:
        if self.desk.is_person(advisor_id):
            self.desk.took_callback(advisor_id)
        else:
            self.stage.floor.advisors[advisor_id].serving = f"callback-{claimed.callback_id}"
        self._in_flight[advisor_id] = claimed
        self._renew_later(advisor_id, claimed)
        dial_at = self.stage.clock.now() + ADVISOR_ANSWERS + WHISPER
        self.stage.loop.call_at(dial_at, lambda: self._dial(advisor_id, claimed))

    def _renew_later(self, advisor_id: str, claimed: ClaimedCallback) -> None:
        """Renew the lease at half its length for as long as the attempt goes on."""
        stage = self.stage
        lease = stage.config.callbacks.lease

        def renew() -> None:
            if self._in_flight.get(advisor_id) is not claimed:
                return  # the attempt is over
            with stage.batch.unit() as session, contextlib.suppress(LeaseLost):
                renew_lease(
                    session, claimed.callback_id, stage.clock.now(), owner=self.owner, lease=lease
                )
            self._renew_later(advisor_id, claimed)

        stage.loop.call_at(stage.clock.now() + lease / 2, renew)

    def _dial(self, advisor_id: str, claimed: ClaimedCallback) -> None:
        stage = self.stage
        now = stage.clock.now()
        with stage.batch.unit() as session:
            try:
                mark_dialled(
                    session, claimed.callback_id, claimed.attempt_no, now, owner=self.owner
                )
            except LeaseLost as lost:  # raised before any write: the unit stays good
                self._let_go(advisor_id, lost)
                return
        stage.tally.callbacks_dialled += 1
        result = weighted_choice(stage.rng, DIAL_RESULTS)
        reached = result is AttemptResult.REACHED
        length = stage.habits.handle_time(claimed.topic) if reached else RING_FOR[result]
        stage.tell(
            "callback.dialled",
            callback_id=claimed.callback_id,
            attempt=claimed.attempt_no,
            advisor=advisor_id,
        )
        stage.loop.call_at(
            now + length, lambda: self._attempt_over(advisor_id, claimed, result, length)
        )

    def _let_go(self, advisor_id: str, lost: LeaseLost) -> None:
        """The callback is no longer ours (the caller cancelled it meanwhile): touch it no
        more, and the advisor is free."""
        stage = self.stage
        self._in_flight.pop(advisor_id, None)
        stage.tell("callback.let_go", callback_id=lost.callback_id, why=str(lost))
        person = self.desk.is_person(advisor_id)
        wrap_up = stage.config.dispatch.wrap_up if person else timedelta(0)
        with stage.batch.unit() as session:
            begin_wrap_up(session, self.desk.store_id(advisor_id), stage.clock.now(), wrap_up)
        self._changed_requests.add(lost.callback_id)
        self._after_attempt(advisor_id, NOT_REACHED_WRAP_UP)

    def _attempt_over(
        self, advisor_id: str, claimed: ClaimedCallback, result: AttemptResult, length: timedelta
    ) -> None:
        stage = self.stage
        now = stage.clock.now()
        reached = result is AttemptResult.REACHED
        person = self.desk.is_person(advisor_id)
        if reached and person:
            self._await_outcome(advisor_id, claimed, length)
            return
        with stage.batch.unit() as session:
            try:
                closed = finish_attempt(
                    session,
                    claimed.callback_id,
                    claimed.attempt_no,
                    result,
                    now,
                    owner=self.owner,
                    policy=self.policy,
                    calendar=stage.calendar,
                    duration_s=length.total_seconds() if reached else 0.0,
                    # A person's wrap-up is the line's, in the store; a seat's is drawn.
                    wrap_up=stage.config.dispatch.wrap_up if person else timedelta(0),
                )
            except LeaseLost as lost:
                self._let_go(advisor_id, lost)
                return
            if reached:
                coding = stage.habits.coding(claimed.topic)
                record_callback_coding(
                    session, claimed.callback_id, claimed.attempt_no, coding, now
                )
        if reached:  # the advisor hung up first: the resident may be asked the question
            ask_after_callback(stage, self.speech, claimed)
        self._changed_requests.add(claimed.callback_id)
        if closed.next_attempt_at is not None:
            stage.loop.call_at(closed.next_attempt_at, self.dispatch)
        elif claimed.number_e164 is not None:
            stage.workload.numbers.pending.pop(claimed.number_e164, None)
        if closed.status is CallbackStatus.COMPLETED:
            stage.tally.callbacks_completed += 1
        stage.tell(
            "callback.attempt_ended",
            callback_id=claimed.callback_id,
            result=result.value,
            status=closed.status.value,
        )
        self._in_flight.pop(advisor_id, None)
        self._after_attempt(advisor_id, stage.habits.wrap_up() if reached else NOT_REACHED_WRAP_UP)

    def _await_outcome(self, advisor_id: str, claimed: ClaimedCallback, talk: timedelta) -> None:
        """The person talked with the resident: only they can say how it went, so the
        attempt waits for their outcome, held in their name (as the worker's dispatcher
        leaves it); they wrap up meanwhile and record it on their desk."""
        stage = self.stage
        now = stage.clock.now()
        with stage.batch.unit() as session:
            try:
                await_outcome(
                    session,
                    claimed.callback_id,
                    claimed.attempt_no,
                    now,
                    owner=self.owner,
                    until=now + stage.config.dispatch.outcome_timeout,
                    duration_s=talk.total_seconds(),
                )
            except LeaseLost as lost:  # raised before any write: the unit stays good
                self._let_go(advisor_id, lost)
                return
        ask_after_callback(stage, self.speech, claimed)
        self._changed_requests.add(claimed.callback_id)
        self._in_flight.pop(advisor_id, None)
        stage.tell("callback.awaiting_outcome", callback_id=claimed.callback_id, advisor=advisor_id)

    def _after_attempt(self, advisor_id: str, seat_wrap_up: timedelta) -> None:
        """The attempt is over: a seat is free after *seat_wrap_up*; a person once the
        line's wrap-up, begun in the store, is over."""
        stage = self.stage
        if self.desk.is_person(advisor_id):
            self.desk.look_at(stage.clock.now() + stage.config.dispatch.wrap_up)
        else:
            self.shifts.after_work(advisor_id, seat_wrap_up)

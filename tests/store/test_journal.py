"""The buffered journal stores what the direct one stores: the simulator's shortcut is safe.

A simulation keeps calls and their events in memory and writes them in bulk;
a live line writes each step as it happens. Reports read the same tables
either way, so for one sequence of steps both must leave the same ``calls``
rows (but ``flow_state``, which only a live line needs) and the same events,
in the same order, whenever the buffer happens to be flushed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from callflow.engine.commands import Record
from callflow.engine.flow import new_call
from callflow.engine.state import CallState, Phase
from callflow.engine.vocabulary import CallOutcome, EventKind
from callflow.store.calls import BufferedJournal, DirectJournal
from callflow.store.models import Call, CallEvent
from callflow.store.session import Database
from tests.store.helpers import T0, add_callback, number

Change = Callable[[CallState], None]


@dataclass(frozen=True)
class Step:
    """One engine step of one call: how its state changed, and what it logged."""

    call: str
    seconds: int
    change: Change
    records: list[Record] = field(default_factory=list)


def _set(**values: Any) -> Change:
    def change(state: CallState) -> None:
        for name, value in values.items():
            setattr(state, name, value)

    return change


def two_calls(callback_id: int) -> list[Step]:
    """Caller "a" is answered; caller "b", number withheld, takes a callback. Their steps
    interleave, as on a real line."""
    due = T0 + timedelta(hours=4)
    return [
        Step(
            "a",
            0,
            _set(caller_e164=number(1), phase=Phase.IVR),
            [
                Record(
                    EventKind.CALL_ARRIVED, {"withheld": False, "number_known": True, "open": True}
                )
            ],
        ),
        Step(
            "b",
            1,
            _set(withheld=True, phase=Phase.IVR),
            [
                Record(
                    EventKind.CALL_ARRIVED, {"withheld": True, "number_known": False, "open": True}
                )
            ],
        ),
        Step(
            "a",
            9,
            _set(language="fi"),
            [Record(EventKind.LANGUAGE_CHOSEN, {"language": "fi", "by": "digit"})],
        ),
        Step(
            "b",
            10,
            _set(language="sv"),
            [Record(EventKind.LANGUAGE_CHOSEN, {"language": "sv", "by": "digit"})],
        ),
        Step(
            "a",
            15,
            _set(topic="health", queue_entered_at=T0 + timedelta(seconds=15), in_queue=True),
            [
                Record(
                    EventKind.TOPIC_CHOSEN, {"topic": "health", "language": "fi", "by": "digit"}
                ),
                Record(
                    EventKind.QUEUE_ENTERED,
                    {"topic": "health", "language": "fi", "returning": False},
                ),
            ],
        ),
        Step(
            "b",
            16,
            _set(topic="social", queue_entered_at=T0 + timedelta(seconds=16), in_queue=True),
            [
                Record(
                    EventKind.TOPIC_CHOSEN, {"topic": "social", "language": "sv", "by": "digit"}
                ),
                Record(
                    EventKind.QUEUE_ENTERED,
                    {"topic": "social", "language": "sv", "returning": False},
                ),
            ],
        ),
        Step("a", 30, _set(playback_seq=3)),  # a step that logs nothing still moves the row on
        Step(
            "a",
            61,
            _set(phase=Phase.CONNECTED, in_queue=False, advisor_id="nurse-1"),
            [
                Record(
                    EventKind.ANSWERED,
                    {"topic": "health", "language": "fi", "advisor_id": "nurse-1", "wait_s": 46.0},
                )
            ],
        ),
        Step(
            "b",
            80,
            _set(phase=Phase.CALLBACK, in_queue=False, callback_number=number(2)),
            [
                Record(
                    EventKind.QUEUE_LEFT, {"topic": "social", "reason": "callback", "wait_s": 64.0}
                ),
                Record(EventKind.CALLBACK_ACCEPTED, {"topic": "social", "after_hours": False}),
            ],
        ),
        Step(
            "b",
            95,
            _set(
                callback_id=callback_id, phase=Phase.ENDED, outcome=CallOutcome.CALLBACK_REQUESTED
            ),
            [
                Record(
                    EventKind.CALLBACK_REQUESTED,
                    {
                        "callback_id": callback_id,
                        "topic": "social",
                        "language": "sv",
                        "expected_at": due - timedelta(hours=1),
                        "due_at": due,
                        "queue_entered_at": T0 + timedelta(seconds=16),
                        "after_hours": False,
                    },
                ),
                Record(EventKind.ENDED, {"outcome": "callback_requested", "duration_s": 95.0}),
            ],
        ),
        Step(
            "a",
            400,
            _set(phase=Phase.ENDED, outcome=CallOutcome.ANSWERED),
            [Record(EventKind.ENDED, {"outcome": "answered", "duration_s": 400.0})],
        ),
    ]


def play(
    database: Database,
    journal: DirectJournal | BufferedJournal,
    prefix: str,
    steps: list[Step],
    flush_after: set[int],
    row_after: set[int] = frozenset(),
) -> None:
    """Each step in its own transaction, as a live line runs; *flush_after* says after which
    steps a buffer is flushed (it always is at the end), *row_after* after which the call's
    row is asked for (as before a callback request that refers to it)."""
    states: dict[str, CallState] = {}
    for index, step in enumerate(steps):
        call_id = f"{prefix}-{step.call}"
        now = T0 + timedelta(seconds=step.seconds)
        state = states.setdefault(call_id, new_call(call_id, now))
        step.change(state)
        with database.transaction() as session:
            journal.record(
                session, state, step.records, now, provider="sim", provider_ref=f"{call_id}-ref"
            )
            if index in row_after:
                journal.write_call(session, call_id)
            if index in flush_after and isinstance(journal, BufferedJournal):
                journal.flush(session)
    if isinstance(journal, BufferedJournal):
        with database.transaction() as session:
            journal.flush(session)


def stored(database: Database, prefix: str) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """The calls rows and events of the calls whose ids start with *prefix*, with the prefix
    taken out so two runs compare."""

    def plain(value: str | None) -> str | None:
        return value.removeprefix(prefix) if value is not None else None

    with database.transaction() as session:
        calls = session.scalars(
            select(Call).where(Call.id.startswith(prefix)).order_by(Call.id)
        ).all()
        events = session.scalars(
            select(CallEvent).where(CallEvent.call_id.startswith(prefix)).order_by(CallEvent.id)
        ).all()
        rows = [
            {
                column.key: getattr(call, column.key)
                for column in Call.__table__.columns
                if column.key != "flow_state"
            }
            | {"id": plain(call.id), "provider_ref": plain(call.provider_ref)}
            for call in calls
        ]
        log = [
            (e.at, e.kind, plain(e.call_id), e.callback_id, e.topic, e.language, e.data)
            for e in events
        ]
    return rows, log


SCHEDULES = {
    "at the end": (set(), set()),
    "after every step": (set(range(11)), set()),
    "now and then": ({1, 4, 8}, set()),
    "rows early": (set(), {0, 1, 5}),
    "rows between": ({2, 6}, {1, 3, 7, 9}),
}


def test_buffered_and_direct_journals_store_the_same_rows(database: Database) -> None:
    """Whenever the buffer is flushed, the rows equal those written step by step."""
    with database.transaction() as session:
        callback_id = add_callback(session, number(2), topic="social", language="sv")
    steps = two_calls(callback_id)
    play(database, DirectJournal(), "direct", steps, set())
    expected_calls, expected_log = stored(database, "direct")
    assert len(expected_calls) == 2 and len(expected_log) == 14
    for name, (flush_after, row_after) in SCHEDULES.items():
        prefix = f"buffered-{name.replace(' ', '-')}"
        play(database, BufferedJournal(), prefix, steps, flush_after, row_after)
        assert stored(database, prefix) == (expected_calls, expected_log), name


def test_the_rows_say_what_happened(database: Database) -> None:
    """What both journals agree on is right: answered and ended times, the outcome, the
    number, and the callback's id, topic and language lifted out of the event data."""
    with database.transaction() as session:
        callback_id = add_callback(session, number(2), topic="social", language="sv")
    play(database, BufferedJournal(), "buffered", two_calls(callback_id), set())
    calls, log = stored(database, "buffered")
    answered, requested = calls
    assert (answered["answered_at"], answered["ended_at"], answered["outcome"]) == (
        T0 + timedelta(seconds=61),
        T0 + timedelta(seconds=400),
        "answered",
    )
    assert (answered["caller_e164"], answered["topic"], answered["updated_at"]) == (
        number(1),
        "health",
        T0 + timedelta(seconds=400),
    )
    assert (requested["answered_at"], requested["withheld"], requested["caller_e164"]) == (
        None,
        True,
        None,
    )
    assert requested["ended_at"] == T0 + timedelta(seconds=95)
    (request_event,) = [entry for entry in log if entry[1] is EventKind.CALLBACK_REQUESTED]
    assert request_event[2:6] == ("-b", callback_id, "social", "sv")
    assert request_event[6]["due_at"] == (T0 + timedelta(hours=4)).isoformat()

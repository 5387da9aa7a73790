"""A callback request left on the line's web page: the same rules as one made on the phone.

A resident fills in the contact page (:mod:`callflow.web.pages.contact`): their
language, the topic, the number to call back, a short description and their
consent. :func:`take_request` either stores a callback request in the topic's
queue or says why not, and a refusal stores nothing but the note that counts it
against the limits (:mod:`callflow.store.web_limits`). The rules are the
phone's, taken from the same places:

- the number is checked as a number keyed in on the phone is
  (:func:`~callflow.values.numbers.check_callback_number`), with the same refusals;
- one open request per number (:func:`~callflow.store.callbacks.create_callback`);
  a second is told when the first is due;
- the request's terms are the phone's (:func:`~callflow.engine.callbacks.request_terms`):
  due by the queue's promise from now (after hours, from the next opening),
  dialled inside the dialling window, in line by when it was made;
- the time promised is what the phone's offer would say
  (:meth:`~callflow.engine.expectations.CallbackExpectations.at`, on the queue as
  the store shows it), and when no callback can keep the promise the request is
  refused, as the phone withholds its offer then.

The request and its ``callback.requested`` event (``channel: "web"``, no call)
are one transaction. The description is never logged, the number only masked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine import emergency
from callflow.engine.callbacks import request_terms, taken_instead_of_queue
from callflow.engine.commands import LookUpQueue, Record
from callflow.engine.expectations import SAID_TIME_STEP
from callflow.engine.prompts import round_up
from callflow.engine.state import CallState
from callflow.engine.turn import Turn
from callflow.engine.vocabulary import Channel, EventKind
from callflow.errors import DuplicatePendingCallback
from callflow.service.queue_reads import RECENT_HANDLES, StoreQueueReads
from callflow.service.rules import RulesInForce
from callflow.store.callbacks import create_callback, open_callback
from callflow.store.calls import append_events
from callflow.store.models import Call
from callflow.store.session import Database
from callflow.store.web_limits import key_hash, note_and_count
from callflow.values.numbers import check_callback_number, mask_digits

log = structlog.get_logger("callflow.web_requests")

LONGEST_DESCRIPTION = 1000
"""Characters of a description at most (the column's size)."""
ADDRESS_WINDOW = timedelta(hours=1)
NUMBER_WINDOW = timedelta(days=1)
WEB_CALLER = "web"
"""Who a web request's queue is read for: nobody in the live queue."""


class Refusal(StrEnum):
    """Why a request was not stored."""

    CLOSED = "closed"
    """``[web_requests]`` is off: the page takes no requests."""
    INVALID = "invalid"
    """A field is wrong: :attr:`Outcome.problems` says which and why."""
    TOO_MANY_FROM_ADDRESS = "too_many_from_address"
    TOO_MANY_FOR_NUMBER = "too_many_for_number"
    DUPLICATE = "duplicate"
    """The number has an open request: :attr:`Outcome.promised` is when it is due."""
    PROMISE = "promise"
    """No callback can keep the queue's promise now."""
    NOT_NOW = "not_now"
    """The queue takes no callback requests now: closed (by its calendar or an emergency
    message) and not calling back when closed, as the phone would offer none."""


@dataclass(frozen=True, slots=True)
class ContactForm:
    """What the resident sent, as typed."""

    language: str
    topic: str
    number: str
    description: str
    consent: bool


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one field: a word for the page (``number_invalid``…) and what
    it names (a region)."""

    key: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A stored request (:attr:`callback_id` set) or a refusal (:attr:`refused` set)."""

    callback_id: int | None = None
    refused: Refusal | None = None
    promised: datetime | None = None
    """When the callback is promised: the time said for a new request, the open one's
    for a duplicate."""
    due_at: datetime | None = None
    problems: Mapping[str, Problem] = field(default_factory=dict)
    """By field name: ``language``, ``topic``, ``number``, ``description``, ``consent``."""


def web_topics(config: HotlineConfig) -> list[str]:
    """The queues that take web requests: ``[web_requests].queues``, or every queue whose
    callbacks are on."""
    named = config.web_requests.queues
    if named:
        return [name for name in named if name in config.queues]
    return [name for name, queue in config.queues.items() if queue.callbacks.enabled]


class WebQueueReads(StoreQueueReads):
    """The queue as a web request sees it: as a newcomer who has not queued, with the
    line's provider's callers waiting ahead. This process hears no calls, so how long a
    call with an advisor takes is the mean of the topic's recent answered calls in the
    store (their whole length once answered), else the queue's planned handle time."""

    def __init__(self, config: HotlineConfig) -> None:
        super().__init__(config)
        self.provider = config.provider.name

    def _mean_handle(self, session: Session, topic: str) -> timedelta:
        rows = session.execute(
            select(Call.answered_at, Call.ended_at)
            .where(
                Call.topic == topic,
                Call.answered_at.is_not(None),
                Call.ended_at.is_not(None),
            )
            .order_by(Call.started_at.desc())
            .limit(RECENT_HANDLES)
        ).all()
        lengths = [(end - start).total_seconds() for start, end in rows if start and end]
        if not lengths:
            return self._config.queues[topic].default_handle_time
        return timedelta(seconds=sum(lengths) / len(lengths))


def sending_network(address: str) -> str:
    """Who is counted as one sender: an IPv4 address, or an IPv6 address's /64 (one
    subscriber's network: a client may take a new address in it for every request)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (a test client's name): counted as it is
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def take_request(
    database: Database,
    rules: RulesInForce,
    form: ContactForm,
    *,
    address: str,
    now: datetime,
) -> Outcome:
    """Store *form* as a callback request made at *now* from network *address* under
    *rules*, or say why not; a refusal stores nothing but the submission's note."""
    config = rules.config
    settings = config.web_requests
    if not settings.enabled:
        return Outcome(refused=Refusal.CLOSED)
    problems = _problems(config, form)
    checked = check_callback_number(form.number, config.callbacks.allowed_regions)
    with database.transaction() as session:
        # Counted whatever follows: a refusal is a submission too.
        sender = key_hash("address", sending_network(address))
        from_address = note_and_count(session, sender, now, ADDRESS_WINDOW)
    if from_address > settings.per_address_per_hour:
        log.warning("web_request.refused", reason=Refusal.TOO_MANY_FROM_ADDRESS.value)
        return Outcome(refused=Refusal.TOO_MANY_FROM_ADDRESS)
    if checked.e164 is None:
        problems["number"] = _number_problem(checked.problem)
    if problems:
        log.info("web_request.refused", reason=Refusal.INVALID.value, fields=sorted(problems))
        return Outcome(refused=Refusal.INVALID, problems=problems)
    assert checked.e164 is not None
    if not _taken_now(rules, form, now):
        log.info("web_request.refused", reason=Refusal.NOT_NOW.value, topic=form.topic)
        return Outcome(refused=Refusal.NOT_NOW)
    # Only a whole, valid request counts against its number: else anyone could lock a
    # resident's number out for a day by sending it with a field left wrong.
    with database.transaction() as session:
        for_number = note_and_count(session, key_hash("number", checked.e164), now, NUMBER_WINDOW)
    if for_number > settings.per_number_per_day:
        log.warning(
            "web_request.refused",
            reason=Refusal.TOO_MANY_FOR_NUMBER.value,
            number=mask_digits(checked.e164),
        )
        return Outcome(refused=Refusal.TOO_MANY_FOR_NUMBER)
    return _store(database, rules, form, checked.e164, now)


def _taken_now(rules: RulesInForce, form: ContactForm, now: datetime) -> bool:
    """Whether the topic's queue takes a callback request now, by the phone's rule for a
    callback instead of the queue: a line closed by its calendar or steered by an
    emergency message takes one only where a caller would be offered one."""
    state = CallState(call_id=WEB_CALLER, started_at=now, topic=form.topic, language=form.language)
    turn = Turn(state, now, rules.context)
    steering = emergency.steering(turn)
    return taken_instead_of_queue(turn.queue, steering, closed=not turn.calendar_open)


def _store(
    database: Database, rules: RulesInForce, form: ContactForm, number: str, now: datetime
) -> Outcome:
    shown = mask_digits(number)
    with database.transaction() as session:
        existing = open_callback(session, number)
        if existing is not None:
            return _duplicate(existing.expected_at or existing.due_at, existing.due_at, now, shown)
        question = LookUpQueue(form.topic, form.language, entered_at=None)
        snapshot = WebQueueReads(rules.config).snapshot(session, WEB_CALLER, question, now)
        said, due = rules.context.expectations.at(form.topic, form.language, now, snapshot)
        if said is None:
            log.info("web_request.refused", reason=Refusal.PROMISE.value, topic=form.topic)
            return Outcome(refused=Refusal.PROMISE, due_at=due)
        command = request_terms(
            rules.config,
            rules.calendar,
            number_e164=number,
            topic=form.topic,
            language=form.language,
            now=now,
            queue_entered_at=now,
            said=said,
        )
        try:
            request = create_callback(
                session,
                command,
                call_id=None,
                now=now,
                channel=Channel.WEB,
                description=form.description.strip() or None,
            )
        except DuplicatePendingCallback:  # stored by another process a moment ago
            raced = open_callback(session, number)
            assert raced is not None
            return _duplicate(raced.expected_at or raced.due_at, raced.due_at, now, shown)
        session.flush()
        event = Record(
            EventKind.CALLBACK_REQUESTED,
            {
                "callback_id": request.id,
                "topic": form.topic,
                "language": form.language,
                "expected_at": command.expected_at,
                "due_at": command.due_at,
                "queue_entered_at": command.queue_entered_at,
                "after_hours": not rules.calendar.is_open(now),
                "channel": Channel.WEB.value,
            },
        )
        append_events(session, None, [event], now)
        callback_id = request.id
    log.info(
        "web_request.stored",
        callback_id=callback_id,
        topic=form.topic,
        language=form.language,
        number=shown,
        due_at=command.due_at.isoformat(),
    )
    return Outcome(callback_id=callback_id, promised=command.expected_at, due_at=command.due_at)


def _duplicate(promised: datetime, due: datetime, now: datetime, shown_number: str) -> Outcome:
    """The open request's time, as the phone says it: an overdue one is promised for the
    next half hour, not for the past."""
    log.info("web_request.refused", reason=Refusal.DUPLICATE.value, number=shown_number)
    promised = max(promised, round_up(now, SAID_TIME_STEP))
    return Outcome(refused=Refusal.DUPLICATE, promised=promised, due_at=due)


def _problems(config: HotlineConfig, form: ContactForm) -> dict[str, Problem]:
    """The fields that are wrong, but the number (checked apart, as the phone does)."""
    problems: dict[str, Problem] = {}
    if form.language not in config.languages:
        problems["language"] = Problem("contact_language_missing")
    if form.topic not in web_topics(config):
        problems["topic"] = Problem("contact_topic_missing")
    if len(form.description) > LONGEST_DESCRIPTION:
        problems["description"] = Problem(
            "contact_description_long", {"n": str(LONGEST_DESCRIPTION)}
        )
    elif "\x00" in form.description:
        problems["description"] = Problem("contact_description_bad")
    if not form.consent:
        problems["consent"] = Problem("contact_consent_missing")
    return problems


NUMBER_PROBLEMS = {
    "no number": "contact_number_missing",
    "not a phone number": "contact_number_not_a_number",
    "not a valid phone number": "contact_number_invalid",
    "not a mobile or landline number": "contact_number_kind",
}
"""The number's refusals (:func:`~callflow.values.numbers.check_callback_number`), as
the page words them."""


def _number_problem(problem: str | None) -> Problem:
    if problem is not None and problem.startswith("numbers in "):
        return Problem("contact_number_region", {"region": problem.split()[2]})
    return Problem(NUMBER_PROBLEMS.get(problem or "", "contact_number_invalid"))

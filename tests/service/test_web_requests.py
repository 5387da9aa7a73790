"""A request left on the web page: stored as the phone stores one, or refused with nothing
stored, on both databases."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import Channel, EventKind
from callflow.service.rules import RulesInForce
from callflow.service.web_requests import (
    ContactForm,
    Outcome,
    Refusal,
    sending_network,
    take_request,
)
from callflow.store.models import CallbackRequest, CallEvent
from callflow.store.session import Database
from tests.engine.conftest import with_settings
from tests.store.helpers import T0

NUMBER = "040 123 4567"
E164 = "+358401234567"
HELSINKI = ZoneInfo("Europe/Helsinki")
SWEDISH = ContactForm("sv", "health", NUMBER, "Ont i halsen sedan i går.", consent=True)


def _local(text: str) -> datetime:
    """A time on the line's clock."""
    return datetime.fromisoformat(text).replace(tzinfo=HELSINKI)


def send(
    database: Database,
    config: HotlineConfig,
    form: ContactForm = SWEDISH,
    *,
    at: datetime = T0,
    address: str = "192.0.2.1",
) -> Outcome:
    return take_request(database, RulesInForce.of(config), form, address=address, now=at)


def requests(database: Database) -> list[CallbackRequest]:
    with database.reading() as session:
        return list(session.scalars(select(CallbackRequest).order_by(CallbackRequest.id)))


def events(database: Database) -> list[tuple[EventKind, str | None, dict[str, Any]]]:
    with database.reading() as session:
        rows = session.execute(select(CallEvent.kind, CallEvent.call_id, CallEvent.data))
        return [(kind, call_id, data) for kind, call_id, data in rows]


def with_web_requests(config: HotlineConfig, **changes: Any) -> HotlineConfig:
    settings = config.web_requests.model_copy(update=changes)
    return config.model_copy(update={"web_requests": settings})


def test_a_request_is_stored_in_its_queue_marked_web_with_its_event(
    database: Database, config: HotlineConfig
) -> None:
    outcome = send(database, config)

    assert outcome.refused is None and outcome.callback_id is not None
    [request] = requests(database)
    assert request.channel is Channel.WEB
    assert request.description == "Ont i halsen sedan i går."
    assert (request.number_e164, request.topic, request.language) == (E164, "health", "sv")
    # In line by the time it was made; due by the same-day promise: today's closing.
    assert request.requested_at == request.queue_entered_at == T0
    assert request.due_at == _local("2026-01-12T15:00")
    # Nobody ahead and a nurse planned: said as the phone would, "by 10.00".
    assert request.expected_at == outcome.promised == T0
    [(kind, call_id, data)] = events(database)
    assert (kind, call_id) == (EventKind.CALLBACK_REQUESTED, None)
    assert data["channel"] == "web" and data["callback_id"] == request.id
    assert "description" not in data


def test_a_request_at_23_is_due_by_the_promise_from_the_next_opening(
    database: Database, config: HotlineConfig
) -> None:
    late = _local("2026-01-12T23:00")

    outcome = send(database, config, at=late)

    [request] = requests(database)
    # Same day: made while closed, due two hours after Tuesday's opening.
    assert request.due_at == outcome.due_at == _local("2026-01-13T11:00")
    assert request.not_before == _local("2026-01-13T09:00")
    assert request.queue_entered_at == late
    assert outcome.promised == request.expected_at == _local("2026-01-13T09:00")


def test_a_second_request_for_the_number_is_told_when_the_first_is_due(
    database: Database, config: HotlineConfig
) -> None:
    first = send(database, config)
    english = ContactForm("en", "social", "+358 40 123 4567", "Another matter", consent=True)

    second = send(database, config, english, at=T0 + timedelta(minutes=5))

    assert second.refused is Refusal.DUPLICATE
    # Promised for 10.00, now past: the phone says the next half hour.
    assert first.promised == T0 and second.promised == T0 + timedelta(minutes=30)
    assert len(requests(database)) == 1 and len(events(database)) == 1


def test_the_promised_time_counts_the_callbacks_ahead(
    database: Database, config: HotlineConfig
) -> None:
    send(database, config)
    another = ContactForm("sv", "health", "040 765 4321", "", consent=True)

    outcome = send(database, config, another)

    # One request ahead of a seven-minute handle time: said "by 10.30", as on the phone.
    assert outcome.promised == T0 + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("", "contact_number_missing"),
        ("call me", "contact_number_not_a_number"),
        ("040 12", "contact_number_invalid"),
        ("+46 70 123 45 67", "contact_number_region"),
    ],
)
def test_a_number_the_phone_refuses_is_refused_and_nothing_stored(
    database: Database, config: HotlineConfig, typed: str, problem: str
) -> None:
    form = ContactForm("fi", "health", typed, "", consent=True)

    outcome = send(database, config, form)

    assert outcome.refused is Refusal.INVALID
    assert outcome.problems["number"].key == problem
    assert requests(database) == [] and events(database) == []


def test_each_wrong_field_is_named(database: Database, config: HotlineConfig) -> None:
    form = ContactForm("de", "parking", NUMBER, "x" * 1001, consent=False)

    outcome = send(database, config, form)

    assert outcome.refused is Refusal.INVALID
    assert set(outcome.problems) == {"language", "topic", "description", "consent"}
    assert requests(database) == []


def test_a_queue_not_named_for_web_requests_takes_none(
    database: Database, config: HotlineConfig
) -> None:
    only_social = with_web_requests(config, queues=["social"])

    outcome = send(database, only_social)

    assert outcome.problems.keys() == {"topic"}
    assert requests(database) == []


def test_requests_switched_off_are_not_taken(database: Database, config: HotlineConfig) -> None:
    outcome = send(database, with_web_requests(config, enabled=False))

    assert outcome.refused is Refusal.CLOSED
    assert requests(database) == []


def test_a_promise_no_callback_can_keep_is_refused_honestly(
    database: Database, config: HotlineConfig
) -> None:
    nobody_planned = config.model_copy(update={"staffing": []})

    outcome = send(database, nobody_planned)

    assert outcome.refused is Refusal.PROMISE
    assert requests(database) == [] and events(database) == []


def test_the_eleventh_submission_from_an_address_in_an_hour_is_refused(
    database: Database, config: HotlineConfig
) -> None:
    numbers = [f"040 123 45{n:02d}" for n in range(11)]
    outcomes = [
        send(database, config, ContactForm("fi", "health", number, "", consent=True),
             at=T0 + timedelta(minutes=5 * i))
        for i, number in enumerate(numbers)
    ]  # fmt: skip

    assert [o.refused for o in outcomes[:10]] == [None] * 10
    assert outcomes[10].refused is Refusal.TOO_MANY_FROM_ADDRESS
    assert len(requests(database)) == 10
    # Another address is not held up, and the first is free again an hour later.
    other = ContactForm("fi", "social", "040 765 4321", "", consent=True)
    assert send(database, config, other, address="198.51.100.7").refused is None
    later = ContactForm("fi", "other", "040 765 4322", "", consent=True)
    assert send(database, config, later, at=T0 + timedelta(minutes=66)).refused is None


def test_past_the_limit_for_a_number_in_a_day_it_is_refused(
    database: Database, config: HotlineConfig
) -> None:
    """Refused ones count too: three tries on one number (one stored, two duplicates)."""
    tries = [
        send(database, config, address=f"192.0.2.{i}", at=T0 + timedelta(minutes=i))
        for i in range(4)
    ]

    assert [t.refused for t in tries] == [
        None,
        Refusal.DUPLICATE,
        Refusal.DUPLICATE,
        Refusal.TOO_MANY_FOR_NUMBER,
    ]
    assert len(requests(database)) == 1


@pytest.mark.parametrize(
    ("address", "same_sender"),
    [
        ("2001:db8:1:2::7", "2001:db8:1:2:ffff::1"),  # one subscriber's /64
        ("192.0.2.7", "::ffff:192.0.2.7"),  # an IPv4 address as IPv6 writes it
    ],
)
def test_a_sender_is_one_network_not_one_address(address: str, same_sender: str) -> None:
    """A client with IPv6 may take a new address from its /64 for every request: counted
    as one sender, as an IPv4 address is."""
    assert sending_network(address) == sending_network(same_sender)
    assert sending_network("2001:db8:1:3::7") != sending_network(address)


def test_wrong_forms_with_a_residents_number_do_not_lock_it_out(
    database: Database, config: HotlineConfig
) -> None:
    """Only a whole, valid request counts against its number: a stranger sending the
    number with no consent, again and again, cannot stop its owner's request."""
    unconsented = dataclasses.replace(SWEDISH, consent=False)
    for i in range(5):
        refused = send(database, config, unconsented, address=f"198.51.100.{i}")
        assert refused.refused is Refusal.INVALID

    assert send(database, config).callback_id is not None


def test_a_queue_not_calling_back_when_closed_takes_no_request_at_night(
    database: Database, config: HotlineConfig
) -> None:
    """The phone's rule: a closed line offers a callback only for queues that call back
    when closed, and no queue's while an emergency message closes the line without the
    after-hours offer."""
    night = _local("2026-01-12T23:00")
    quiet = with_settings({"queues.health.callbacks.when_closed": False})

    assert send(database, quiet, at=night).refused is Refusal.NOT_NOW
    assert send(database, quiet, at=_local("2026-01-13T10:00")).callback_id is not None
    assert len(requests(database)) == 1
    outage = {
        "texts": {code: "Häiriö." for code in config.languages},
        "mode": "close",
        "after_hours_offer": False,
        "start": "2026-01-13T09:00:00",
    }
    closed = with_settings({"emergency.line": outage})
    other = dataclasses.replace(SWEDISH, number="040 765 4321")
    assert send(database, closed, other, at=_local("2026-01-13T10:00")).refused is Refusal.NOT_NOW
    assert len(requests(database)) == 1


def test_the_log_never_holds_the_description_or_the_number(
    database: Database, config: HotlineConfig
) -> None:
    with capture_logs() as logs:
        send(database, config)
        send(database, config)

    text = repr(logs)
    assert "Ont i halsen" not in text and "401234567" not in text and "1234567" not in text
    assert [line["event"] for line in logs] == ["web_request.stored", "web_request.refused"]

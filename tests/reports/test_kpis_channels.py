"""``by_channel``: contacts, those an advisor took up and the reaction times, worked out by
hand on a fixed Monday, the same on SQLite and PostgreSQL.

Reaction time: a call's arrival to its answer; a request (made on the phone or on the web
page) to its first dial. Mean to 0.1 s, half up; p90 the nearest rank, the ⌈0.9·n⌉-th
shortest.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import Channel
from callflow.reports.kpis import compute_report
from callflow.store.session import Database
from tests.reports.eventlog import EventLog, local

MONDAY = "2026-01-12"
TUESDAY = "2026-01-13"
PHONE_REACTIONS_S = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
"""Ten answered calls: mean 55.0 s, p90 the 9th shortest, 90 s."""


def a_monday(log: EventLog) -> None:
    """Ten answered health calls, one that hung up, one while closed; four phone-made
    requests (three dialled), two web requests and one made by the web page on Sunday."""
    for index, reaction in enumerate(PHONE_REACTIONS_S):
        arrives = local(MONDAY, f"09:{index:02d}:00")
        call = (
            log.call(arrives)
            .topic(arrives + timedelta(seconds=5))
            .queued(arrives + timedelta(seconds=8))
        )
        call.answered(arrives + timedelta(seconds=reaction), reaction - 8)
    hung_up = local(MONDAY, "10:00")
    log.call(hung_up).topic(hung_up).queued(hung_up).abandoned(
        hung_up + timedelta(minutes=2), wait_s=120
    )
    log.call(local(MONDAY, "20:00"), closed=True)

    due = local(TUESDAY, "15:00")
    log.request(local(MONDAY, "10:00"), due).dialled(local(MONDAY, "10:30"))  # 1800 s
    twice = log.request(local(MONDAY, "11:00"), due, topic="social")
    twice.dialled(local(MONDAY, "13:00"), "no_answer").dialled(local(MONDAY, "14:00"))  # 7200 s
    log.request(local(MONDAY, "20:00"), due).dialled(local(TUESDAY, "09:30"))  # 48600 s
    log.request(local(MONDAY, "12:00"), due)  # not dialled yet

    web = Channel.WEB
    log.request(local(MONDAY, "08:00"), due, channel=web).dialled(local(MONDAY, "09:05"))  # 3900 s
    log.request(local(MONDAY, "12:00:00"), due, channel=web, topic="social").dialled(
        local(MONDAY, "12:10:00.5")
    )  # 600.5 s
    log.request(local("2026-01-11", "23:00"), due, channel=web).dialled(local(MONDAY, "09:00"))
    log.save()


def report(database: Database, config: HotlineConfig, queue: str | None = None) -> dict[str, Any]:
    day = date.fromisoformat(MONDAY)
    return compute_report(database, config, day, day, queue=queue, now=local("2026-01-20", "12:00"))


def test_reaction_times_per_channel(
    database: Database, config: HotlineConfig, log: EventLog
) -> None:
    a_monday(log)
    channels = report(database, config)["by_channel"]
    assert list(channels) == ["phone", "callback", "web"]
    assert {name: (row["contacts"], row["taken_up"]) for name, row in channels.items()} == {
        "phone": (11, 10),  # offered while open; answered
        "callback": (4, 3),  # made on the phone; dialled
        "web": (2, 2),  # Sunday's request belongs to Sunday
    }
    assert channels["phone"]["reaction_time_mean_s"] == 55.0
    assert channels["phone"]["reaction_time_p90_s"] == 90.0
    # (1800 + 7200 + 48600) / 3; p90 = the 3rd of 3. The first dial counts, not the answer.
    assert channels["callback"]["reaction_time_mean_s"] == 19_200.0
    assert channels["callback"]["reaction_time_p90_s"] == 48_600.0
    # (3900 + 600.5) / 2 = 2250.25, half up; p90 = the 2nd of 2.
    assert channels["web"]["reaction_time_mean_s"] == 2_250.3
    assert channels["web"]["reaction_time_p90_s"] == 3_900.0


def test_web_requests_count_as_callback_requests_too(
    database: Database, config: HotlineConfig, log: EventLog
) -> None:
    a_monday(log)
    figures = report(database, config)
    assert figures["callbacks_requested"] == 6
    assert figures["by_channel"]["web"]["survey_responses"] == 0


def test_one_queue_keeps_its_own_contacts(
    database: Database, config: HotlineConfig, log: EventLog
) -> None:
    a_monday(log)
    social = report(database, config, queue="social")["by_channel"]
    assert social["phone"]["taken_up"] == 0
    assert social["phone"]["reaction_time_mean_s"] is None
    assert social["phone"]["reaction_time_p90_s"] is None
    assert (social["callback"]["taken_up"], social["callback"]["reaction_time_p90_s"]) == (
        1,
        7_200.0,
    )
    assert (social["web"]["contacts"], social["web"]["reaction_time_mean_s"]) == (1, 600.5)


def test_a_day_with_nothing_gives_zero_contacts_and_no_times(
    database: Database, config: HotlineConfig
) -> None:
    channels = report(database, config)["by_channel"]
    for row in channels.values():
        assert (row["contacts"], row["taken_up"]) == (0, 0)
        assert row["reaction_time_mean_s"] is None
        assert row["reaction_time_p90_s"] is None

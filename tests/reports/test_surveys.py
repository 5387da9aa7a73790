"""The recommendation question in the report: answers, response rate and NPS worked out by
hand, overall, per queue, per channel and per week, on SQLite and PostgreSQL.

NPS = 100 × (promoters (9–10) − detractors (0–6)) ÷ answers, to one decimal, halves away
from zero; null under ``[reports] nps_min_responses`` answers. A survey belongs to the
period by the local (Helsinki) date it was asked.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import Channel
from callflow.reports.kpis import compute_report
from callflow.reports.surveys import net_promoter_score, weeks_of
from callflow.store.session import Database
from tests.reports.eventlog import EventLog, local

MONDAY = "2026-01-12"
SAMPLE = [10, 10, 9, 8, 7, 6, 0]
"""Promoters 3, passives 2, detractors 2: NPS = 100 × (3 − 2) / 7 = 14.2857… → 14.3."""
NOW = local("2026-02-02", "12:00")


def at_least(config: HotlineConfig, answers: int) -> HotlineConfig:
    """The configuration with an NPS shown from *answers* answers on."""
    reports = config.reports.model_copy(update={"nps_min_responses": answers})
    return config.model_copy(update={"reports": reports})


def report(
    database: Database,
    config: HotlineConfig,
    first: str = MONDAY,
    last: str | None = None,
    *,
    queue: str | None = None,
    now: datetime = NOW,
) -> dict[str, Any]:
    start = date.fromisoformat(first)
    end = date.fromisoformat(last or first)
    return compute_report(database, config, start, end, queue=queue, now=now)


def the_sample(log: EventLog) -> None:
    """The seven answers on Monday morning, and two residents who hung up on the question."""
    for minute, score in enumerate([*SAMPLE, None, None]):
        log.survey(local(MONDAY, f"10:{minute:02d}"), score)
    log.save()


def test_nps_of_a_small_sample_worked_out_by_hand(
    database: Database, config: HotlineConfig, log: EventLog
) -> None:
    the_sample(log)
    figures = report(database, at_least(config, 7))
    assert figures["surveys_asked"] == 9
    assert figures["survey_responses"] == 7
    assert figures["survey_response_rate"] == 7 / 9
    assert figures["nps"] == 14.3


def test_under_the_minimum_sample_the_nps_is_null_but_the_answers_count(
    database: Database, config: HotlineConfig, log: EventLog
) -> None:
    the_sample(log)
    figures = report(database, at_least(config, 8))
    assert figures["nps"] is None
    assert figures["survey_responses"] == 7
    assert figures["survey_response_rate"] == 7 / 9
    assert report(database, config)["nps"] is None  # the example's minimum is 30


def test_a_period_without_questions_has_no_rate_and_no_nps(
    database: Database, config: HotlineConfig
) -> None:
    figures = report(database, at_least(config, 1))
    assert (figures["surveys_asked"], figures["survey_responses"]) == (0, 0)
    assert figures["survey_response_rate"] is None
    assert figures["nps"] is None
    assert figures["by_channel"]["web"]["nps"] is None


def test_by_queue_and_by_channel(database: Database, config: HotlineConfig, log: EventLog) -> None:
    """phone (health): 10, 10, 9 → +100; callback (social): 8, 7, 6 and a hang-up → −33.3;
    web (social): 0 → −100. Overall 3 promoters, 2 detractors of 7 → 14.3."""
    for minute, score in enumerate([10, 10, 9]):
        log.survey(local(MONDAY, f"10:{minute:02d}"), score, channel=Channel.PHONE, topic="health")
    for minute, answer in enumerate([8, 7, 6, None]):
        log.survey(
            local(MONDAY, f"11:{minute:02d}"), answer, channel=Channel.CALLBACK, topic="social"
        )
    log.survey(local(MONDAY, "12:00"), 0, channel=Channel.WEB, topic="social")
    log.save()
    figures = report(database, at_least(config, 1))
    assert figures["nps"] == 14.3
    channels = figures["by_channel"]
    assert [channels[name]["nps"] for name in ("phone", "callback", "web")] == [
        100.0,
        -33.3,
        -100.0,
    ]
    assert channels["callback"]["survey_responses"] == 3
    assert channels["callback"]["survey_response_rate"] == 3 / 4
    queues = figures["by_queue"]
    assert queues["health"]["nps"] == 100.0
    assert queues["social"]["surveys_asked"] == 5
    assert queues["social"]["nps"] == round(100 * (0 - 2) / 4, 1)  # 8 7 6 0 → −50
    assert queues["other"]["survey_responses"] == 0
    assert queues["other"]["nps"] is None
    only_social = report(database, at_least(config, 1), queue="social")
    assert only_social["surveys_asked"] == 5
    assert only_social["nps"] == -50.0
    assert only_social["by_channel"]["phone"]["surveys_asked"] == 0


def test_a_survey_counts_on_the_local_day_it_was_asked(
    database: Database, config: HotlineConfig, log: EventLog
) -> None:
    """00:30 on Monday in Helsinki is still Sunday in UTC; 23:30 on Sunday is not Monday."""
    log.survey(local("2026-01-11", "23:30"), 0)
    log.survey(local(MONDAY, "00:30"), 10)
    log.survey(local(MONDAY, "23:59:59"), 9)
    log.survey(local("2026-01-13", "00:00"), 0)
    log.save()
    figures = report(database, at_least(config, 1))
    assert figures["survey_responses"] == 2
    assert figures["nps"] == 100.0


def test_nps_by_week(database: Database, config: HotlineConfig, log: EventLog) -> None:
    """Wednesday 2026-01-14 to Tuesday 2026-01-27: three weeks, the first and last cut to the
    period; the middle one has no answers at all."""
    log.survey(local("2026-01-14", "10:00"), 10)
    log.survey(local("2026-01-18", "22:00"), 3)  # Sunday evening: still week 3
    log.survey(local("2026-01-27", "14:00"), 9)
    log.survey(local("2026-01-28", "09:00"), 0)  # after the period
    log.save()
    weeks = report(database, at_least(config, 1), "2026-01-14", "2026-01-27")["surveys_by_week"]
    assert list(weeks) == ["2026-W03", "2026-W04", "2026-W05"]
    assert weeks["2026-W03"] == {
        "from": "2026-01-14",
        "to": "2026-01-18",
        "surveys_asked": 2,
        "survey_responses": 2,
        "survey_response_rate": 1.0,
        "nps": 0.0,
    }
    assert weeks["2026-W04"]["from"] == "2026-01-19"
    assert weeks["2026-W04"]["surveys_asked"] == 0
    assert weeks["2026-W04"]["nps"] is None
    assert (weeks["2026-W05"]["to"], weeks["2026-W05"]["nps"]) == ("2026-01-27", 100.0)


def test_weeks_of_a_period_cross_the_year_as_iso_weeks() -> None:
    weeks = weeks_of(date(2026, 12, 30), date(2027, 1, 4))
    assert [(w.label, w.first.isoformat(), w.last.isoformat()) for w in weeks] == [
        ("2026-W53", "2026-12-30", "2027-01-03"),
        ("2027-W01", "2027-01-04", "2027-01-04"),
    ]


def test_halves_round_away_from_zero() -> None:
    assert net_promoter_score(1, 0, 400, 1) == 0.3  # 0.25
    assert net_promoter_score(0, 1, 400, 1) == -0.3
    assert net_promoter_score(0, 2, 3, 1) == -66.7


@given(st.lists(st.integers(0, 10), min_size=1, max_size=60), st.integers(1, 60))
def test_nps_is_the_share_of_promoters_minus_that_of_detractors(
    scores: list[int], minimum: int
) -> None:
    promoters = sum(score >= 9 for score in scores)
    detractors = sum(score <= 6 for score in scores)
    nps = net_promoter_score(promoters, detractors, len(scores), minimum)
    if len(scores) < minimum:
        assert nps is None
    else:
        assert nps is not None
        assert -100 <= nps <= 100
        assert abs(nps - 100 * (promoters - detractors) / len(scores)) <= 0.05 + 1e-9

"""The hotline's configuration as typed, validated models.

Field-level rules live here (types, ranges, formats). Rules that relate one
section to another (a queue naming an unknown skill, a promise margin that
runs past closing) live in :mod:`callflow.config.check`, which can report them
even when some other section is broken.
"""

from __future__ import annotations

import re
import string
from datetime import date as Date  # noqa: N812 - a field is called `date`
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from callflow.values.durations import DURATION_HELP, parse_duration
from callflow.values.numbers import parse_line_number

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected {DURATION_HELP}")
    return parse_duration(value)


def _positive(delta: timedelta) -> timedelta:
    if delta <= timedelta(0):
        raise ValueError("must be longer than zero")
    return delta


Duration = Annotated[timedelta, BeforeValidator(_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]


class DailyRange(BaseModel):
    """A range of wall-clock time within one day, written ``"09:00-15:00"``.

    Stored as minutes after midnight so ``24:00`` can close a day.
    """

    model_config = ConfigDict(frozen=True)

    start_minute: int
    end_minute: int

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _parse_range(value)
        return value

    @model_validator(mode="after")
    def _in_a_day(self) -> DailyRange:
        if not 0 <= self.start_minute < self.end_minute <= 24 * 60:
            raise ValueError("write a range within one day, earlier time first, like '09:00-15:00'")
        return self

    def __str__(self) -> str:
        return f"{_hhmm(self.start_minute)}-{_hhmm(self.end_minute)}"

    def overlaps(self, other: DailyRange) -> bool:
        return self.start_minute < other.end_minute and other.start_minute < self.end_minute

    @property
    def length(self) -> timedelta:
        return timedelta(minutes=self.end_minute - self.start_minute)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _parse_range(text: str) -> dict[str, int]:
    parts = text.replace("–", "-").split("-")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a range like '09:00-15:00'")
    start, end = (_parse_clock(p.strip()) for p in parts)
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts; write the earlier time first")
    return {"start_minute": start, "end_minute": end}


def _parse_clock(text: str) -> int:
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"{text!r} is not a time like '09:00'")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60:
        raise ValueError(f"{text!r} is not a time between 00:00 and 24:00")
    return value


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone {name!r}; use an IANA name like 'Europe/Helsinki'"
        ) from exc
    return name


def _line_number(raw: str) -> str:
    return parse_line_number(raw)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LineConfig(_Model):
    name: str = Field(min_length=1)
    number: Annotated[str, AfterValidator(_line_number)]
    timezone: Annotated[str, AfterValidator(_timezone)] = "Europe/Helsinki"
    default_language: str
    data_dir: Path = Path("../data")
    database_url: str | None = None


class Closure(_Model):
    """A whole day (``date``) or a span (``start``/``end``, local time) when the line is closed."""

    date: Date | None = None
    start: datetime | None = None
    end: datetime | None = None
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> Closure:
        if (self.date is None) == (self.start is None and self.end is None):
            raise ValueError("give either 'date' or both 'start' and 'end'")
        if self.date is None and (self.start is None or self.end is None):
            raise ValueError("a closure span needs both 'start' and 'end'")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        for stamp in (self.start, self.end):
            if stamp is not None and stamp.tzinfo is not None:
                raise ValueError("write local times without an offset; the line's timezone applies")
        return self


class SpecialHours(_Model):
    """Hours that replace the usual week on one date (a short day, an extra opening)."""

    date: Date
    hours: list[DailyRange]
    reason: str = Field(min_length=1)


class CalendarConfig(_Model):
    holidays: str | None = "FI"
    closures: list[Closure] = []
    special_hours: list[SpecialHours] = []


PROMPT_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "greeting": frozenset(),
    "language_option": frozenset({"digit"}),
    "closed": frozenset({"next_opening"}),
    "closed_callback": frozenset(),
    "topic_intro": frozenset(),
    "topic_option": frozenset({"topic", "digit"}),
    "no_input": frozenset(),
    "invalid_choice": frozenset(),
    "queue_position": frozenset({"position"}),
    "queue_wait_minutes": frozenset({"minutes"}),
    "queue_wait_short": frozenset(),
    "queue_wait_unknown": frozenset(),
    "offer_keeps_place": frozenset(),
    "offer_callback": frozenset({"when"}),
    "readback": frozenset({"number"}),
    "enter_number": frozenset(),
    "invalid_number": frozenset(),
    "callback_confirmed": frozenset({"when"}),
    "pending_exists": frozenset({"when"}),
    "pending_kept": frozenset(),
    "pending_cancelled": frozenset(),
    "closing_serve": frozenset(),
    "closing_callback": frozenset(),
    "number_failed": frozenset(),
    "goodbye": frozenset(),
    "technical_problem": frozenset(),
    "at_today": frozenset({"time"}),
    "at_day": frozenset({"day", "time"}),
    "by_today": frozenset({"time"}),
    "by_day": frozenset({"day", "time"}),
    "morning_day": frozenset({"day"}),
    "whisper": frozenset({"topic", "language", "minutes"}),
    "survey_question": frozenset(),
    "survey_thanks": frozenset(),
}
"""Every prompt a language must define (but those of :data:`PROVIDER_PROMPTS`, those of
:data:`SURVEY_PROMPTS` while the survey is off, and those of :data:`ADVISOR_PROMPTS` outside
the line's default language), with the
placeholders its text may use.

Extra prompts (such as a queue's alternative message) may be added beside
these; they take no placeholders.
"""

ADVISOR_PROMPTS = frozenset({"whisper"})
"""Prompts an advisor hears, not a caller: always in the line's default language, so
required there only (another language may define them, for a line that makes it its default)."""

SURVEY_PROMPTS = frozenset({"survey_question", "survey_thanks"})
"""The recommendation question and its thanks: required of every language when ``[survey]``
is on, and of none when it is off."""

PROVIDER_PROMPTS = frozenset({"technical_problem"})
"""Prompts only some providers play, required by them (``technical_problem``: the apology
before an Asterisk call that failed on our side is sent on), so a line on another provider
needs no text for them."""


TIME_FORMAT_FIELDS = frozenset({"h", "hh", "mm"})
DATE_FORMAT_FIELDS = frozenset({"d", "m", "y"})


def placeholders_in(text: str) -> set[str]:
    """The ``{names}`` a text uses; ``ValueError`` on broken braces or a format like ``{x:d}``
    (values are filled in as words, so a format could only fail when a caller is listening)."""
    names = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"broken braces ({exc}); write {{{{ or }}}} for a brace") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if spec or conversion:
            raise ValueError(f"{{{field}}} has a format; write plain {{{field}}}")
        names.add(field)
    return names


class LanguageConfig(_Model):
    digit: int = Field(ge=0, le=9)
    name: str = Field(min_length=1)
    time_format: str = "{h}.{mm}"
    """``{h}`` hour, ``{hh}`` hour with a leading zero, ``{mm}`` minutes: "9.00", "09:00"."""
    date_format: str = "{d}.{m}."
    """``{d}`` day, ``{m}`` month, ``{y}`` year: "24.12.", "24/12"."""
    tomorrow: str
    weekdays: list[str] = Field(min_length=7, max_length=7)
    prompts: dict[str, str]


class OverflowConfig(_Model):
    """When a waiting caller is offered a callback: either threshold is enough.

    ``queue_length``: at least this many callers are ahead of them.
    ``estimated_wait``: their estimated wait is at least this long.
    """

    queue_length: int = Field(gt=0)
    estimated_wait: PositiveDuration


class PromiseConfig(_Model):
    """The service promise: by when a callback request must be served.

    ``same_day``: by the day's closing if it arrives at least
    ``cutoff_before_close`` before it, otherwise by the next opening plus
    ``late_margin``. ``next_working_day``: by the closing of the first
    working day after the day it arrives.
    """

    kind: Literal["same_day", "next_working_day"]
    cutoff_before_close: Duration = timedelta(minutes=30)
    late_margin: Duration = timedelta(hours=2)


class QueueCallbackConfig(_Model):
    enabled: bool = True
    when_closed: bool = True
    when_promise_unmeetable: Literal["keep_waiting", "alternative"] = "keep_waiting"
    alternative_prompt: str | None = None


class QueueConfig(_Model):
    digit: int = Field(ge=0, le=9)
    skill: str
    names: dict[str, str]
    default_handle_time: PositiveDuration = timedelta(minutes=6)
    overflow: OverflowConfig
    promise: PromiseConfig
    callbacks: QueueCallbackConfig = QueueCallbackConfig()
    closing_policy: Literal["serve", "callback"] = "serve"


class MenuConfig(_Model):
    input_timeout: PositiveDuration = timedelta(seconds=6)
    number_digit_timeout: PositiveDuration = timedelta(seconds=8)
    max_attempts: int = Field(default=3, ge=1, le=9)
    fallback_topic: str
    announce_interval: PositiveDuration = timedelta(seconds=60)


class RetryConfig(_Model):
    attempts: int = Field(gt=0, le=20)
    spacing: PositiveDuration
    allowed_hours: DailyRange


def _regions(codes: list[str]) -> list[str]:
    for code in codes:
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{code!r} is not a region code; use upper-case codes like 'FI', 'SE'")
    return codes


class CallbacksConfig(_Model):
    retry: RetryConfig
    lease: PositiveDuration = timedelta(seconds=90)
    allowed_regions: Annotated[list[str], AfterValidator(_regions)] = ["FI"]


def _time_of_day(value: Any) -> int:
    if isinstance(value, str):
        return _parse_clock(value.strip()) % (24 * 60)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return value  # already minutes after midnight (a configuration copied in code)
    raise ValueError("write a time of day like '02:00'")


TimeOfDay = Annotated[int, BeforeValidator(_time_of_day)]
"""A wall-clock time in the line's timezone, written ``"02:00"``; minutes after midnight."""


class DispatchConfig(_Model):
    """How the callback dispatchers (``callflow worker``) work.

    ``sweep_interval``: how often each worker looks for work nobody announced
    (the safety net under the instant wake-ups). ``reaper_interval``: how
    often expired leases are taken back; a dead worker's callbacks are back in
    line within the lease plus this. ``at_risk_margin``: a request due within
    this is flagged at risk and moved to the front. ``wrap_up``: an advisor's
    time after a callback before the next. ``outcome_timeout``: how long a
    reached callback waits for the advisor's outcome before it is closed as
    reached without one. ``purge_at``: when the nightly retention purge runs.
    How advisors' and residents' phones are rung is :class:`ConnectConfig`.
    """

    sweep_interval: PositiveDuration = timedelta(seconds=10)
    reaper_interval: PositiveDuration = timedelta(seconds=1)
    at_risk_margin: PositiveDuration = timedelta(minutes=30)
    wrap_up: Duration = timedelta(seconds=60)
    outcome_timeout: PositiveDuration = timedelta(minutes=15)
    purge_at: TimeOfDay = 2 * 60


class ConnectConfig(_Model):
    """How this line rings advisors and residents, whichever provider carries the calls.

    ``queued``: this process connects queued callers with free advisors (rings
    an advisor the matcher picks for each). Off, callers still queue and are
    still offered callbacks, but nobody is rung for them: for a rehearsal on a
    server whose advisors are real people, or while another process connects.
    ``interval``: how often queued callers are matched with free advisors when
    nothing wakes the connector; a caller joining a queue wakes it at once, so
    this is only the safety net (an advisor back from a break, a lost wake-up).
    ``advisor_ring_timeout``: how long an advisor's phone rings, for a queued
    caller or a callback; one who does not answer goes on a break, so the next
    caller is not held up by an empty desk.
    ``resident_ring_timeout``: how long a resident's phone rings on a callback
    before the attempt counts as not answered and is retried.
    ``machine_detection``: answering-machine detection on the resident's leg
    of a callback, so a voicemail greeting is never counted as a resident
    reached (a machine is hung up on and the attempt retried).
    """

    queued: bool = True
    interval: PositiveDuration = timedelta(seconds=2)
    advisor_ring_timeout: PositiveDuration = timedelta(seconds=20)
    resident_ring_timeout: PositiveDuration = timedelta(seconds=30)
    machine_detection: bool = True


class RetentionConfig(_Model):
    numbers: PositiveDuration


class ReportsConfig(_Model):
    """Thresholds the reports measure against; docs/reference/measures.md defines each.

    ``answered_immediately_within``: a call answered by an advisor within this
    wait counts as answered immediately (the regulator's measure).
    ``service_level_within``: the service-level target wait.
    ``short_abandon_under``: a caller who hangs up in the queue sooner than
    this is a short abandon (a misdial or a change of mind), counted apart.
    """

    answered_immediately_within: PositiveDuration = timedelta(seconds=60)
    service_level_within: PositiveDuration = timedelta(seconds=120)
    short_abandon_under: PositiveDuration = timedelta(seconds=10)
    nps_min_responses: int = Field(default=30, ge=1, le=1_000_000)
    """Fewer survey answers than this in a group, and its NPS is ``null``: a handful of
    answers says nothing about the service."""


Share = Annotated[float, Field(ge=0, le=1)]


class WebRequestsConfig(_Model):
    """Callback requests a resident leaves on the line's web page (``/contact``).

    ``queues``: the queues that take them (empty: every queue whose callbacks are
    on). ``consent``: the text the page shows above its button, per language; every
    language of the line needs one while requests are on. A request is refused,
    and nothing stored, past ``per_address_per_hour`` requests from one network
    address in an hour or ``per_number_per_day`` for one phone number in a day;
    ``max_body`` caps the form's size in bytes.
    """

    enabled: bool = False
    queues: list[str] = []
    consent: dict[str, Annotated[str, Field(min_length=1, max_length=2000)]] = {}
    per_address_per_hour: int = Field(default=10, ge=1, le=10_000)
    per_number_per_day: int = Field(default=3, ge=1, le=1_000)
    max_body: int = Field(default=8192, ge=2048, le=65_536)


class SurveyConfig(_Model):
    """The recommendation question (NPS), asked when the advisor hangs up first.

    ``share``: the part of answered calls and completed callbacks that are asked
    (chosen by the contact, the same on every run). A number is never asked twice
    in a day, and never after a dropped call. ``answer_timeout``: silence after the
    question ends it without an answer; ``ten_timeout``: after a 1, how long a 0
    (for ten) is waited for before the answer is taken as 1.
    """

    enabled: bool = False
    share: Share = 1.0
    answer_timeout: PositiveDuration = timedelta(seconds=8)
    ten_timeout: PositiveDuration = timedelta(seconds=3)


class SimulationConfig(_Model):
    """Who calls the simulated line (``callflow simulate``, ``callflow serve`` without a
    provider): volume and mix, so a county can rehearse with its own figures.

    ``languages`` and ``topics`` are relative weights per language and queue;
    left empty, callers use the default language and spread evenly over the
    queues. ``calls_per_day`` is an ordinary weekday outside the winter peak.
    """

    calls_per_day: float = Field(default=60, gt=0, le=1_000_000)
    languages: dict[str, Annotated[float, Field(ge=0)]] = {}
    topics: dict[str, Annotated[float, Field(ge=0)]] = {}
    mean_patience: PositiveDuration = timedelta(minutes=4)
    withheld_share: Share = 0.04
    callback_accept_share: Share = 0.75
    web_requests_per_day: float = Field(default=0, ge=0, le=1_000_000)
    """Requests left on the web page each day, spread over the whole day (``[web_requests]``
    must be on for any to be made)."""
    survey_answer_share: Share = 0.3
    """Of those asked the recommendation question, the part who answer; the rest hang up."""
    survey_score_weights: list[Annotated[float, Field(ge=0)]] = Field(
        default=[1, 0.5, 0.5, 1, 1, 2, 3, 6, 12, 20, 25], min_length=11, max_length=11
    )
    """Relative weights of the answers 0 to 10, in that order."""


class StaffingBlock(_Model):
    """Advisors planned for some weekdays and hours; forecasts and the console line use it."""

    days: list[Weekday] = Field(min_length=1)
    hours: DailyRange
    skill: str
    languages: list[str] = Field(min_length=1)
    advisors: int = Field(gt=0)


def _base_url(value: str) -> str:
    text = value.strip()
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
        raise ValueError(
            "write a base URL, like 'https://hotline.example.fi' "
            "(http or https, no query or fragment)"
        )
    return text.rstrip("/")


def _audio_url(value: str) -> str:
    if not re.fullmatch(r"https?://\S+", value):
        raise ValueError("write an http(s) URL of an audio file Twilio can fetch")
    return value


class TwilioVoice(_Model):
    """How ``<Say>`` speaks one language: a Twilio voice name and its BCP-47 language."""

    voice: str = Field(min_length=1)
    """E.g. ``Polly.Suvi``, ``Google.sv-SE-Standard-A``."""
    language: Annotated[str, Field(pattern=r"^[a-z]{2}-[A-Z]{2}$")]
    """E.g. ``fi-FI``."""


class TwilioConfig(_Model):
    """A Twilio number drives the line (``callflow serve`` then serves its webhooks).

    ``public_url`` is the base URL Twilio calls, as Twilio sees it: Twilio
    signs the URL it requested, so behind a proxy this is the outside URL,
    not the one the server listens on. The account SID and auth token come
    from ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN``, never from the file.
    ``voices`` says each language's ``<Say>`` voice; ``audio`` replaces a
    prompt (one without placeholders) by a recording, per language.
    ``hold_music`` is played while a caller waits between announcements.
    ``status_wait``: how often a callback waiting for Twilio's status
    callbacks looks again (the callback may land in another process), and
    ``status_check``: after how long without news it asks Twilio's REST API.
    How advisors and residents are rung is :class:`ConnectConfig`.
    """

    public_url: Annotated[str, AfterValidator(_base_url)]
    voices: dict[str, TwilioVoice]
    audio: dict[str, dict[str, Annotated[str, AfterValidator(_audio_url)]]] = {}
    hold_music: Annotated[str, AfterValidator(_audio_url)] = (
        "http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3"
    )
    queue_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{0,24}$")] = "callflow-"
    status_wait: PositiveDuration = timedelta(seconds=1)
    status_check: PositiveDuration = timedelta(seconds=60)


def _asterisk_url(value: str) -> str:
    text = value.strip()
    if not re.fullmatch(r"https?://[^\s/?#]+/?", text):
        raise ValueError(
            "write the base URL of Asterisk's HTTP server, like 'http://127.0.0.1:8088' "
            "(no path: ARI is under /ari)"
        )
    return text.rstrip("/")


def _trunk(value: str) -> str:
    if placeholders_in(value) != {"number"}:
        raise ValueError(
            "write a dial string with {number} where the resident's number goes, "
            "like 'PJSIP/{number}@trunk'"
        )
    return value


class AriFailureConfig(_Model):
    """Where a caller goes when their call fails on our side (a bug, the database down),
    once they have heard the ``technical_problem`` prompt: ``action = "continue"`` hands
    the channel back to the dialplan at ``context``, ``extension``, ``priority`` (a
    voicemail, another number); ``"hangup"`` ends the call. Never silence in Stasis."""

    action: Literal["continue", "hangup"] = "hangup"
    context: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,79}$")] | None = None
    extension: Annotated[str, Field(pattern=r"^[A-Za-z0-9_+*#-]{1,79}$")] = "s"
    priority: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _context_for_continue(self) -> AriFailureConfig:
        if self.action == "continue" and self.context is None:
            raise ValueError(
                'action "continue" needs the dialplan context (extensions.conf) to send '
                'the caller to, like on_failure = { action = "continue", '
                'context = "hotline-failed" }'
            )
        if self.action == "hangup" and self.context is not None:
            raise ValueError(
                'a context is where action "continue" sends the caller; with "hangup" '
                'leave it out, or write action = "continue"'
            )
        return self


class AriConfig(_Model):
    """An Asterisk drives the line through ARI (``callflow serve`` then runs the adapter).

    ``url`` is Asterisk's HTTP server (``http.conf``) and ``username`` an
    ARI user (``ari.conf``); the password comes from ``ARI_PASSWORD``, never
    from the file. Calls reach the Stasis application ``app`` from the
    dialplan. Prompts are sound files named ``<language>/<sounds>/<prompt>``
    (a prompt with placeholders is split at them: ``<prompt>-1``,
    ``<prompt>-2``, …), which ``callflow prompts build`` renders from the
    texts; numbers, times and read-backs are sound files of their own, said
    in each language's grammar (``number-21``; Asterisk's say functions would
    swallow a caller's key and know no Finnish or Swedish). ``hold_music`` is
    the music-on-hold class
    of the queue's holding bridge. Callbacks dial the resident through
    ``trunk`` with the line's number as caller ID; with ``[connect]
    machine_detection`` the resident's leg first runs ``AMD()`` in the
    dialplan context ``amd_context`` (``config/asterisk/extensions.conf``).
    ``on_failure`` says where a caller goes when their call fails on our
    side (:class:`AriFailureConfig`).
    """

    url: Annotated[str, AfterValidator(_asterisk_url)]
    username: str = Field(min_length=1)
    app: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")] = "hotline"
    sounds: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")] = "callflow"
    hold_music: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "default"
    trunk: Annotated[str, AfterValidator(_trunk)]
    amd_context: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "callflow-amd"
    on_failure: AriFailureConfig = AriFailureConfig()


class ProviderConfig(_Model):
    """The telephony provider. Without one, ``callflow serve`` runs the simulated line."""

    twilio: TwilioConfig | None = None
    ari: AriConfig | None = None

    @property
    def name(self) -> str:
        """Which one carries the line: ``twilio``, ``ari``, else ``sim`` (the simulator). A
        call's row names it (``calls.provider``), so a process that hears no calls (the web
        page's queue reads) finds the line's callers by it."""
        if self.twilio is not None:
            return "twilio"
        return "ari" if self.ari is not None else "sim"

    @property
    def serves_queue_front_only(self) -> bool:
        """Whether the line's queues hand over their front caller only: on Twilio, whose
        ``<Dial><Queue>`` gives the advisor called whoever is first. The matcher is told
        (:attr:`callflow.engine.matching.Queue.served_in_order`), on the line and in the
        simulator, so a what-if run of a Twilio line measures the policy that line runs."""
        return self.twilio is not None

    @model_validator(mode="after")
    def _one_provider(self) -> ProviderConfig:
        if self.twilio is not None and self.ari is not None:
            raise ValueError(
                "configure one provider: [provider.twilio] or [provider.ari], not both"
            )
        return self


EMERGENCY_SCOPE_LINE = "line"
"""The scope of an emergency message said to every caller; any other scope names a queue."""


def emergency_prompt(scope: str) -> str:
    """The prompt key an emergency message of *scope* is said with, in every language:
    the providers say and render it as they do every other prompt."""
    return f"emergency_{scope}"


class EmergencyConfig(_Model):
    """A message for a bad day ("Due to a system outage at the health centre, …"), said to
    every caller (scope ``line``, after the language is known) or to a queue's callers
    (after they choose it), from ``start`` until ``end`` (local time; none: until it is
    switched off).

    ``mode``: ``serve`` goes on as usual after it; ``callbacks_only`` offers a callback
    instead of a place in the queue; ``close`` closes the line (or the queue) with it,
    offering the after-hours callback when ``after_hours_offer`` (and the queue takes
    callbacks when closed), else saying goodbye.
    """

    texts: dict[str, Annotated[str, Field(min_length=1, max_length=1000)]] = Field(min_length=1)
    mode: Literal["serve", "callbacks_only", "close"] = "serve"
    after_hours_offer: bool = True
    start: datetime
    end: datetime | None = None

    @model_validator(mode="after")
    def _times(self) -> EmergencyConfig:
        for stamp in (self.start, self.end):
            if stamp is not None and stamp.tzinfo is not None:
                raise ValueError("write local times without an offset; the line's timezone applies")
        if self.end is not None and self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self

    def in_force(self, local_now: datetime) -> bool:
        """Whether it is said at *local_now* (the line's naive wall-clock time)."""
        return self.start <= local_now and (self.end is None or local_now < self.end)


class WebConfig(_Model):
    """The HTTP server (``callflow web``; ``callflow serve``, beside any line).

    ``max_body``: the largest request body the API reads, in bytes; a larger
    one is refused with 413 before it is read (Twilio's webhooks have their
    own, smaller cap). ``docs``: serve ``/docs``, ``/redoc`` and
    ``/openapi.json``, their scripts from the app itself (no CDN); off, they
    are 404. ``metrics_host`` and ``metrics_port``: serve ``/metrics`` on an
    address of its own (one only Prometheus reaches) instead of the API's.
    ``max_header_bytes``: a request whose headers are larger is refused.
    ``keep_alive``: an idle connection is closed after this.
    ``max_connections``: connections and requests at once; beyond it the
    server answers 503 at once instead of queueing without bound.
    ``public_url``: where people open the pages (the desk, the board), as
    their browsers see it; a password link begins with it. Left out, the
    Twilio line's public URL, else ``http://127.0.0.1:8080``. Over HTTPS, the
    session cookie is sent only over HTTPS.
    """

    public_url: Annotated[str, AfterValidator(_base_url)] | None = None
    max_body: int = Field(default=1_048_576, ge=1024, le=104_857_600)
    docs: bool = True
    metrics_host: str | None = Field(default=None, min_length=1)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    keep_alive: PositiveDuration = timedelta(seconds=5)
    max_connections: int = Field(default=200, ge=1, le=100_000)

    @model_validator(mode="after")
    def _metrics_address_whole(self) -> WebConfig:
        if (self.metrics_host is None) != (self.metrics_port is None):
            raise ValueError(
                "give both metrics_host and metrics_port to serve /metrics apart, or neither"
            )
        return self


class HotlineConfig(_Model):
    line: LineConfig
    hours: dict[Weekday, list[DailyRange]]
    calendar: CalendarConfig = CalendarConfig()
    languages: dict[str, LanguageConfig]
    skills: list[str] = Field(min_length=1)
    queues: dict[str, QueueConfig]
    menu: MenuConfig
    callbacks: CallbacksConfig
    retention: RetentionConfig
    dispatch: DispatchConfig = DispatchConfig()
    connect: ConnectConfig = ConnectConfig()
    reports: ReportsConfig = ReportsConfig()
    simulation: SimulationConfig = SimulationConfig()
    staffing: list[StaffingBlock] = []
    provider: ProviderConfig = ProviderConfig()
    web: WebConfig = WebConfig()
    web_requests: WebRequestsConfig = WebRequestsConfig()
    survey: SurveyConfig = SurveyConfig()
    emergency: dict[str, EmergencyConfig] = {}
    """Emergency messages by scope: ``line``, or a queue's name."""

    source: Path | None = Field(default=None, exclude=True)
    """The file this configuration was read from; relative paths resolve against it."""

    @cached_property
    def language_order(self) -> list[str]:
        """Languages in menu order (by digit)."""
        return sorted(self.languages, key=lambda code: self.languages[code].digit)

    @cached_property
    def topic_order(self) -> list[str]:
        """Topics in menu order (by digit)."""
        return sorted(self.queues, key=lambda name: self.queues[name].digit)

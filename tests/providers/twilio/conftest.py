"""A Twilio line on a real database with a fake clock, and callers who follow its TwiML.

:class:`Caller` plays Twilio's part for one inbound call: it posts the
webhooks Twilio would post, signed as Twilio signs them
(:class:`tests.fakes.twilio_server.Webhooks`), and follows the TwiML it gets
the way Twilio runs it — prompts then the ``<Redirect>``, ``<Enqueue>`` then
its ``waitUrl``, ``<Leave>`` then the ``<Enqueue>`` action — until the caller
is asked something, waits in a queue with music, or is hung up on.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from callflow.config.load import load_config
from callflow.config.models import HotlineConfig, ProviderConfig, TwilioConfig, TwilioVoice
from callflow.engine.clock import FakeClock
from callflow.providers.twilio.provider import TwilioProvider
from callflow.providers.twilio.rest import HttpxTwilioClient
from callflow.providers.twilio.settings import TwilioAccount, TwilioSettings, twilio_settings
from callflow.providers.twilio.store import add_call
from callflow.service.rules import LineRules
from callflow.store.base import Base
from callflow.store.session import Database
from callflow.store.twilio_tables import TwilioLeg
from callflow.web.app import create_app
from tests.conftest import EXAMPLE_CONFIG
from tests.conftest import _empty_postgres as empty_postgres
from tests.fakes.twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    Webhooks,
    check_gather,
    gather_post,
    inbound_params,
    new_call_sid,
)
from tests.store.helpers import T0

PUBLIC_URL = "https://hotline.example.fi/sote"
"""Where Twilio calls the line: behind a proxy whose path the app never sees."""
MOBILE = "+358401234567"


def twilio_section(**changes: Any) -> TwilioConfig:
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "voices": {
            "fi": TwilioVoice(voice="Polly.Suvi", language="fi-FI"),
            "sv": TwilioVoice(voice="Polly.Astrid", language="sv-SE"),
            "en": TwilioVoice(voice="Polly.Amy", language="en-GB"),
        },
        "hold_music": "https://media.example.fi/odotus.mp3",
        "status_wait": timedelta(milliseconds=50),
    }
    values.update(changes)
    return TwilioConfig(**values)


def with_twilio(config: HotlineConfig, **changes: Any) -> HotlineConfig:
    return config.model_copy(update={"provider": ProviderConfig(twilio=twilio_section(**changes))})


BOTH_DATABASES = pytest.mark.parametrize(
    "database_url",
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
    indirect=True,
)
"""For the few tests that also run on PostgreSQL; the others run on SQLite only."""


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database: SQLite, unless a test asks for both (BOTH_DATABASES)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "callflow.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


@pytest.fixture
def twilio_config(config: HotlineConfig) -> HotlineConfig:
    return with_twilio(config)


@pytest.fixture
def settings(twilio_config: HotlineConfig) -> TwilioSettings:
    return twilio_settings(twilio_config, TwilioAccount(ACCOUNT_SID, AUTH_TOKEN))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@dataclass
class TwilioRig:
    """The line on Twilio under test: the app with its webhooks, Twilio's side of them, and
    the store."""

    app: FastAPI
    provider: TwilioProvider
    webhooks: Webhooks
    database: Database
    clock: FakeClock
    fake: FakeTwilio

    def call(self, number: str = MOBILE) -> Caller:
        return Caller(self, number)

    def rows(self, table: str) -> list[dict[str, Any]]:
        with self.database.reading() as session:
            return [
                dict(row._mapping) for row in session.execute(select(Base.metadata.tables[table]))
            ]

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row a webhook could change, to show that a refused one changed nothing."""
        tables = ("calls", "call_events", "callback_requests", "twilio_calls", "twilio_steps")
        with self.database.reading() as session:
            return {
                name: sorted(
                    (tuple(row) for row in session.execute(select(Base.metadata.tables[name]))),
                    key=repr,
                )
                for name in tables
            }


def handed_to_advisor(line: TwilioRig, call: Caller, advisor_id: int) -> str:
    """The queued *call* taken by *advisor_id* after 90 s: the advisor's call written down
    as the connector does, and Twilio's dequeue webhook answered. That call's sid."""
    line.clock.advance(timedelta(seconds=90))
    placed = new_call_sid()
    with line.database.transaction() as session:
        add_call(
            session, placed, TwilioLeg.CONNECT, line.clock.now(), status="in-progress",
            advisor_id=advisor_id, topic="health", language="fi",
        )  # fmt: skip
    answer = line.webhooks.post_now(
        f"{PUBLIC_URL}/twilio/voice/connected?advisor={advisor_id}",
        {
            **call.params(),
            "QueueSid": "QU" + "1" * 32,
            "QueueTime": "90",
            "DequeingCallSid": placed,
        },
    )
    assert answer.status_code == 200
    return placed


@pytest.fixture
def line(
    settings: TwilioSettings, database: Database, clock: FakeClock, fake: FakeTwilio
) -> TwilioRig:
    return twilio_line(settings, database, clock, fake)


@pytest.fixture
def live_line(tmp_path: Path, database: Database, clock: FakeClock, fake: FakeTwilio) -> TwilioRig:
    """The line under the rules ``callflow serve`` runs it by: its file, with the settings
    admins store (``line.provider.rules.change``) laid over it."""
    rules = LineRules.load(load_config(twilio_line_file(tmp_path)), database)
    settings = twilio_settings(rules.config, TwilioAccount(ACCOUNT_SID, AUTH_TOKEN))
    return twilio_line(settings, database, clock, fake, rules=rules)


def twilio_line(
    settings: TwilioSettings,
    database: Database,
    clock: FakeClock,
    fake: FakeTwilio,
    rules: LineRules | None = None,
) -> TwilioRig:
    http = HttpxTwilioClient(route=fake.route)
    provider = TwilioProvider(settings, database, clock, http=http, rules=rules)
    app = create_app(settings.config, database, clock=clock, webhooks=provider.webhooks())
    webhooks = Webhooks(public_url=PUBLIC_URL, app=app)
    fake.webhooks = webhooks
    return TwilioRig(app, provider, webhooks, database, clock, fake)


def twilio_line_file(folder: Path) -> Path:
    """The example configuration file with the ``[provider.twilio]`` of :func:`twilio_section`."""
    section = "\n".join(
        [
            "",
            "[provider.twilio]",
            f'public_url = "{PUBLIC_URL}"',
            'hold_music = "https://media.example.fi/odotus.mp3"',
            "[provider.twilio.voices]",
            *(
                f'{code} = {{ voice = "{voice.voice}", language = "{voice.language}" }}'
                for code, voice in twilio_section().voices.items()
            ),
            "",
        ]
    )
    path = folder / "hotline.toml"
    path.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8") + section, encoding="utf-8")
    return path


def says(document: ET.Element) -> list[str]:
    return [element.text or "" for element in document.iter("Say")]


@dataclass
class Caller:
    """One call to the line, as Twilio makes it (see the module docstring)."""

    line: TwilioRig
    number: str
    sid: str = field(default_factory=new_call_sid)
    heard: list[str] = field(default_factory=list)
    """Sentences heard since the caller last did something."""
    document: ET.Element | None = None
    queue_action: str | None = None
    answers: list[httpx.Response] = field(default_factory=list)

    # -- what the caller does ------------------------------------------------------------

    def dial(self) -> Caller:
        self.heard = []
        return self._follow(self._post(f"{PUBLIC_URL}/twilio/voice", self.params()))

    def press(self, keys: str, *, finished_on_key: str = "") -> Caller:
        """Keys at the question being asked (or during prompts or music in a queue)."""
        gather = self.gather()
        params = {**self.params(), **gather_post(gather, keys, finished_on_key=finished_on_key)}
        self.heard = []
        return self._follow(self._post(gather.attrib["action"], params))

    def say_nothing(self) -> Caller:
        """Silence until the question times out."""
        gather = self.gather()
        check_gather(gather)
        assert gather.attrib.get("actionOnEmptyResult") == "true", "not a question"
        self.heard = []
        return self._follow(self._post(gather.attrib["action"], {**self.params(), "Digits": ""}))

    def wait_a_turn(self) -> Caller:
        """The hold music plays out; Twilio asks the ``waitUrl`` again."""
        assert self.document is not None
        redirect = self.document.find("Redirect")
        assert redirect is not None and "/twilio/voice/wait" in (redirect.text or "")
        self.heard = []
        return self._follow(self._post(redirect.text or "", self.params()))

    def hang_up(self) -> httpx.Response:
        params = {**self.params(), "CallStatus": "completed", "CallDuration": "75"}
        return self._post(f"{PUBLIC_URL}/twilio/status", params)

    def leave_queue(self, queue_result: str) -> Caller:
        """Twilio posts the ``<Enqueue>`` action: the caller left the queue (hung up, ...), or
        ``bridged``: their talk with the advisor who dequeued them is over, and their call
        goes on with this answer. Twilio says ``bridged`` only of a caller it handed over
        (a ``<Queue url>`` request about them)."""
        assert self.queue_action is not None, "not in a queue"
        if queue_result == "bridged":
            assert any(
                "/twilio/voice/connected" in url and params.get("CallSid") == self.sid
                for url, params in self.line.webhooks.sent
            ), "bridged, but nobody dequeued this caller"
        self.heard = []
        params = {**self.params(), "QueueResult": queue_result, "QueueTime": "30"}
        return self._follow(self._post(self.queue_action, params))

    # -- what the caller hears -------------------------------------------------------------

    @property
    def text(self) -> str:
        return " ".join(self.heard)

    @property
    def asked(self) -> bool:
        return self.document is not None and self._question() is not None

    @property
    def hung_up_on(self) -> bool:
        return self.document is not None and self.document.find("Hangup") is not None

    @property
    def waiting(self) -> bool:
        """In a queue with music, the next turn due when the music ends."""
        return self.document is not None and bool(
            [p for p in self.document.iter("Play") if "odotus" in (p.text or "")]
        )

    # -- Twilio's part --------------------------------------------------------------------------

    def params(self) -> dict[str, str]:
        return inbound_params(self.sid, self.number)

    def _post(self, url: str, params: dict[str, str]) -> httpx.Response:
        answer = self.line.webhooks.post_now(url, params)
        self.answers.append(answer)
        return answer

    def _follow(self, answer: httpx.Response) -> Caller:
        """Run the TwiML as Twilio does, until the caller has to do something."""
        for _ in range(20):
            assert answer.status_code == 200, answer.text
            document = ET.fromstring(answer.text)
            self.document = document
            self.heard += says(document)
            if document.find("Hangup") is not None or self._question() is not None:
                return self
            enqueue = document.find("Enqueue")
            if enqueue is not None:
                self.queue_action = enqueue.attrib["action"]
                answer = self._post(enqueue.attrib["waitUrl"], self.params())
                continue
            if document.find("Leave") is not None:
                answer = self._post(
                    self.queue_action or "", {**self.params(), "QueueResult": "leave"}
                )
                self.queue_action = None
                continue
            if self.waiting:
                return self
            redirect = document.find("Redirect")
            if redirect is None:
                return self  # the document ends: Twilio would hang up
            answer = self._post(redirect.text or "", self.params())
        raise AssertionError("the line kept redirecting")

    def _question(self) -> ET.Element | None:
        assert self.document is not None
        for gather in self.document.iter("Gather"):
            if gather.attrib.get("actionOnEmptyResult") == "true":
                return gather
        return None

    def gather(self) -> ET.Element:
        assert self.document is not None
        gather = self.document.find("Gather")
        assert gather is not None, f"nothing listens for keys: {ET.tostring(self.document)!r}"
        return gather

"""Asterisk adapter: 1,000 concurrent calls through one adapter process, against the fake Asterisk.

Run: ``python bench/ari.py [--profile default|stampede|all] [--calls 1000]
[--ramp S] [--hold 10] [--release S] [--announce S] [--advisors 60]
[--prompt 2] [--database-url URL] [--seed N] [--cprofile FOLDER]``.
Progress goes to stderr; the last stdout line is one JSON object.

Profiles (``--profile``, ``default`` if none is named):

- ``default``: callers come and go at the same pace, a thousand over five
  minutes each way (3.3 a second, a busy exchange's rush), and hear the
  example config's announcements (every 60 s). Target: p99 ≤ 50 ms.
- ``stampede``: a Monday-morning surge ten times that — a thousand over 30 s
  each way (33 new calls a second), announcements every 15 s (issue 20's
  row). Target this round: p99 ≤ 250 ms (heading for 50 ms).
- ``all``: both, one after the other in this run; the last line then holds
  each profile's figures under its name.

An explicit ``--ramp``, ``--release`` or ``--announce`` overrides the
profile's. ``--cprofile FOLDER`` runs the adapter process under cProfile (its
event loop and its store thread, each to a ``.prof`` file there) and prints
the top of each to stderr: the figures are then slower than without it.

Three processes, so that each one's CPU is its own:

- **The fake Asterisk** (``tests/fakes/ari_server.py``: HTTP + WebSocket on
  127.0.0.1, every request checked against Asterisk's api-docs) and, on its
  event loop, the callers. Caller *n* dials in at ``n × ramp / calls``
  seconds, listens to what is played to them (every prompt lasts
  ``--prompt`` seconds) and presses keys as a person would, a moment after
  hearing the options: a language, then a topic. In the queue they hear
  music and, every ``--announce`` seconds (the example config's 60 by
  default), their position and the callback offer. When every
  caller is queued — all held at once — the line holds them ``--hold``
  seconds, then lets them go over ``--release`` seconds: the advisors whose
  phones have been ringing for the first callers pick up (over ten seconds)
  and talk five seconds; three in five of the others take the next callback offer (1
  while it is said, 1 again to confirm the number read back to them) and
  are hung up by the line after its confirmation, or hang up themselves if
  the queue has grown too short for an offer; the rest hang up in the queue.
- **The adapter**: the real :class:`~callflow.providers.ari.adapter.AsteriskAdapter`
  as ``callflow serve`` runs it (its ARI client, its event loop, its store
  thread, what it made at start frozen out of the garbage collector's
  walks), on SQLite in a temporary folder unless ``--database-url`` names
  another database (give it one of its own), logging JSON at info to a
  file. Its clock runs at the wall clock's pace from a Monday 10:00, so the
  line is open; ``--advisors`` advisors are signed in, each with a phone
  on the fake that rings until the release. (The advisor API ``callflow
  serve`` also serves sits idle here and is left out.)
- **This process**, which starts the two, reads the adapter's CPU and peak
  memory from ``/proc`` and counts the calls the store has closed.

Figures:

- **Calls held at peak**: callers' channels up in the application at once,
  as the fake counts them.
- **Calls completed**: calls whose every step went as the caller expected
  and that the store has closed with the outcome their path calls for.
- **Event-to-command latency**, measured inside the fake: from the moment it
  sends an event that calls for an answer (a caller's ``StasisStart``, a key
  pressed to answer a menu, the end of the callback confirmation, an
  advisor's ``StasisStart`` and the end of their talk) to the arrival of the
  adapter's first request about that call. The fake's own time to put the
  event on the socket is in it, so the figure errs on the slow side.
- **Adapter CPU seconds per call** (from its start of calls to the last
  call's end, idle time included) and its **peak resident memory** (VmHWM).

Targets: 1,000 calls held at once and every call completed, p99 as the
profile says.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import random
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from callflow.config.load import load_config  # noqa: E402
from callflow.config.models import AriConfig, HotlineConfig, ProviderConfig  # noqa: E402
from callflow.providers.ari.connector import LEG_PREFIX  # noqa: E402
from callflow.store.models import Call  # noqa: E402
from callflow.store.session import Database  # noqa: E402

if TYPE_CHECKING:
    from callflow.providers.ari.adapter import AsteriskAdapter

EXAMPLE_CONFIG = ROOT / "config" / "hotline.toml"
LINE_TIME = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)  # Monday 10:00 in Helsinki: open
STAFFED_PER_BLOCK = 100
"""Planned advisors per staffing block: enough that a callback can be promised to a
thousand callers today, so the offer is made."""
TALK_SECONDS = 5.0
PICKUP_SPREAD = 10.0
"""Seconds over which the ringing advisors pick up, each when they get to it."""
THINK_SECONDS = (0.3, 1.5)
"""How long after hearing the options a caller presses a key."""
WAIT_LIMIT = 120.0
"""Seconds any one thing a caller waits for may take before the call counts as stuck."""
SKILLS = ("nurse", "social_counsellor", "service_advisor")
LANGUAGE_SHARES = {"fi": 0.8, "sv": 0.12, "en": 0.08}
TOPIC_SHARES = {"health": 0.45, "social": 0.23, "other": 0.32}
CALLBACK_SHARE = 0.6
OFFER_PATIENCE = 2.5
"""Announcement intervals a caller who wants a callback waits for the next offer before
giving up: the line offers one only while the queue is long."""
TARGET_HELD = 1000


@dataclass(frozen=True)
class Profile:
    """A crowd's pace and the latency it must be served with (see the module docstring)."""

    ramp: float
    release: float
    announce: float | None
    target_p99_ms: float


PROFILES = {
    "default": Profile(ramp=300.0, release=300.0, announce=None, target_p99_ms=50.0),
    "stampede": Profile(ramp=30.0, release=30.0, announce=15.0, target_p99_ms=250.0),
}
DIRECTION_P99_MS = 50.0
"""Where the stampede's target heads after this round."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_config(url: str, announce: float | None) -> HotlineConfig:
    """The example line on the fake Asterisk at *url*, staffed for a thousand callers;
    its waiting callers hear an announcement every *announce* seconds (None: as the
    example config says)."""
    config = load_config(EXAMPLE_CONFIG)
    ari = AriConfig(
        url=url,
        username="hotline",
        app="hotline",
        trunk="PJSIP/{number}@trunk",
    )
    # the advisors' phones ring until the release: no break for not answering
    connect = config.connect.model_copy(update={"advisor_ring_timeout": timedelta(minutes=30)})
    staffing = [b.model_copy(update={"advisors": STAFFED_PER_BLOCK}) for b in config.staffing]
    menu = config.menu
    if announce is not None:
        menu = menu.model_copy(update={"announce_interval": timedelta(seconds=announce)})
    return config.model_copy(
        update={
            "provider": ProviderConfig(ari=ari),
            "connect": connect,
            "staffing": staffing,
            "menu": menu,
        }
    )


def advisor_phone(n: int) -> str:
    return f"PJSIP/advisor-{n}"


@dataclass(frozen=True)
class Options:
    calls: int
    ramp: float
    hold: float
    release: float
    advisors: int
    prompt: float
    announce: float | None
    seed: int
    first_number: int
    """Callers' numbers are +358 40 from this on: a database used before has no open
    callback request for them."""
    cprofile: str | None = None
    """Where the adapter's cProfile statistics go (None: it runs without)."""


# -- the adapter process -----------------------------------------------------------------------


def adapter_side(
    options: Options, fake_url: str, database_url: str, log_path: str, control: Connection
) -> None:
    """The real adapter on the fake, its advisors signed in, until terminated."""
    from callflow.engine.clock import AcceleratedClock  # noqa: PLC0415
    from callflow.logging import configure_logging  # noqa: PLC0415
    from callflow.providers.ari.adapter import AsteriskAdapter  # noqa: PLC0415
    from callflow.providers.ari.client import AriClient  # noqa: PLC0415
    from callflow.providers.ari.provider import freeze_what_start_made  # noqa: PLC0415
    from callflow.store.advisors import register_advisor, set_advisor_state  # noqa: PLC0415
    from callflow.store.migrate import ensure_current  # noqa: PLC0415
    from callflow.store.models import AdvisorState  # noqa: PLC0415
    from callflow.store.queues import sync_queues  # noqa: PLC0415
    from tests.fakes.ari_server import PASSWORD  # noqa: PLC0415

    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (open until the process ends)
    configure_logging("info", json=True, stream=log)
    config = bench_config(fake_url, options.announce)
    assert config.provider.ari is not None
    database = Database.connect(database_url)
    ensure_current(database)
    clock = AcceleratedClock(LINE_TIME, speed=1.0)
    with database.transaction() as session:
        now = clock.now()
        sync_queues(session, config, now)
        for n in range(options.advisors):
            advisor_id = register_advisor(
                session,
                f"bench-advisor-{n}",
                [SKILLS[n % len(SKILLS)]],
                list(config.languages),
                now,
                dial_string=advisor_phone(n),
            )
            set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, now)
    ari = config.provider.ari

    profiles = AdapterProfiles(options.cprofile) if options.cprofile else None

    async def run() -> None:
        async with AriClient(ari.url, ari.username, PASSWORD, ari.app) as client:
            line = AsteriskAdapter(config, database, clock, client)
            if profiles is not None:
                await profiles.start(line)
            freeze_what_start_made()  # as AriProvider does in callflow serve
            control.send("ready")
            await line.run()

    asyncio.run(run())


class AdapterProfiles:
    """cProfile in the adapter's event loop and in its store thread, written to *folder*
    when the process is told to stop (SIGTERM), as the bench stops it.

    A profile is per thread: the store thread's is switched on by a job run in it (SQLite's
    executor has the one thread).
    """

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.loop = cProfile.Profile()
        self.store = cProfile.Profile()

    async def start(self, line: AsteriskAdapter) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        await asyncio.get_running_loop().run_in_executor(line.executor, self.store.enable)
        signal.signal(signal.SIGTERM, self._stop)
        self.loop.enable()

    def _stop(self, _signal: int, _frame: object) -> None:
        self.loop.disable()
        for name, profile in (("loop", self.loop), ("store", self.store)):
            profile.dump_stats(self.folder / f"adapter-{name}.prof")
        os._exit(0)


# -- the fake process: Asterisk and the callers ------------------------------------------------


class Stuck(Exception):
    """A caller waited in vain; the message says for what."""


@dataclass(eq=False)
class Ear:
    """What one caller's channel has been played and been through, for their script."""

    heard: list[str] = field(default_factory=list)
    """Media started on the channel, in order (``sound:fi/callflow/greeting``)."""
    bridges: list[str] = field(default_factory=list)
    gone: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def has_heard(self, name: str, since: int = 0) -> bool:
        """Whether *name* has been played, counting from the *since*-th media on."""
        return any(f"/{name}" in media for media in self.heard[since:])

    async def until(
        self, condition: Callable[[], bool], what: str, limit: float = WAIT_LIMIT
    ) -> None:
        deadline = time.monotonic() + limit
        while not condition():
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                raise Stuck(what) from None


class ReplyTimes:
    """Event-to-command latency: from an event that calls for an answer about a call to the
    first request the adapter sends about it.

    A caller's script arms the event it is about to cause (a key that answers a menu),
    or the one it knows is coming (the end of the confirmation); some events always call
    for an answer and start the clock themselves.
    """

    def __init__(self) -> None:
        self._armed: dict[str, tuple[str, str]] = {}
        """Channel the event will be about → (event type, channel the answer is about)."""
        self._running: dict[str, tuple[str, float]] = {}
        """Channel an answer is awaited about → (event type, when the event was sent)."""
        self.samples: dict[str, list[float]] = defaultdict(list)

    def expect(self, channel_id: str, kind: str, about: str | None = None) -> None:
        self._armed[channel_id] = (kind, about or channel_id)

    def sent(self, channel_id: str, kind: str, at: float) -> None:
        armed = self._armed.get(channel_id)
        if armed is not None and armed[0] == kind:
            del self._armed[channel_id]
            self.start(armed[1], kind, at)

    def start(self, about: str, kind: str, at: float) -> None:
        self._running[about] = (kind, at)

    def answered(self, channels: Iterable[str], at: float) -> None:
        for channel_id in channels:
            running = self._running.pop(channel_id, None)
            if running is not None:
                self.samples[running[0]].append(at - running[1])

    def unanswered(self) -> int:
        return len(self._running)


class Switchboard:
    """Follows the fake's events and requests: each caller's :class:`Ear`, the calls up
    at once, the latencies."""

    def __init__(self) -> None:
        self.ears: dict[str, Ear] = defaultdict(Ear)
        self.live: set[str] = set()
        self.peak = 0
        self.replies = ReplyTimes()
        self._playback_channel: dict[str, str] = {}
        self._caller_of_leg: dict[str, str] = {}

    def event(self, app: str, message: dict[str, Any]) -> None:
        at = time.monotonic()
        kind = message["type"]
        if kind.startswith("Playback"):
            playback = message["playback"]
            target = playback["target_uri"].removeprefix("channel:")
            if kind == "PlaybackStarted":
                self._playback_channel[playback["id"]] = target
                self._heard(target, playback["media_uri"])
            elif kind == "PlaybackFinished":
                self.replies.sent(target, kind, at)
            return
        channel_id = message.get("channel", {}).get("id")
        if channel_id is None:
            return
        if kind == "ChannelDtmfReceived":
            self.replies.sent(channel_id, kind, at)
        elif kind == "StasisStart":
            if message["args"]:  # an advisor answered: to be joined with their caller
                self.replies.start(channel_id, "advisor StasisStart", at)
            else:  # a caller: to be answered
                self.replies.start(channel_id, kind, at)
                self.live.add(channel_id)
                self.peak = max(self.peak, len(self.live))
        elif kind == "ChannelEnteredBridge":
            ear = self.ears[channel_id]
            ear.bridges.append(message["bridge"]["id"])
            ear.changed.set()
        elif kind == "StasisEnd":
            self.live.discard(channel_id)
            caller = self._caller_of_leg.pop(channel_id, None)
            if caller is not None:  # the advisor hung up: the caller is to be hung up
                self.replies.start(caller, "advisor StasisEnd", at)
            ear = self.ears[channel_id]
            ear.gone = True
            ear.changed.set()

    def _heard(self, channel_id: str, media: str) -> None:
        ear = self.ears[channel_id]
        ear.heard.append(media)
        ear.changed.set()

    def request(self, record: Any) -> None:
        """A request arrived: which calls it is about (by path, ``channel`` or playback)."""
        segments = [unquote(s) for s in record.path.split("?", 1)[0].split("/")]
        about: list[str] = []
        if len(segments) > 3 and segments[2] == "channels":
            about.append(segments[3])
        elif len(segments) > 3 and segments[2] == "playbacks":
            target = self._playback_channel.get(segments[3])
            if target is not None:
                about.append(target)
        joined = [c for c in record.query.get("channel", "").split(",") if c]
        about.extend(joined)
        legs = [c for c in joined if c.startswith(LEG_PREFIX)]
        callers = [c for c in joined if not c.startswith(LEG_PREFIX)]
        if len(legs) == 1 and len(callers) == 1 and segments[-1] == "addChannel":
            self._caller_of_leg[legs[0]] = callers[0]
        self.replies.answered(about, record.received_at)


def weighted(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


@dataclass
class Crowd:
    """The callers' shared cues: how many are queued, and when to let go."""

    calls: int
    queued: int = 0
    all_queued: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    outcomes: Counter[str] = field(default_factory=Counter)
    stuck: Counter[str] = field(default_factory=Counter)

    def one_queued(self) -> None:
        self.queued += 1
        if self.queued == self.calls:
            self.all_queued.set()


async def caller(
    n: int,
    fake: Any,
    board: Switchboard,
    crowd: Crowd,
    config: HotlineConfig,
    options: Options,
    rng: random.Random,
) -> None:
    """One caller, from dialling in to the end of their call."""
    language = weighted(rng, LANGUAGE_SHARES)
    topic = weighted(rng, TOPIC_SHARES)
    takes_callback = rng.random() < CALLBACK_SHARE
    spread = rng.uniform(0, options.release)
    await asyncio.sleep(n * options.ramp / options.calls)
    call = await fake.start_inbound_call(number=f"+35840{options.first_number + n:07d}")
    channel = call.channel_id
    ear = board.ears[channel]
    stage = "the language menu"
    queued = False
    try:
        await ear.until(lambda: ear.has_heard("language_option"), stage)
        await asyncio.sleep(rng.uniform(*THINK_SECONDS))
        await press(fake, board, channel, str(config.languages[language].digit))
        stage = "the topic menu"
        await ear.until(lambda: ear.has_heard("topic_option"), stage)
        await asyncio.sleep(rng.uniform(*THINK_SECONDS))
        await press(fake, board, channel, str(config.queues[topic].digit))
        stage = "the queue"
        await ear.until(lambda: any(b.startswith("cf-queue-") for b in ear.bridges), stage)
        crowd.one_queued()
        queued = True
        await crowd.release.wait()
        if talking(ear):
            stage = "the talk with an advisor"
            await ear.until(lambda: ear.gone, stage)
            crowd.outcomes["answered"] += 1
            return
        await asyncio.sleep(spread)
        if ear.gone:
            raise Stuck("hung up by the line while waiting")
        if takes_callback:
            stage = "the callback offer"
            since = len(ear.heard)  # the next offer: an earlier one's keys are no longer heard
            try:
                await ear.until(
                    lambda: ear.has_heard("offer_callback", since) or ear.gone,
                    stage,
                    limit=OFFER_PATIENCE * config.menu.announce_interval.total_seconds(),
                )
            except Stuck:  # the queue got short enough that no offer is made: they give up
                await fake.hang_up_far_end(channel)
                crowd.outcomes["abandoned_queue"] += 1
                return
            if ear.gone:
                raise Stuck("hung up by the line while waiting for the offer")
            stage = "the callback"
            await press(fake, board, channel, "1")
            await ear.until(lambda: ear.has_heard("readback"), "the number read back")
            await asyncio.sleep(rng.uniform(*THINK_SECONDS))
            await press(fake, board, channel, "1")
            await ear.until(lambda: ear.has_heard("callback_confirmed"), "the confirmation")
            board.replies.expect(channel, "PlaybackFinished")
            await ear.until(lambda: ear.gone, "the line hanging up")
            crowd.outcomes["callback_requested"] += 1
            return
        await fake.hang_up_far_end(channel)
        crowd.outcomes["abandoned_queue"] += 1
    except Stuck as stuck:
        crowd.stuck[str(stuck)] += 1
        if not queued:
            crowd.one_queued()  # the others are not held up by a caller who never got there
        if channel in fake.model.channels:
            await fake.hang_up_far_end(channel)


def talking(ear: Ear) -> bool:
    return any(b.startswith("cf-talk-") for b in ear.bridges)


async def press(fake: Any, board: Switchboard, channel: str, digit: str) -> None:
    """A key that answers a menu: the adapter owes a request for it."""
    board.replies.expect(channel, "ChannelDtmfReceived")
    await fake.press_digits(channel, digit)


async def run_callers(
    fake: Any, config: HotlineConfig, options: Options, board: Switchboard
) -> dict[str, Any]:
    rng = random.Random(options.seed)
    crowd = Crowd(options.calls)
    callers = [
        asyncio.create_task(
            caller(n, fake, board, crowd, config, options, random.Random(rng.random()))
        )
        for n in range(options.calls)
    ]
    started = time.monotonic()
    await crowd.all_queued.wait()
    progress(f"  all {crowd.queued} callers queued after {time.monotonic() - started:.1f} s")
    held_from = len(board.live)
    await asyncio.sleep(options.hold)
    held = min(held_from, len(board.live))
    legs = [
        channel.id
        for channel in list(fake.model.channels.values())
        if channel.id.startswith(LEG_PREFIX) and channel.outbound is not None
    ]
    progress(f"  held {held} calls for {options.hold:.0f} s; {len(legs)} advisors pick up")
    pickups = random.Random(options.seed + 1)

    async def pick_up(leg: str) -> None:
        await asyncio.sleep(pickups.uniform(0, PICKUP_SPREAD))
        await fake.answer_originate(leg, talk=TALK_SECONDS)
        ear = board.ears[leg]
        await ear.until(partial(talking, ear), "the advisor joined with their caller")

    await asyncio.gather(*(pick_up(leg) for leg in legs))
    crowd.release.set()
    await asyncio.gather(*callers)
    return {
        "held": held,
        "peak": board.peak,
        "outcomes": dict(crowd.outcomes),
        "stuck": dict(crowd.stuck),
        "latencies": {kind: list(values) for kind, values in board.replies.samples.items()},
        "unanswered": board.replies.unanswered(),
        "wall_s": time.monotonic() - started,
    }


def fake_side(options: Options, control: Connection) -> None:
    """The fake Asterisk and its callers: the port, then (on "go") the callers' figures."""
    from callflow.providers.ari.sounds import sound_files  # noqa: PLC0415
    from tests.fakes.ari_asterisk import Phone  # noqa: PLC0415
    from tests.fakes.ari_server import FakeAsterisk  # noqa: PLC0415

    # for its prompts and keys; the port is not known yet
    config = bench_config("http://127.0.0.1:8088", options.announce)
    ari = config.provider.ari
    assert ari is not None

    async def run() -> None:
        phones = {advisor_phone(n): Phone(answer_after=None) for n in range(options.advisors)}
        fake = FakeAsterisk(devices=phones, history=False)
        for sound in sound_files(config, ari):
            fake.add_sound(sound.name, options.prompt)
        board = Switchboard()
        fake.on_event(board.event)
        fake.on_request(board.request)
        async with fake:
            control.send(fake.url)
            await fake.wait_until(fake.is_connected, 120)
            control.send("connected")
            await asyncio.to_thread(control.recv)  # "go"
            figures = await run_callers(fake, config, options, board)
            figures["violations"] = [
                f"{r.method} {r.path} {r.query}: {r.problems}" for r in fake.violations()
            ][:10]
            control.send(figures)
            # Stay up until terminated: the adapter is not to see its Asterisk go first.
            await asyncio.to_thread(control.recv)

    asyncio.run(run())


# -- this process -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User and system CPU of process *pid* so far, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int, key: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of process *pid*, in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise LookupError(f"no {key} for process {pid}")


def received(end: Connection, timeout: float, what: str) -> Any:
    if not end.poll(timeout):
        raise SystemExit(f"bench: no {what} within {timeout:.0f} s")
    return end.recv()


def stored_outcomes(database_url: str) -> dict[str, int]:
    """The calls the store has closed, by outcome."""
    database = Database.connect(database_url)
    try:
        with database.reading() as session:
            rows = session.execute(
                select(Call.outcome, func.count())
                .where(Call.provider == "ari", Call.ended_at.is_not(None))
                .group_by(Call.outcome)
            )
            return {str(outcome): int(count) for outcome, count in rows}
    finally:
        database.close()


def settled_outcomes(database_url: str, calls: int, patience: float = 30.0) -> dict[str, int]:
    """The stored outcomes once every call is closed (the last hang-ups' steps may still be
    on their way when the callers are done), or as they are after *patience* seconds."""
    deadline = time.monotonic() + patience
    while True:
        stored = stored_outcomes(database_url)
        if sum(stored.values()) >= calls or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def run_profile(options: Options, database_url: str | None, target_p99_ms: float) -> dict[str, Any]:
    """One crowd through a fresh fake and adapter: the figures (see the module docstring)."""
    load_at_start = round(os.getloadavg()[0], 2)  # others' work on these cores skews it all
    progress(f"load average (1 min) {load_at_start}")
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="callflow-bench-ari-") as folder:
        database_url = database_url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        fake_end, fake_control = context.Pipe()
        fake = context.Process(target=fake_side, args=(options, fake_control), daemon=True)
        fake.start()
        adapter = None
        try:
            fake_url = received(fake_end, 60, "fake Asterisk")
            adapter_end, adapter_control = context.Pipe()
            log_path = str(Path(folder) / "adapter.log")
            adapter = context.Process(
                target=adapter_side,
                args=(options, fake_url, database_url, log_path, adapter_control),
                daemon=True,
            )
            adapter.start()
            assert adapter.pid is not None and fake.pid is not None
            received(adapter_end, 120, "adapter")
            received(fake_end, 120, "adapter connected to the fake")
            progress(f"fake Asterisk at {fake_url}, pid {fake.pid}; adapter pid {adapter.pid}")
            progress(f"{options.calls} callers over {options.ramp:.0f} s")
            rss_before = memory_mb(adapter.pid, "VmRSS")
            adapter_cpu, fake_cpu = cpu_seconds(adapter.pid), cpu_seconds(fake.pid)
            fake_end.send("go")
            limit = options.ramp + options.hold + options.release + 4 * WAIT_LIMIT
            figures = received(fake_end, limit, "callers' figures")
            stored = settled_outcomes(database_url, options.calls)
            adapter_cpu = cpu_seconds(adapter.pid) - adapter_cpu
            fake_cpu = cpu_seconds(fake.pid) - fake_cpu
            peak_rss = memory_mb(adapter.pid, "VmHWM")
        finally:
            for process in (adapter, fake):
                if process is not None and process.is_alive():
                    process.terminate()
                    process.join(30)
    if options.cprofile:
        print_profiles(Path(options.cprofile))
    expected = figures["outcomes"]
    completed = sum(min(count, stored.get(outcome, 0)) for outcome, count in expected.items())
    latencies = [value * 1000 for values in figures["latencies"].values() for value in values]
    by_event = {
        kind: {
            "n": len(values),
            "p50_ms": round(percentile(values, 0.5) * 1000, 1),
            "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        }
        for kind, values in sorted(figures["latencies"].items())
    }
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    progress(f"by event: {by_event}")
    if figures["stuck"]:
        progress(f"stuck: {figures['stuck']}")
    met = {
        "held": figures["held"] >= TARGET_HELD,
        "completed": completed == options.calls,
        "p99": p99 <= target_p99_ms,
    }
    return {
        "bench": "ari",
        "db": database_url.split(":", 1)[0].split("+", 1)[0],
        "calls": options.calls,
        "calls_completed": completed,
        "held_at_peak": figures["held"],
        "outcomes": expected,
        "stored_outcomes": stored,
        "stuck": figures["stuck"],
        "adapter_cpu_s": round(adapter_cpu, 2),
        "adapter_cpu_s_per_call": round(adapter_cpu / options.calls, 4),
        "latency_p50_ms": round(p50, 1),
        "latency_p99_ms": round(p99, 1),
        "latency_max_ms": round(max(latencies, default=float("nan")), 1),
        "latency_samples": len(latencies),
        "latency_by_event": by_event,
        "unanswered_events": figures["unanswered"],
        "peak_rss_mb": round(peak_rss, 1),
        "rss_at_start_mb": round(rss_before, 1),
        "fake_cpu_s": round(fake_cpu, 2),
        "wall_s": round(figures["wall_s"], 1),
        "violations": figures["violations"],
        "ramp_s": options.ramp,
        "release_s": options.release,
        "announce_s": options.announce,
        "load_at_start": load_at_start,
        "target_held": TARGET_HELD,
        "target_p99_ms": target_p99_ms,
        "met": met,
        "targets_met": all(met.values()),
    }


def print_profiles(folder: Path, top: int = 25) -> None:
    """The top of the adapter's profiles, by own time, on stderr."""
    for name in ("loop", "store"):
        path = folder / f"adapter-{name}.prof"
        if not path.exists():
            progress(f"no profile of the adapter's {name} at {path}")
            continue
        text = io.StringIO()
        pstats.Stats(str(path), stream=text).sort_stats("tottime").print_stats(top)
        progress(f"-- adapter {name}, by own time ({path}):\n{text.getvalue()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", choices=[*PROFILES, "all"], default="default", help="the crowd's pace"
    )
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument(
        "--ramp", type=float, default=None, help="seconds over which they dial in (the profile's)"
    )
    parser.add_argument("--hold", type=float, default=10.0, help="seconds all are held at once")
    parser.add_argument(
        "--release", type=float, default=None, help="seconds over which they leave (the profile's)"
    )
    parser.add_argument("--advisors", type=int, default=60)
    parser.add_argument("--prompt", type=float, default=2.0, help="seconds per sound file")
    parser.add_argument(
        "--announce",
        type=float,
        default=None,
        help="seconds between announcements to each waiting caller (the profile's)",
    )
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--cprofile", default=None, metavar="FOLDER", help="profile the adapter into FOLDER"
    )
    args = parser.parse_args()
    names = list(PROFILES) if args.profile == "all" else [args.profile]
    results = {}
    for name in sorted(names, key=lambda n: n != "stampede"):  # the row the issue asks first
        profile = PROFILES[name]
        first_number = random.SystemRandom().randrange(1_000_000, 9_000_000 - args.calls)
        options = Options(
            args.calls,
            profile.ramp if args.ramp is None else args.ramp,
            args.hold,
            profile.release if args.release is None else args.release,
            args.advisors,
            args.prompt,
            profile.announce if args.announce is None else args.announce,
            args.seed,
            first_number,
            cprofile=str(Path(args.cprofile) / name) if args.cprofile else None,
        )
        progress(f"profile {name}")
        results[name] = {
            "profile": name,
            **run_profile(options, args.database_url, profile.target_p99_ms),
        }
    if len(results) == 1:
        (only,) = results.values()
        print(json.dumps(only))
    else:
        print(
            json.dumps(
                {
                    "bench": "ari",
                    "profiles": results,
                    "direction_p99_ms": DIRECTION_P99_MS,
                    "targets_met": all(r["targets_met"] for r in results.values()),
                }
            )
        )


if __name__ == "__main__":
    main()

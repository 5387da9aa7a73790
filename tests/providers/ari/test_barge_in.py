"""A key cuts whatever the caller hears on Asterisk, numbers included (issue 16).

A live Asterisk 22 loses a stop sent while it says a ``number:`` or ``digits:``
item: the read-back "040 123 4567" played on for 7.6–8.7 s after the caller's
key. The fake Asterisk does the same (:meth:`~tests.fakes.ari_asterisk.Asterisk.stop_playback`),
so these tests press a key while a value is being said and require the prompt
to end within 200 ms (of Asterisk's time) of the stop reaching Asterisk, and
the next thing played to be the next prompt.

The adapter's own part, from the key to the stop, is real milliseconds on a
real line; on a fake whose clock runs fast it would look many times longer,
so it is not what the 200 ms measure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from callflow.config.models import HotlineConfig
from callflow.store.session import Database
from tests.fakes.ari_asterisk import Play
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import WAIT, AdapterRig, running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.ari.test_adapter import queued_for_health
from tests.providers.ari.test_adapter_callbacks import offered_and_taken

CUT_WITHIN = 0.2
"""Seconds of Asterisk's time a prompt may go on after the stop reached it."""


@pytest.fixture
def fake_ari() -> Iterator[FakeAsterisk]:
    """Ten times fast rather than a hundred: a said value lasts long enough (50 ms and
    more) for a key to land in it."""
    fake = FakeAsterisk(time_scale=0.1)
    yield fake
    assert not fake.violations()


@pytest.fixture
def ari_config(config: HotlineConfig) -> HotlineConfig:
    return with_ari(config)


def says_a_value(uri: str) -> bool:
    """A medium saying a number: one of our number files, or Asterisk's say media."""
    return "/number-" in uri or uri.partition(":")[0] in ("number", "digits")


@dataclass
class Cut:
    """A key pressed while *playback* said a value, and what the fake did about it."""

    fake: FakeAsterisk
    playback: Play
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    """Every playback event on the caller's channel from the key on, with its
    ``time.monotonic()``."""

    def listen(self, app: str, event: dict[str, Any]) -> None:
        target = f"{self.playback.target_kind}:{self.playback.target_id}"
        if event.get("playback", {}).get("target_uri") == target:
            self.events.append((time.monotonic(), event))

    def finished(self) -> bool:
        """The prompt has ended and the next one has started."""
        ended = [n for n, (_, e) in enumerate(self.events) if self.ends_the_prompt(e)]
        return bool(ended) and any(
            e["type"] == "PlaybackStarted" for _, e in self.events[ended[0] + 1 :]
        )

    def ends_the_prompt(self, event: dict[str, Any]) -> bool:
        finished: bool = event["type"] == "PlaybackFinished"
        return finished and event["playback"]["id"] == self.playback.id

    def check(self, next_prompt: str) -> None:
        [stop] = [
            r
            for r in self.fake.requests
            if r.operation == "playbacks.stop" and r.path.endswith(f"/{self.playback.id}")
        ]
        ended_at = next(at for at, e in self.events if self.ends_the_prompt(e))
        went_on = (ended_at - stop.received_at) / self.fake.time_scale
        assert went_on <= CUT_WITHIN, f"the prompt went on {went_on:.1f} s after the stop"
        later = [
            e["playback"]["media_uri"]
            for at, e in self.events
            if at > ended_at and e["type"] == "PlaybackStarted"
        ]
        assert later[0] == next_prompt


READBACK = "sound:fi/callflow/readback-1"
QUEUE_POSITION = "sound:fi/callflow/queue_position-1"


async def press_during_a_value(rig: AdapterRig, channel: str, key: str, prompt: str) -> Cut:
    """Wait until the prompt playing to *channel* that starts with *prompt* says a number,
    press *key*, and follow what is played until the next prompt starts. (The menu before
    it may still be playing for a moment after its key, its stop on the way.)"""
    queue = rig.fake.model.queues

    def current() -> Play | None:
        playing = [
            p
            for p in queue.get(f"channel:{channel}", [])
            if p.state == "playing" and p.media[0] == prompt
        ]
        return playing[0] if playing and says_a_value(playing[0].media[playing[0].index]) else None

    await rig.fake.wait_until(lambda: current() is not None, WAIT)
    playback = current()
    assert playback is not None
    cut = Cut(rig.fake, playback)
    rig.fake.on_event(cut.listen)
    await rig.press(channel, key)
    await rig.until(cut.finished, "the prompt ended and the next one began")
    return cut


def test_a_key_during_the_read_back_cuts_the_number_short(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    """The read-back "Soitamme numeroon 040 123 4567 …": the caller presses 1 while the
    number is said and hears "Kiitos …" at once, not the rest of the number and the choices."""

    async def scenario() -> Cut:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await offered_and_taken(rig)
            return await press_during_a_value(rig, channel, "1", READBACK)

    cut = run(scenario())
    cut.check(next_prompt="sound:fi/callflow/callback_confirmed-1")


def test_a_key_during_the_queue_position_cuts_the_announcement_short(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    """The announcement "Olet jonossa sijalla 1 …": 1 for the callback offered, pressed
    while the position is said, goes straight on to the number read-back."""

    async def scenario() -> Cut:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await queued_for_health(rig)
            return await press_during_a_value(rig, channel, "1", QUEUE_POSITION)

    cut = run(scenario())
    cut.check(next_prompt="sound:fi/callflow/readback-1")

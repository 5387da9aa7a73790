"""The event stream: delivery to consumers, reconnection with backoff, resync before events."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs
from websockets.asyncio.client import connect

from callflow.errors import ChannelGone
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.events import (
    ApplicationReplaced,
    ChannelStateChange,
    Event,
    StasisEnd,
    StasisStart,
    UnknownEvent,
)
from callflow.providers.ari.stream import Backoff, Connected
from tests.fakes.ari_server import APP, PASSWORD, USERNAME, FakeAsterisk
from tests.providers.ari.rig import WAIT, rig, run, until

QUICK = Backoff(initial=0.1, factor=2.0, cap=0.4, stable_after=30.0)


class Sleeps:
    """An injected ``sleep``: records each backoff delay and waits only while ``closed``."""

    def __init__(self, on_sleep: Callable[[list[float]], object] | None = None) -> None:
        self.delays: list[float] = []
        self.open = asyncio.Event()
        self.open.set()
        self.on_sleep = on_sleep

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.on_sleep is not None:
            result = self.on_sleep(self.delays)
            if asyncio.iscoroutine(result):
                await result
        await self.open.wait()


class TestDelivery:
    def test_every_consumer_gets_every_event_in_order(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                other = r.ari.events.subscribe()
                caller = await r.inbound_call()
                await r.ari.channels.answer(caller)
                await r.next(ChannelStateChange)
                second = [await asyncio.wait_for(anext(other), WAIT) for _ in range(2)]
                assert [type(e) for e in second] == [StasisStart, ChannelStateChange]

        run(scenario())

    def test_a_slow_handler_does_not_hold_back_the_others(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                gate = asyncio.Event()
                slow: list[str] = []
                quick: list[str] = []

                async def stuck(event: Event) -> None:
                    await gate.wait()
                    slow.append(event.type)

                async def nimble(event: Event) -> None:
                    quick.append(event.type)

                r.ari.events.add_handler(stuck)
                r.ari.events.add_handler(nimble)
                caller = await r.inbound_call()
                await r.ari.channels.answer(caller)
                await r.next(ChannelStateChange)
                await r.fake.hang_up_far_end(caller)
                await r.until(StasisEnd)
                await until(lambda: len(quick) == 4)
                assert quick == [
                    "StasisStart",
                    "ChannelStateChange",
                    "ChannelHangupRequest",
                    "StasisEnd",
                ]
                assert slow == []
                gate.set()
                await until(lambda: len(slow) == 4)
                assert slow == quick

        run(scenario())

    def test_a_handler_that_raises_gets_the_next_event(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                seen: list[str] = []

                async def clumsy(event: Event) -> None:
                    seen.append(event.type)
                    if isinstance(event, StasisStart):
                        raise RuntimeError("bug in a handler")

                r.ari.events.add_handler(clumsy)
                with capture_logs() as logs:
                    caller = await r.inbound_call()
                    await r.ari.channels.answer(caller)
                    await r.next(ChannelStateChange)
                    await until(lambda: len(seen) == 2)
                assert seen == ["StasisStart", "ChannelStateChange"]
                failed = [entry for entry in logs if entry["event"] == "ari.handler_failed"]
                assert failed[0]["event_type"] == "StasisStart"

        run(scenario())

    def test_unknown_and_unreadable_messages_do_not_stop_the_stream(
        self, fake_ari: FakeAsterisk
    ) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                await r.fake.push_event({"type": "ChannelTalkingStarted", "channel": {"id": "x"}})
                untyped = await r.next(UnknownEvent)
                assert (untyped.type, untyped.problem) == ("ChannelTalkingStarted", "")
                assert untyped.fields["channel"] == {"id": "x"}

                with capture_logs() as logs:
                    await r.fake.push_event({"type": "StasisStart", "args": []})
                    broken = await r.next(UnknownEvent)
                    await r.fake.push_message("<html>not json</html>")
                    garbage = await r.next(UnknownEvent)
                assert broken.type == "StasisStart" and "channel" in broken.problem
                assert garbage.problem.startswith("not JSON")
                assert [e["event"] for e in logs] == ["ari.event_unreadable"] * 2

                await r.inbound_call()

        run(scenario())

    def test_stopping_ends_the_stream_and_its_subscriptions(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with fake_ari:
                ari = AriClient(fake_ari.url, USERNAME, PASSWORD, APP)
                events = ari.events.subscribe()
                runner = asyncio.create_task(ari.events.run())
                await fake_ari.wait_until(fake_ari.is_connected)
                await ari.aclose()
                await asyncio.wait_for(runner, WAIT)
                assert [e async for e in events] == []
                await fake_ari.wait_until(lambda: not fake_ari.is_connected())

        run(scenario())


class TestReconnect:
    def test_a_dropped_websocket_is_reopened_and_resynchronised(
        self, fake_ari: FakeAsterisk
    ) -> None:
        """Events while away are lost (a call fails unseen), so the hook runs again before
        anything else is delivered; then calls flow as before."""
        sleeps = Sleeps()

        async def scenario() -> None:
            snapshots: list[int] = []

            async def resync(info: Connected) -> None:
                if info.is_reconnect:
                    snapshots.append(len((await r.ari.snapshot()).channels))

            async with rig(fake_ari, on_connected=resync, sleep=sleeps, backoff=QUICK) as r:
                kept = await r.inbound_call()
                sleeps.open.clear()
                await r.fake.drop_websockets()
                await until(lambda: len(sleeps.delays) == 1)
                missed = await r.fake.start_inbound_call("101")
                assert not missed.entered
                sleeps.open.set()
                await r.connected(2)
                assert r.connections[1].is_reconnect
                assert snapshots == [2]  # the kept caller's two halves, not the missed call
                await r.ari.channels.answer(kept)
                assert (await r.next(ChannelStateChange)).channel.id == kept
                await r.inbound_call()

        run(scenario())
        assert sleeps.delays[0] <= QUICK.initial

    def test_an_asterisk_restart_loses_every_call(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with rig(fake_ari, sleep=Sleeps(), backoff=QUICK) as r:
                caller = await r.inbound_call()
                await r.fake.restart()
                await r.connected(2)
                snapshot = await r.ari.snapshot()
                assert (snapshot.channels, snapshot.bridges) == ((), ())
                with pytest.raises(ChannelGone):
                    await r.ari.channels.answer(caller)
                await r.inbound_call()

        run(scenario())

    def test_while_asterisk_is_down_the_waits_grow_to_the_cap(self, fake_ari: FakeAsterisk) -> None:
        """Capped exponential backoff; the jitter never shortens a wait below half."""

        async def back_after_six(delays: list[float]) -> None:
            if len(delays) == 6:
                await fake_ari.start()

        sleeps = Sleeps(back_after_six)

        async def scenario() -> None:
            async with rig(fake_ari, sleep=sleeps, backoff=QUICK, random=lambda: 0.0) as r:
                await r.fake.stop()
                await r.connected(2)
                await r.inbound_call()

        run(scenario())
        assert sleeps.delays == [0.05, 0.1, 0.2, 0.2, 0.2, 0.2]

    def test_a_connection_that_stayed_up_starts_the_backoff_afresh(
        self, fake_ari: FakeAsterisk
    ) -> None:
        ticks = iter(range(0, 10_000, 60))
        sleeps = Sleeps()

        async def scenario() -> None:
            options = {"sleep": sleeps, "backoff": QUICK, "random": lambda: 1.0}
            async with rig(fake_ari, clock=lambda: float(next(ticks)), **options) as r:
                for count in (2, 3, 4):
                    await r.fake.drop_websockets()
                    await r.connected(count)

        run(scenario())
        assert sleeps.delays == [QUICK.initial] * 3

    def test_events_during_the_resync_wait_for_it(self, fake_ari: FakeAsterisk) -> None:
        gate = asyncio.Event()

        async def scenario() -> None:
            async def resync(info: Connected) -> None:
                if info.is_reconnect:
                    await r.fake.wait_until(r.fake.is_connected)
                    read = r.ari.events.received
                    await r.fake.start_inbound_call()
                    await until(lambda: r.ari.events.received > read)
                    held.append(r.events.backlog)
                    await gate.wait()

            held: list[int] = []
            async with rig(fake_ari, on_connected=resync, sleep=Sleeps(), backoff=QUICK) as r:
                await r.fake.drop_websockets()
                await until(lambda: held != [])
                assert held == [0]
                gate.set()
                await r.next(StasisStart)

        run(scenario())

    def test_a_failed_resync_is_retried_on_a_new_connection(self, fake_ari: FakeAsterisk) -> None:
        attempts: list[int] = []

        async def scenario() -> None:
            async def resync(info: Connected) -> None:
                attempts.append(info.number)
                if info.number == 2:
                    await r.ari.channels.list()  # Asterisk not ready yet

            async with rig(fake_ari, on_connected=resync, sleep=Sleeps(), backoff=QUICK) as r:
                r.fake.fail_next("channels.list", status=503, message="Asterisk not booted")
                with capture_logs() as logs:
                    await r.fake.drop_websockets()
                    await r.connected(2)  # the rig counts hooks that returned
                assert attempts == [1, 2, 3]
                assert [e["number"] for e in logs if e["event"] == "ari.resync_failed"] == [2]
                await r.inbound_call()

        run(scenario())

    def test_a_second_websocket_for_our_application_replaces_ours(
        self, fake_ari: FakeAsterisk
    ) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                url = f"ws://127.0.0.1:{r.fake.url.rsplit(':', 1)[1]}/ari/events?app={APP}"
                with capture_logs() as logs:
                    async with connect(url, additional_headers={"Authorization": _basic()}):
                        replaced = await r.next(ApplicationReplaced)
                assert replaced.application == APP
                assert [e["event"] for e in logs] == ["ari.application_replaced"]

        run(scenario())


class TestBackoff:
    @pytest.mark.parametrize(("failures", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (9, 30.0)])
    def test_delays_double_up_to_the_cap(self, failures: int, ceiling: float) -> None:
        backoff = Backoff(initial=0.5, factor=2.0, cap=30.0)
        assert backoff.delay(failures, 0.0) == ceiling / 2
        assert backoff.delay(failures, 1.0) == ceiling


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()

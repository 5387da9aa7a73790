"""The fake Asterisk behaves like the recorded Asterisk 22.10.1 and flags what it would refuse."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.fakes.ari_server import APP, PASSWORD, USERNAME, FakeAsterisk
from tests.fakes.ari_traces import Replay, load, mismatched_events

CLEAN = [
    "00-basics.jsonl",
    "01-inbound-answer-play-hangup.jsonl",
    "02-dtmf-and-stop-playback.jsonl",
    "03-holding-bridge-moh-caller-hangup.jsonl",
    "04-advisor-connect.jsonl",
    "07-websocket-drop-reconnect.jsonl",
]
"""Traces whose requests are all well-formed; 05 and 06 send bad ones on purpose."""


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 15))


SLOWER = {"02-dtmf-and-stop-playback.jsonl", "05-originate-failures.jsonl"}
"""Traces that hang up during a prompt or a talk: 5 times faster leaves room enough."""


def lab(trace: str) -> FakeAsterisk:
    """The recording lab: no PJSIP loaded, durations 20 (or 5) times faster."""
    return FakeAsterisk(time_scale=0.2 if trace in SLOWER else 0.05, technologies=("Local",))


class TestRecordedTraces:
    @pytest.mark.parametrize("trace", CLEAN)
    def test_a_clean_trace_replays_to_the_same_answers_and_events(self, trace: str) -> None:
        fake = lab(trace)

        async def scenario() -> Any:
            async with fake:
                return await Replay(fake, load(trace)).run()

        result = run(scenario())
        assert result.status_mismatches() == []
        assert list(mismatched_events(result)) == []
        assert result.id_conflicts == []
        assert fake.violations() == []

    @pytest.mark.parametrize(
        ("trace", "flagged"),
        [
            ("05-originate-failures.jsonl", 3),
            ("06-bad-requests.jsonl", 7),
        ],
    )
    def test_bad_requests_get_asterisks_answers_and_are_flagged(
        self, trace: str, flagged: int
    ) -> None:
        """Same statuses and events as the real server, and each malformed request is
        reported as a violation (a 404 for a gone channel is a race, not a violation)."""
        fake = lab(trace)

        async def scenario() -> Any:
            async with fake:
                with fake.refusals_expected():
                    return await Replay(fake, load(trace)).run()

        result = run(scenario())
        assert result.status_mismatches() == []
        assert list(mismatched_events(result)) == []
        assert len([r for r in fake.requests if r.problems]) == flagged
        assert fake.violations() == []


async def call(fake: FakeAsterisk, method: str, path: str, **options: Any) -> httpx.Response:
    options.setdefault("auth", (USERNAME, PASSWORD))
    async with httpx.AsyncClient(base_url=fake.url) as http:
        return await http.request(method, path, **options)


class TestConformance:
    def test_an_unknown_parameter_is_answered_but_flagged(self) -> None:
        """Asterisk ignores it silently, so the sender did not get what it meant."""
        fake = FakeAsterisk()

        async def scenario() -> httpx.Response:
            async with fake:
                return await call(fake, "POST", "/ari/bridges", params={"kind": "holding"})

        assert run(scenario()).status_code == 200
        assert fake.violations()[0].problems == ["unknown parameter 'kind'"]

    @pytest.mark.parametrize(
        ("method", "path", "params", "status", "message"),
        [
            ("GET", "/ari/no-such-resource", {}, 404, "Resource not found"),
            ("PUT", "/ari/channels", {}, 405, "Invalid method"),
            ("POST", "/ari/channels/create", {"app": APP}, 400, "Missing parameter endpoint"),
            ("DELETE", "/ari/channels/x", {"reason": "bored"}, 404, "Channel not found"),
            (
                "POST",
                "/ari/channels/x/play",
                {"media": "sound:beep", "skipms": "x"},
                404,
                "Channel not found",
            ),
            (
                "GET",
                "/ari/asterisk/modules",
                {},
                501,
                "asterisk.listModules is not modelled by the fake Asterisk",
            ),
        ],
    )
    def test_requests_outside_the_api_docs_are_flagged(
        self, method: str, path: str, params: dict[str, str], status: int, message: str
    ) -> None:
        fake = FakeAsterisk()

        async def scenario() -> httpx.Response:
            async with fake:
                return await call(fake, method, path, params=params)

        response = run(scenario())
        assert (response.status_code, response.json()) == (status, {"message": message})
        assert fake.violations(), "the request should count as a violation"

    def test_credentials_basic_or_api_key(self) -> None:
        fake = FakeAsterisk()

        async def scenario() -> list[httpx.Response]:
            async with fake:
                return [
                    await call(fake, "GET", "/ari/asterisk/ping", auth=None),
                    await call(fake, "GET", "/ari/asterisk/ping", auth=(USERNAME, "nope")),
                    await call(
                        fake,
                        "GET",
                        "/ari/asterisk/ping",
                        auth=None,
                        params={"api_key": f"{USERNAME}:{PASSWORD}"},
                    ),
                ]

        refused, wrong, keyed = run(scenario())
        assert refused.status_code == wrong.status_code == 401
        assert refused.headers["www-authenticate"] == 'Basic realm="Asterisk REST Interface"'
        assert keyed.json()["ping"] == "pong"

    def test_api_docs_are_served_naming_this_server(self) -> None:
        fake = FakeAsterisk()

        async def scenario() -> httpx.Response:
            async with fake:
                return await call(fake, "GET", "/ari/api-docs/channels.json")

        channels = run(scenario()).json()
        assert channels["basePath"] == f"{fake.url}/ari"
        assert channels["resourcePath"] == "/api-docs/channels.{format}"

    def test_the_websocket_takes_no_compression(self) -> None:
        """A client's offer of permessage-deflate is passed over, as Asterisk does."""
        fake = FakeAsterisk()

        async def scenario() -> str | None:
            async with fake:
                url = f"ws://127.0.0.1:{httpx.URL(fake.url).port}/ari/events"
                query = f"?app={APP}&api_key={USERNAME}:{PASSWORD}"
                async with connect(url + query, compression="deflate") as socket:
                    assert socket.response is not None
                    return socket.response.headers.get("sec-websocket-extensions")

        assert run(scenario()) is None


class TestControls:
    def test_a_restart_forgets_everything_and_renumbers_channels(self) -> None:
        fake = FakeAsterisk()

        async def scenario() -> None:
            async with fake:
                before = await fake.start_inbound_call()  # nobody listens: it fails
                bridge = (await call(fake, "POST", "/ari/bridges")).json()
                await fake.restart()
                assert (await call(fake, "GET", "/ari/bridges")).json() == []
                gone = await call(fake, "GET", f"/ari/bridges/{bridge['id']}")
                assert gone.status_code == 404
                after = await fake.start_inbound_call()
                assert before.channel_id.split(".")[0] < after.channel_id.split(".")[0]

        run(scenario())

    def test_faults_fail_or_hold_the_next_request(self) -> None:
        fake = FakeAsterisk()

        async def scenario() -> None:
            async with fake:
                fake.fail_next("bridges.list", status=500, message="boom")
                failed = await call(fake, "GET", "/ari/bridges")
                assert (failed.status_code, failed.json()) == (500, {"message": "boom"})
                assert (await call(fake, "GET", "/ari/bridges")).status_code == 200

                gate = fake.hold_next("channels.list")
                held = asyncio.create_task(call(fake, "GET", "/ari/channels"))
                await fake.wait_until(lambda: fake.requests[-1].operation == "channels.list")
                assert not held.done()
                gate.set()
                assert (await held).status_code == 200

        run(scenario())


class TestPlaybackStop:
    """``DELETE /playbacks/{id}`` as a live Asterisk 22.10.1 treats it (traces README, last
    section): a stop inside a say item (``number:``, ``digits:``, ``characters:``) is lost."""

    async def played_after_stop(self, fake: FakeAsterisk, media: str) -> list[tuple[str, str]]:
        """Play *media* to a caller, stop it during its first item: the playback's events
        (type, media) until it finished."""
        async with fake:
            url = f"ws://127.0.0.1:{httpx.URL(fake.url).port}/ari/events"
            async with connect(f"{url}?app={APP}&api_key={USERNAME}:{PASSWORD}"):
                await fake.wait_until(fake.is_connected)
                inbound = await fake.start_inbound_call()
                path = f"/ari/channels/{inbound.channel_id}"
                assert (await call(fake, "POST", f"{path}/answer")).status_code == 204
                params = {"media": media, "playbackId": "pb"}
                assert (await call(fake, "POST", f"{path}/play", params=params)).status_code == 201
                await fake.wait_until(lambda: fake.model.playbacks["pb"].state == "playing")
                assert fake.model.playbacks["pb"].index == 0
                assert (await call(fake, "DELETE", "/ari/playbacks/pb")).status_code == 204
                await fake.wait_until(lambda: "pb" not in fake.model.playbacks)
        events = [e for e in fake.sent() if e.get("playback", {}).get("id") == "pb"]
        assert events[-1]["playback"]["state"] == "done"
        return [(e["type"], e["playback"]["media_uri"]) for e in events]

    def test_a_stop_inside_a_say_item_is_swallowed(self) -> None:
        """204, yet the number goes on to its end and so does the sound after it."""
        fake = FakeAsterisk(time_scale=0.05)  # ten digits: 250 ms to stop them in
        events = run(self.played_after_stop(fake, "digits:0401234567,sound:beep"))
        assert events == [
            ("PlaybackStarted", "digits:0401234567"),
            ("PlaybackContinuing", "digits:0401234567"),
            ("PlaybackStarted", "sound:beep"),
            ("PlaybackFinished", "sound:beep"),
        ]

    def test_a_stop_inside_a_sound_item_ends_the_playback(self) -> None:
        """At once, and the items after it are not played."""
        fake = FakeAsterisk(time_scale=0.05)
        fake.add_sound("endless", None)
        events = run(self.played_after_stop(fake, "sound:endless,digits:040"))
        assert events == [
            ("PlaybackStarted", "sound:endless"),
            ("PlaybackFinished", "sound:endless"),
        ]


class TestSoundsDirectory:
    """A ``sound:`` file Asterisk finds in its sounds directory plays for as long as it
    lasts; one it does not find fails the playback (trace 06)."""

    async def played(self, fake: FakeAsterisk, media: str) -> tuple[str, float]:
        """Play *media* to a caller: how its playback finished, and in how many seconds."""
        async with fake:
            url = f"ws://127.0.0.1:{httpx.URL(fake.url).port}/ari/events"
            async with connect(f"{url}?app={APP}&api_key={USERNAME}:{PASSWORD}"):
                await fake.wait_until(fake.is_connected)
                inbound = await fake.start_inbound_call()
                path = f"/ari/channels/{inbound.channel_id}"
                assert (await call(fake, "POST", f"{path}/answer")).status_code == 204
                started = time.monotonic()
                params = {"media": media, "playbackId": "pb"}
                assert (await call(fake, "POST", f"{path}/play", params=params)).status_code == 201
                await fake.wait_until(lambda: "pb" not in fake.model.playbacks)
                took = time.monotonic() - started
        (finished,) = [e for e in fake.sent() if e["type"] == "PlaybackFinished"]
        return finished["playback"]["state"], took

    def test_a_file_there_plays_for_as_long_as_it_lasts(self, tmp_path: Path) -> None:
        target = tmp_path / "fi" / "callflow" / "emergency_line.wav"
        target.parent.mkdir(parents=True)
        with wave.open(str(target), "wb") as sound:
            sound.setnchannels(1)
            sound.setsampwidth(2)
            sound.setframerate(8000)
            sound.writeframes(b"\0\0" * 8000 * 4)  # four seconds
        fake = FakeAsterisk(time_scale=0.1, sounds_dir=tmp_path)
        state, took = run(self.played(fake, "sound:fi/callflow/emergency_line"))
        assert state == "done" and took >= 0.4

    def test_a_file_not_there_fails(self, tmp_path: Path) -> None:
        (tmp_path / "fi" / "callflow").mkdir(parents=True)
        (tmp_path / "fi" / "callflow" / ".emergency_line.wav.partial").write_bytes(b"")
        fake = FakeAsterisk(time_scale=0.1, sounds_dir=tmp_path)
        state, _ = run(self.played(fake, "sound:fi/callflow/emergency_line"))
        assert state == "failed"

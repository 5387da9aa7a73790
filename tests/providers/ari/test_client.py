"""The ARI client against a fake Asterisk 22: operations, their HTTP shape, errors, limits."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from structlog.testing import capture_logs

from callflow.errors import (
    ChannelGone,
    PlaybackGone,
    ProviderRejected,
    ProviderUnavailable,
)
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.doctor import MODULE_GET
from callflow.providers.ari.events import (
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    Dial,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
)
from callflow.providers.ari.resources import OPERATIONS
from tests.fakes.ari_server import APP, PASSWORD, USERNAME, FakeAsterisk
from tests.providers.ari.rig import rig, run


class TestCalls:
    def test_an_inbound_call_is_answered_prompted_and_hung_up(self, fake_ari: FakeAsterisk) -> None:
        """Answer, a prompt with ``sound:`` and one with ``digits:``, hang-up: events typed."""

        async def scenario() -> None:
            async with rig(fake_ari) as r:
                channel_id = await r.inbound_call()
                await r.ari.channels.answer(channel_id)
                assert (await r.next(ChannelStateChange)).channel.state == "Up"

                playback = await r.ari.channels.play(channel_id, "sound:hello-world", lang="fi")
                assert (playback.target_kind, playback.target_id) == ("channel", channel_id)
                assert (await r.next(PlaybackStarted)).playback.id == playback.id
                assert (await r.next(PlaybackFinished)).playback.state == "done"

                digits = await r.ari.channels.play(
                    channel_id, "digits:0401234567", playback_id="pb-1"
                )
                assert digits.id == "pb-1"
                await r.next(PlaybackStarted)
                await r.next(PlaybackFinished)

                await r.ari.channels.hangup(channel_id, reason="normal")
                request = await r.next(ChannelHangupRequest)
                assert (request.cause, request.soft) == (32, True)
                await r.next(StasisEnd)

        run(scenario())
        play = [q for q in fake_ari.requests if q.operation == "channels.play"]
        assert play[0].query == {"media": "sound:hello-world", "lang": "fi"}
        assert play[1].query == {"media": "digits:0401234567", "playbackId": "pb-1"}
        hangup = [q for q in fake_ari.requests if q.operation == "channels.hangup"]
        assert hangup[0].query == {"reason": "normal"}

    def test_originate_sends_what_the_adapter_asks_and_the_answer_comes_as_events(
        self, fake_ari: FakeAsterisk
    ) -> None:
        """App, arguments, variables, caller id and timeout go out under their api-docs names;
        Asterisk answers at once with the channel Down, the answer comes as StasisStart."""

        async def scenario() -> None:
            async with rig(fake_ari) as r:
                leg = await r.ari.channels.originate(
                    "PJSIP/advisor-12",
                    app=APP,
                    app_args=["advisor", "cb-7"],
                    caller_id="Hotline <+358201234567>",
                    timeout=600,
                    variables={"HOTLINE_CALLBACK": "7"},
                )
                assert leg.state == "Down"
                assert (await r.next(Dial)).dialstatus == ""
                assert (await r.next(ChannelStateChange)).channel.state == "Ringing"
                assert (await r.next(Dial)).dialstatus == "RINGING"
                await r.fake.answer_originate(leg.id)
                await r.next(ChannelStateChange)
                assert (await r.next(Dial)).dialstatus == "ANSWER"
                started = await r.next(StasisStart)
                assert (started.channel.id, started.args) == (leg.id, ("advisor", "cb-7"))
                assert r.fake.model.channels[leg.id].variables["HOTLINE_CALLBACK"] == "7"

        run(scenario())
        originate = next(q for q in fake_ari.requests if q.operation == "channels.originate")
        assert originate.query == {
            "endpoint": "PJSIP/advisor-12",
            "app": APP,
            "appArgs": "advisor,cb-7",
            "callerId": "Hotline <+358201234567>",
            "timeout": "600",
        }
        assert originate.body == {"variables": {"HOTLINE_CALLBACK": "7"}}

    @pytest.mark.parametrize(("cause", "text"), [(17, "User busy"), (21, "Call Rejected")])
    def test_a_refused_originate_ends_in_channel_destroyed_with_the_cause(
        self, fake_ari: FakeAsterisk, cause: int, text: str
    ) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                leg = await r.ari.channels.originate("PJSIP/advisor-12", app=APP, timeout=600)
                await r.until(Dial)
                await r.fake.fail_originate(leg.id, cause)
                destroyed = await r.until(ChannelDestroyed)
                assert (destroyed.channel.id, destroyed.cause, destroyed.cause_txt) == (
                    leg.id,
                    cause,
                    text,
                )

        run(scenario())

    def test_handing_back_to_the_dialplan(self, fake_ari: FakeAsterisk) -> None:
        """The dialplan takes an answered caller back (to leave a voicemail, say): the
        channel leaves our application."""

        async def scenario() -> None:
            async with rig(fake_ari) as r:
                caller = await r.inbound_call()
                await r.ari.channels.answer(caller)
                await r.next(ChannelStateChange)
                await r.ari.channels.continue_in_dialplan(
                    caller, context="voicemail", extension="s", priority=1
                )
                assert (await r.next(StasisEnd)).channel.id == caller
                with pytest.raises(ChannelGone):
                    await r.ari.channels.answer(caller)

        run(scenario())
        continued = next(
            q for q in fake_ari.requests if q.operation == "channels.continueInDialplan"
        )
        assert continued.query == {"context": "voicemail", "extension": "s", "priority": "1"}

    def test_a_prompt_of_several_sounds_plays_them_in_turn(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                caller = await r.inbound_call()
                await r.ari.channels.answer(caller)
                await r.next(ChannelStateChange)
                r.fake.add_sound("hotline/queue-info")  # plays until the test ends it
                prompt = await r.ari.channels.play(
                    caller, ["sound:hotline/queue-info", "sound:beep"]
                )
                assert (await r.next(PlaybackStarted)).playback.next_media_uri == "sound:beep"
                assert (await r.ari.playbacks.get(prompt.id)).state == "playing"
                await r.fake.finish_playback(prompt.id)
                continuing = await r.next(PlaybackContinuing)
                assert continuing.playback.media_uri == "sound:hotline/queue-info"
                assert (await r.next(PlaybackStarted)).playback.media_uri == "sound:beep"
                assert (await r.next(PlaybackFinished)).playback.state == "done"

        run(scenario())

    def test_bridges_hold_and_connect_callers(self, fake_ari: FakeAsterisk) -> None:
        """A holding bridge with music, then a mixing bridge for caller and advisor."""

        async def scenario() -> None:
            async with rig(fake_ari) as r:
                caller = await r.inbound_call()
                await r.ari.channels.answer(caller)
                await r.next(ChannelStateChange)
                queue = await r.ari.bridges.create("holding", name="queue-health")
                assert (queue.bridge_type, queue.technology) == ("holding", "holding_bridge")
                await r.ari.bridges.add_channel(queue.id, caller, role="participant")
                assert (await r.next(ChannelEnteredBridge)).bridge.id == queue.id
                await r.ari.bridges.start_moh(queue.id, "default")

                talk = await r.ari.bridges.create("mixing")
                await r.ari.bridges.remove_channel(queue.id, caller)
                await r.next(ChannelLeftBridge)
                await r.ari.bridges.add_channel(talk.id, [caller])
                await r.next(ChannelEnteredBridge)
                listed = {b.id: b.channels for b in await r.ari.bridges.list()}
                assert listed == {queue.id: (), talk.id: (caller,)}

                await r.ari.bridges.destroy(queue.id)
                assert [b.id for b in await r.ari.bridges.list()] == [talk.id]

        run(scenario())

    def test_a_404_an_operation_declares_absent_is_none(self, fake_ari: FakeAsterisk) -> None:
        """ "Module could not be found" means not loaded, not a refusal; any other 404 is."""
        fake_ari.unload_module("app_amd.so")

        async def scenario() -> None:
            async with rig(fake_ari) as r:
                assert await r.ari.call(MODULE_GET, {"moduleName": "app_amd.so"}) is None
                undeclared = dataclasses.replace(MODULE_GET, absent="")
                with pytest.raises(ProviderRejected) as refused:
                    await r.ari.call(undeclared, {"moduleName": "app_amd.so"})
                assert refused.value.status == 404

        run(scenario())

    def test_resync_reads_channels_and_bridges(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                caller = await r.inbound_call()
                bridge = await r.ari.bridges.create("holding")
                snapshot = await r.ari.snapshot()
                # both halves of the caller's Local pair are listed; only one is ours
                assert caller in {c.id for c in snapshot.channels}
                assert len(snapshot.channels) == 2
                assert [b.id for b in snapshot.bridges] == [bridge.id]
                application = await r.ari.applications.get(APP)
                assert application.channel_ids == (caller,)

        run(scenario())

    def test_server_facts_for_the_doctor(self, fake_ari: FakeAsterisk) -> None:
        """Version, and the server's own api-docs list every operation the client uses."""

        async def scenario() -> None:
            async with rig(fake_ari) as r:
                info = await r.ari.asterisk.get_info()
                assert info.version == "22.10.1"
                listing = await r.ari.api_docs.resources()
                assert listing["apiVersion"] == "10.0.0"
                assert listing["basePath"] == f"{fake_ari.url}/ari"
                offered = await r.ari.api_docs.operations()
                used = {(op.method, op.path, op.nickname) for op in OPERATIONS}
                assert used <= offered

        run(scenario())


class TestRefusals:
    def test_a_channel_that_hung_up_is_channel_gone(self, fake_ari: FakeAsterisk) -> None:
        """The caller hangs up between an event and our request: 404, a named race."""

        async def scenario() -> None:
            async with rig(fake_ari) as r:
                caller = await r.inbound_call()
                await r.fake.hang_up_far_end(caller)
                await r.until(StasisEnd)
                with pytest.raises(ChannelGone) as gone:
                    await r.ari.channels.answer(caller)
                assert (gone.value.status, gone.value.message) == (404, "Channel not found")
                assert gone.value.operation == "POST /channels/{channelId}/answer"
                bridge = await r.ari.bridges.create("holding")
                with pytest.raises(ChannelGone) as left:
                    await r.ari.bridges.add_channel(bridge.id, caller)
                assert left.value.status == 400

        run(scenario())

    def test_a_channel_outside_our_application_is_gone_for_us(self, fake_ari: FakeAsterisk) -> None:
        """409 "Channel not in Stasis application": the caller's own half is not ours."""

        async def scenario() -> None:
            async with rig(fake_ari) as r:
                call = await r.fake.start_inbound_call()
                await r.next(StasisStart)
                with pytest.raises(ChannelGone) as gone:
                    await r.ari.channels.answer(call.caller_channel_id)
                assert gone.value.status == 409

        run(scenario())

    def test_stopping_an_ended_prompt_is_playback_gone(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                caller = await r.inbound_call()
                await r.ari.channels.answer(caller)
                r.fake.add_sound("hotline/menu")
                playback = await r.ari.channels.play(caller, "sound:hotline/menu")
                await r.until(PlaybackStarted)
                await r.ari.playbacks.stop(playback.id)
                assert (await r.next(PlaybackFinished)).playback.state == "done"
                with pytest.raises(PlaybackGone):
                    await r.ari.playbacks.stop(playback.id)

        run(scenario())

    def test_an_unknown_technology_is_rejected_with_asterisks_words(self) -> None:
        """Asterisk's 500 for a dial string it cannot place carries ``error``, not
        ``message``; the refusal still names it."""
        fake = FakeAsterisk(technologies=("Local",))

        async def scenario() -> None:
            async with rig(fake) as r:
                with pytest.raises(ProviderRejected) as refused:
                    await r.ari.channels.originate("PJSIP/advisor-12", app=APP)
                assert (refused.value.status, refused.value.message) == (500, "Allocation failed")

        run(scenario())

    def test_asterisk_not_ready_is_unavailable(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with rig(fake_ari) as r:
                r.fake.fail_next("channels.list", status=503, message="Asterisk not booted")
                with pytest.raises(ProviderUnavailable):
                    await r.ari.channels.list()
                assert await r.ari.channels.list() == ()

        run(scenario())

    def test_an_unreachable_asterisk_is_unavailable(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with fake_ari:
                url = fake_ari.url
            async with AriClient(url, USERNAME, PASSWORD, APP) as ari:
                with pytest.raises(ProviderUnavailable):
                    await ari.channels.list()

        run(scenario())

    def test_a_request_slower_than_the_timeout_is_unavailable(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with rig(fake_ari, timeout=0.2) as r:
                gate = r.fake.hold_next("channels.list")
                with pytest.raises(ProviderUnavailable):
                    await r.ari.channels.list()
                gate.set()

        run(scenario())

    def test_wrong_credentials_are_refused_everywhere(self, fake_ari: FakeAsterisk) -> None:
        """REST answers 401; the event stream's first connection raises instead of retrying."""

        async def scenario() -> None:
            wrong = "not-the-password-7x"
            async with fake_ari, AriClient(fake_ari.url, USERNAME, wrong, APP) as ari:
                with capture_logs() as logs:
                    with pytest.raises(ProviderRejected) as rest:
                        await ari.channels.list()
                    with pytest.raises(ProviderRejected) as stream:
                        await ari.events.run()
                assert rest.value.status == stream.value.status == 401
                assert wrong not in repr(logs) + repr(ari) + str(stream.value)

        run(scenario())


class TestLimits:
    def test_ids_cannot_leave_their_path_segment(self, fake_ari: FakeAsterisk) -> None:
        """Every request goes to the configured server, under ``/ari``, to the resource named."""

        async def scenario() -> None:
            async with rig(fake_ari) as r:
                with pytest.raises(ChannelGone):
                    await r.ari.channels.answer("../bridges")

        run(scenario())
        assert fake_ari.requests[-1].path == "/ari/channels/..%2Fbridges/answer"
        assert fake_ari.requests[-1].status == 404

    @pytest.mark.parametrize(
        ("configured", "base"),
        [
            ("http://127.0.0.1:8088", "http://127.0.0.1:8088/ari/"),
            ("http://127.0.0.1:8088/ari", "http://127.0.0.1:8088/ari/"),
            ("https://pbx.example.fi/asterisk/", "https://pbx.example.fi/asterisk/ari/"),
        ],
    )
    def test_the_configured_url_names_the_ari_root(self, configured: str, base: str) -> None:
        client = AriClient(configured, USERNAME, PASSWORD, APP)
        assert client.base_url == base
        run(client.aclose())

    @pytest.mark.parametrize(
        "url", ["ftp://127.0.0.1:8088", "127.0.0.1:8088", "http://hotline:secret@127.0.0.1:8088"]
    )
    def test_a_url_that_is_not_asterisks_http_server_is_refused(self, url: str) -> None:
        with pytest.raises(ValueError):
            AriClient(url, USERNAME, PASSWORD, APP)

    def test_stasis_arguments_cannot_contain_commas(self, fake_ari: FakeAsterisk) -> None:
        async def scenario() -> None:
            async with fake_ari, AriClient(fake_ari.url, USERNAME, PASSWORD, APP) as ari:
                with pytest.raises(ValueError, match="comma"):
                    await ari.channels.originate("PJSIP/x", app=APP, app_args=["a,b"])

        run(scenario())
        assert fake_ari.requests == []

    def test_the_password_is_not_in_the_client_repr(self) -> None:
        client = AriClient("http://127.0.0.1:8088", USERNAME, PASSWORD, APP)
        assert PASSWORD not in repr(client) + repr(client.events)
        run(client.aclose())


def test_requests_run_concurrently(fake_ari: FakeAsterisk) -> None:
    """One slow request does not hold the others back: many calls share one client."""

    async def scenario() -> None:
        async with rig(fake_ari) as r:
            gate = r.fake.hold_next("applications.get")
            slow = asyncio.create_task(r.ari.applications.get(APP))
            await r.fake.wait_until(
                lambda: any(q.operation == "applications.get" for q in r.fake.requests)
            )
            assert await r.ari.bridges.list() == ()
            assert not slow.done()
            gate.set()
            assert (await slow).name == APP

    run(scenario())

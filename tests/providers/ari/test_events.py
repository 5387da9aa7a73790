"""Events read from the wire: every type of Asterisk 22's events.json is accounted for."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from callflow.providers.ari.events import (
    TYPED_EVENTS,
    UNTYPED_EVENTS,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    Dial,
    PlaybackFinished,
    StasisStart,
    UnknownEvent,
    parse_event,
)
from callflow.providers.ari.models import parse_time
from tests.fakes.ari_docs import TRACES, ApiDocs, require_shared
from tests.fakes.ari_traces import load


def recorded_events() -> list[dict[str, object]]:
    return [
        line["event"]
        for path in sorted(require_shared(TRACES).glob("*.jsonl"))
        for line in load(path.name)
        if line["dir"] == "event"
    ]


class TestCoverage:
    def test_every_event_type_is_typed_or_knowingly_untyped(self) -> None:
        """The list a reviewer reads: each events.json type has a class, or a reason not to."""
        declared = ApiDocs().event_types()
        assert TYPED_EVENTS | set(UNTYPED_EVENTS) == declared
        assert not TYPED_EVENTS & set(UNTYPED_EVENTS)

    def test_untyped_events_arrive_whole(self) -> None:
        message = {"type": "ChannelTalkingStarted", "application": "hotline", "channel": {}}
        event = parse_event(json.dumps(message))
        assert isinstance(event, UnknownEvent)
        assert (event.type, event.problem, event.fields) == ("ChannelTalkingStarted", "", message)


class TestRecordedTraffic:
    def test_every_recorded_event_reads_without_a_problem(self) -> None:
        events = [parse_event(json.dumps(raw)) for raw in recorded_events()]
        assert len(events) > 150
        problems = [e for e in events if isinstance(e, UnknownEvent) and e.problem]
        assert problems == []
        untyped = {e.type for e in events if isinstance(e, UnknownEvent)}
        assert untyped == set()

    def test_fields_keep_their_api_docs_names_and_types(self) -> None:
        by_type: dict[str, list[object]] = {}
        for raw in recorded_events():
            event = parse_event(json.dumps(raw))
            by_type.setdefault(event.type, []).append(event)
        busy = next(
            e
            for e in by_type["ChannelDestroyed"]
            if isinstance(e, ChannelDestroyed) and e.cause == 17
        )
        assert busy.cause_txt == "User busy"
        dial = by_type["Dial"][0]
        assert isinstance(dial, Dial) and dial.peer.name.startswith("Local/")
        digit = by_type["ChannelDtmfReceived"][0]
        assert isinstance(digit, ChannelDtmfReceived) and (digit.digit, digit.duration_ms) == (
            "1",
            100,
        )
        hangup = by_type["ChannelHangupRequest"][0]
        assert isinstance(hangup, ChannelHangupRequest) and hangup.cause in (16, 17, 32)
        args = {e.args for e in by_type["StasisStart"] if isinstance(e, StasisStart)}
        assert args == {(), ("advisor",), ("caller",)}
        finished = by_type["PlaybackFinished"][0]
        assert isinstance(finished, PlaybackFinished)
        assert finished.playback.target_kind == "channel"

    def test_timestamps_are_aware(self) -> None:
        event = parse_event(json.dumps(recorded_events()[0]))
        assert event.timestamp is not None
        assert event.timestamp.utcoffset() is not None
        assert event.timestamp > datetime(2026, 1, 1, tzinfo=UTC)

    def test_every_recorded_time_reads_as_its_text_says(self) -> None:
        """Each time of the real traces (events, channels' creation) is the moment written."""
        times = [
            text
            for event in recorded_events()
            for text in (event["timestamp"], *_creation_times(event))
            if isinstance(text, str)
        ]
        assert times
        for text in times:
            assert parse_time(text) == datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")

    @pytest.mark.parametrize(
        ("text", "read"),
        [
            ("2026-11-23T13:46:12+0200", datetime(2026, 11, 23, 11, 46, 12, tzinfo=UTC)),
            ("2026-11-23T13:46:12.5-0130", datetime(2026, 11, 23, 15, 16, 12, 500000, tzinfo=UTC)),
            ("2026-11-23T13:46:12.123456+0000", datetime(2026, 11, 23, 13, 46, 12, 123456, UTC)),
            ("2026-11-23T13:46:12.176Z", datetime(2026, 11, 23, 13, 46, 12, 176000, tzinfo=UTC)),
            ("2026-11-23T13:46:12+02:00", datetime(2026, 11, 23, 11, 46, 12, tzinfo=UTC)),
            ("2026-11-23 13:46:12.176+0000", None),
            ("2026-11-23T13:46:12.176", None),
            ("2026-13-23T13:46:12.176+0000", None),
            ("yesterday", None),
        ],
    )
    def test_a_time_is_read_only_in_asterisks_shape(self, text: str, read: datetime | None) -> None:
        assert parse_time(text) == read


def _creation_times(event: dict[str, object]) -> list[object]:
    return [
        value.get("creationtime")
        for value in event.values()
        if isinstance(value, dict) and "creationtime" in value
    ]


class TestNeverRaises:
    @pytest.mark.parametrize(
        ("message", "problem"),
        [
            ("not json", "not JSON"),
            ("[1, 2]", "not a JSON object"),
            ('{"application": "hotline"}', "no type"),
            ('{"type": "StasisStart", "args": []}', "StasisStart.channel"),
            (
                '{"type": "ChannelDtmfReceived", "digit": "1", "duration_ms": "x", "channel": '
                '{"id": "1", "name": "n", "state": "Up"}}',
                "duration_ms",
            ),
        ],
    )
    def test_unreadable_messages_become_unknown_events(self, message: str, problem: str) -> None:
        event = parse_event(message)
        assert isinstance(event, UnknownEvent)
        assert problem in event.problem

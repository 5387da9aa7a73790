"""ARI events as typed objects, read from the websocket's JSON with the names of ``events.json``.

The adapter matches on classes (``case StasisStart(channel=channel):``)
instead of poking at dicts. Every event type the adapter may act on has a
class here; the others that ``events.json`` defines are listed in
:data:`UNTYPED_EVENTS` with the reason we do not need them, and arrive as
:class:`UnknownEvent`, as does any type a newer Asterisk invents. A
message that does not parse is an :class:`UnknownEvent` too, with the
``problem`` named: reading an event never raises, because one odd message
must not stop the stream of a whole line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callflow.providers.ari.models import Bridge, Channel, Fields, MalformedPayload, Playback


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every ARI event carries: its type, the application it was sent to, and when."""

    type: str
    application: str = ""
    timestamp: datetime | None = None
    asterisk_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(Event):
    """An event callflow has no class for (or could not read): the raw JSON, kept whole."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    problem: str = ""
    """Empty for a type we knowingly leave untyped; why reading failed otherwise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisStart(Event):
    """A channel entered our application: an inbound call, or an originated leg that answered."""

    channel: Channel
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisEnd(Event):
    """A channel left our application (hung up, or sent back to the dialplan)."""

    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDtmfReceived(Event):
    """One key pressed; a second key is a second event."""

    channel: Channel
    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(Event):
    playback: Playback


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackContinuing(Event):
    """One media item of a list ended and the next one follows."""

    playback: Playback


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(Event):
    """``playback.state`` is ``done`` (ended or stopped) or ``failed`` (no such sound, hang-up)."""

    playback: Playback


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHangupRequest(Event):
    """A hang-up is under way. ``soft`` is true when our own request (or the dialplan) asked."""

    channel: Channel
    cause: int | None = None
    soft: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDestroyed(Event):
    """The channel is gone; ``cause`` is the Q.850 hang-up cause (17 busy, 19 no answer, ...)."""

    channel: Channel
    cause: int
    cause_txt: str
    tech_cause: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChange(Event):
    """``channel.state`` changed, e.g. Ringing, then Up when answered."""

    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnteredBridge(Event):
    bridge: Bridge
    channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLeftBridge(Event):
    bridge: Bridge
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial(Event):
    """Progress of dialling ``peer``: ``dialstatus`` "" (started), RINGING, ANSWER, BUSY, ..."""

    peer: Channel
    dialstatus: str
    caller: Channel | None = None
    forwarded: Channel | None = None
    forward: str = ""
    dialstring: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVarset(Event):
    variable: str
    value: str
    channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDialplan(Event):
    channel: Channel
    dialplan_app: str
    dialplan_app_data: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCallerId(Event):
    channel: Channel
    caller_presentation: int
    caller_presentation_txt: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConnectedLine(Event):
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated(Event):
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHold(Event):
    channel: Channel
    musicclass: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUnhold(Event):
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeCreated(Event):
    bridge: Bridge


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeDestroyed(Event):
    """Not reliable: Asterisk 22 omits it for bridges emptied by ``removeChannel``."""

    bridge: Bridge


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationReplaced(Event):
    """Another websocket took our application over: this one will hear nothing more."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationRegistered(Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationUnregistered(Event):
    pass


_Base = dict[str, Any]
_Reader = Callable[[Fields, _Base], Event]


def _channel(fields: Fields, key: str = "channel") -> Channel:
    return Channel.from_json(fields.data.get(key), f"{fields.what}.{key}")


def _optional_channel(fields: Fields, key: str) -> Channel | None:
    return _channel(fields, key) if fields.has(key) else None


def _bridge(fields: Fields) -> Bridge:
    return Bridge.from_json(fields.data.get("bridge"), f"{fields.what}.bridge")


def _playback(fields: Fields) -> Playback:
    return Playback.from_json(fields.data.get("playback"), f"{fields.what}.playback")


_READERS: dict[str, _Reader] = {
    "StasisStart": lambda f, b: StasisStart(
        **b,
        channel=_channel(f),
        args=f.texts("args"),
        replace_channel=_optional_channel(f, "replace_channel"),
    ),
    "StasisEnd": lambda f, b: StasisEnd(**b, channel=_channel(f)),
    "ChannelDtmfReceived": lambda f, b: ChannelDtmfReceived(
        **b, channel=_channel(f), digit=f.text("digit"), duration_ms=f.integer("duration_ms")
    ),
    "PlaybackStarted": lambda f, b: PlaybackStarted(**b, playback=_playback(f)),
    "PlaybackContinuing": lambda f, b: PlaybackContinuing(**b, playback=_playback(f)),
    "PlaybackFinished": lambda f, b: PlaybackFinished(**b, playback=_playback(f)),
    "ChannelHangupRequest": lambda f, b: ChannelHangupRequest(
        **b, channel=_channel(f), cause=f.optional_integer("cause"), soft=f.flag("soft")
    ),
    "ChannelDestroyed": lambda f, b: ChannelDestroyed(
        **b,
        channel=_channel(f),
        cause=f.integer("cause"),
        cause_txt=f.optional_text("cause_txt"),
        tech_cause=f.optional_integer("tech_cause"),
    ),
    "ChannelStateChange": lambda f, b: ChannelStateChange(**b, channel=_channel(f)),
    "ChannelEnteredBridge": lambda f, b: ChannelEnteredBridge(
        **b, bridge=_bridge(f), channel=_optional_channel(f, "channel")
    ),
    "ChannelLeftBridge": lambda f, b: ChannelLeftBridge(
        **b, bridge=_bridge(f), channel=_channel(f)
    ),
    "Dial": lambda f, b: Dial(
        **b,
        peer=_channel(f, "peer"),
        dialstatus=f.text("dialstatus"),
        caller=_optional_channel(f, "caller"),
        forwarded=_optional_channel(f, "forwarded"),
        forward=f.optional_text("forward"),
        dialstring=f.optional_text("dialstring"),
    ),
    "ChannelVarset": lambda f, b: ChannelVarset(
        **b,
        variable=f.text("variable"),
        value=f.optional_text("value"),
        channel=_optional_channel(f, "channel"),
    ),
    "ChannelDialplan": lambda f, b: ChannelDialplan(
        **b,
        channel=_channel(f),
        dialplan_app=f.optional_text("dialplan_app"),
        dialplan_app_data=f.optional_text("dialplan_app_data"),
    ),
    "ChannelCallerId": lambda f, b: ChannelCallerId(
        **b,
        channel=_channel(f),
        caller_presentation=f.optional_integer("caller_presentation") or 0,
        caller_presentation_txt=f.optional_text("caller_presentation_txt"),
    ),
    "ChannelConnectedLine": lambda f, b: ChannelConnectedLine(**b, channel=_channel(f)),
    "ChannelCreated": lambda f, b: ChannelCreated(**b, channel=_channel(f)),
    "ChannelHold": lambda f, b: ChannelHold(
        **b, channel=_channel(f), musicclass=f.optional_text("musicclass")
    ),
    "ChannelUnhold": lambda f, b: ChannelUnhold(**b, channel=_channel(f)),
    "BridgeCreated": lambda f, b: BridgeCreated(**b, bridge=_bridge(f)),
    "BridgeDestroyed": lambda f, b: BridgeDestroyed(**b, bridge=_bridge(f)),
    "ApplicationReplaced": lambda f, b: ApplicationReplaced(**b),
    "ApplicationRegistered": lambda f, b: ApplicationRegistered(**b),
    "ApplicationUnregistered": lambda f, b: ApplicationUnregistered(**b),
}

TYPED_EVENTS: frozenset[str] = frozenset(_READERS)
"""Event types read into their own class."""

UNTYPED_EVENTS: Mapping[str, str] = {
    "DeviceStateChanged": "device states are not used by the hotline",
    "RecordingStarted": "calls are not recorded",
    "RecordingFinished": "calls are not recorded",
    "RecordingFailed": "calls are not recorded",
    "ApplicationMoveFailed": "channels are never moved to another application",
    "BridgeMerged": "bridges are never merged",
    "BridgeBlindTransfer": "callers and advisors are not transferred by SIP",
    "BridgeAttendedTransfer": "callers and advisors are not transferred by SIP",
    "BridgeVideoSourceChanged": "audio only",
    "ChannelUserevent": "the dialplan raises no UserEvent; AMD results come as StasisStart args",
    "ChannelToneDetected": "no tone detection is armed",
    "ChannelTalkingStarted": "no talk detection is armed",
    "ChannelTalkingFinished": "no talk detection is armed",
    "ContactStatusChange": "endpoints are not subscribed to",
    "PeerStatusChange": "endpoints are not subscribed to",
    "EndpointStateChange": "endpoints are not subscribed to",
    "TextMessageReceived": "no messaging",
    "ChannelTransfer": "callers and advisors are not transferred by SIP",
    "RESTResponse": "REST is spoken over HTTP, not over the websocket",
    "CallBroadcast": "calls are not broadcast to several applications",
    "CallClaimed": "calls are not broadcast to several applications",
    "MissingParams": "only sent for a websocket without parameters; ours always has them",
}
"""Event types ``events.json`` defines that arrive as :class:`UnknownEvent`, and why."""


def parse_event(message: str | bytes) -> Event:
    """Read one websocket message; anything unreadable becomes an :class:`UnknownEvent`."""
    try:
        data = json.loads(message)
    except ValueError as exc:
        return UnknownEvent(type="", problem=f"not JSON: {exc}")
    if not isinstance(data, dict):
        return UnknownEvent(type="", problem=f"not a JSON object: {type(data).__name__}")
    return event_from_json(data)


def event_from_json(data: Mapping[str, Any]) -> Event:
    """Build the typed event for one decoded JSON object."""
    kind = data.get("type")
    if not isinstance(kind, str):
        return UnknownEvent(type="", fields=data, problem="no type")
    fields = Fields(data, kind)
    base: _Base = {
        "type": kind,
        "application": fields.optional_text("application"),
        "timestamp": fields.time("timestamp"),
        "asterisk_id": fields.optional_text("asterisk_id"),
    }
    reader = _READERS.get(kind)
    if reader is None:
        return UnknownEvent(**base, fields=data)
    try:
        return reader(fields, base)
    except MalformedPayload as exc:
        return UnknownEvent(**base, fields=data, problem=str(exc))

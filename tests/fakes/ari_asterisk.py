"""What a fake Asterisk 22 knows: channels, bridges, playbacks, a small dialplan, and the events
each change sends, with the fields and in the orders recorded from a real Asterisk 22.10.1
(``../shared/ari/traces``, see its README).

Refusals carry Asterisk's own statuses and messages (taken from the traces
and from Asterisk's ``res/ari/resource_*.c``); :mod:`tests.fakes.ari_rest`
maps the REST operations onto the methods here. Events go to every
application subscribed to the object: the one that originated a channel
(which therefore also hears ``ChannelDestroyed``, where an inbound
channel's application does not) and, for everything but ``StasisStart``
and ``StasisEnd``, the one it is in Stasis with.

Calls are Local channel pairs, as in the recording lab: an inbound call
is ``Local/<exten>@hotline-in`` whose ``;2`` half runs ``Stasis(hotline)``
while the ``;1`` half is the caller's phone. Other technologies (``PJSIP``)
are single channels whose far end does what :attr:`Asterisk.devices` says.
Durations (ringing, talking, a prompt's length) are in seconds times
``time_scale``, so a test can run the lab's scenarios in milliseconds.

Sounds are the ones registered (a name and a length), and, as Asterisk finds a
file when it plays it, the files in :attr:`Asterisk.sounds_dir` (``fi/callflow/greeting.wav``
is ``sound:fi/callflow/greeting``, as long as the WAV says). Asterisk's sound index
(``GET /sounds``) is read at its start, so it lists only the registered ones.

Not modelled: ``ChannelVarset`` (except for an explicit set), ``ChannelDialplan``,
``ChannelCallerId``, ``ChannelConnectedLine`` — noise the adapter ignores —
recordings, snoops, external media, transfers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import wave
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CAUSES = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered Elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}
DIAL_STATUS = {17: "BUSY", 18: "NOANSWER", 19: "NOANSWER", 21: "NOANSWER", 34: "CONGESTION"}
HANGUP_REASONS = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}
EXPLICIT = 32
"""``ChannelHangupRequest.cause`` of a hang-up asked over ARI (AST_SOFTHANGUP_EXPLICIT)."""

BRIDGE_FLAGS = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single"}
INVALID_STATES = {"Down", "Rsrved", "Ringing"}

DEFAULT_SOUNDS: dict[str, float | None] = {
    "hello-world": 1.4,
    "agent-loginok": 1.7,
    "tt-monkeys": 10.0,
    "demo-congrats": 8.0,
    "beep": 0.3,
}
SECONDS_PER_CHARACTER = 0.5
SOUND_FORMATS = frozenset({"wav", "WAV", "gsm", "ulaw", "alaw", "g722", "sln", "sln16", "g729"})
"""Extensions of the sound files Asterisk plays (its format modules')."""
SAY_SCHEMES = frozenset({"digits", "number", "characters"})
"""Media Asterisk says with its say functions, whose ``ast_waitstream`` swallows a stop."""
DEFAULT_MODULES: dict[str, tuple[str, str]] = {
    "app_amd.so": ("Answering Machine Detection Application", "extended"),
    "app_stasis.so": ("Stasis dialplan application", "core"),
    "res_ari.so": ("Asterisk RESTful Interface", "core"),
    "res_musiconhold.so": ("Music On Hold Resource", "core"),
    "res_stasis.so": ("Stasis application support", "core"),
}
"""The running modules callflow depends on: file name → (description, support level)."""
ENDPOINT_STATES = ("unknown", "offline", "online")


class Refusal(Exception):
    """How Asterisk says no: ``{key: message}`` with *status*; *malformed* marks a request
    that is wrong whatever the state (a violation, not a race)."""

    def __init__(
        self, status: int, message: str, *, key: str = "message", malformed: bool = False
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.key = key
        self.malformed = malformed


@dataclass(frozen=True, slots=True)
class Stasis:
    """Dialplan entry: the channel enters this Stasis application."""

    app: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Phone:
    """A far end: hangs up at once with *cause*; or rings *answer_after* seconds (None: until
    the originate times out or the test decides), answers, and hangs up after *talk*
    seconds (None: stays on the line)."""

    answer_after: float | None = 0.0
    talk: float | None = None
    cause: int | None = None


Behaviour = Stasis | Phone

LAB_DIALPLAN: dict[tuple[str, str], Behaviour] = {
    ("hotline-in", "*"): Stasis("hotline"),
    ("caller", "*"): Phone(),
    ("advisor", "200"): Phone(),
    ("advisor", "201"): Phone(talk=4.0),
    ("advisor", "202"): Phone(answer_after=None),
    ("advisor", "203"): Phone(cause=17),
    ("advisor", "204"): Phone(cause=21),
    ("advisor", "205"): Phone(answer_after=2.0, talk=4.0),
}
"""The dialplan of the lab the traces were recorded in (traces README)."""


@dataclass(frozen=True, slots=True)
class Args:
    """A request's parameters: query and JSON-body ones as strings, path ones, variables."""

    values: Mapping[str, str]
    path: Mapping[str, str]
    variables: Mapping[str, str] | None = None
    received_at: float | None = None
    """When the request arrived (``time.monotonic()``); None: now."""

    def text(self, name: str) -> str:
        return self.values.get(name, "")

    def integer(self, name: str, default: int) -> int:
        """Like Asterisk's ``atoi``: a missing value is the default, garbage is 0."""
        raw = self.values.get(name)
        if raw is None:
            return default
        digits = raw.strip()
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-")
        number = ""
        for ch in digits:
            if not ch.isdigit():
                break
            number += ch
        return sign * int(number) if number else 0

    def items(self, name: str) -> list[str]:
        raw = self.values.get(name)
        return [] if raw is None else raw.split(",")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any = None


NO_CONTENT = Reply(204)


@dataclass(eq=False)
class Outbound:
    """A channel being dialled: where it goes once answered, and how long it may ring."""

    app: str | None
    args: tuple[str, ...]
    context: str
    extension: str
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class Chan:
    id: str
    name: str
    state: str
    caller: tuple[str, str]
    dialplan: dict[str, Any]
    creationtime: str
    tech: str
    language: str = "en"
    peer: Chan | None = None
    stasis_app: str | None = None
    subscribers: set[str] = field(default_factory=set)
    bridge: Brg | None = None
    variables: dict[str, str] = field(default_factory=dict)
    created_by_ari: bool = False
    dialstring: str = ""
    outbound: Outbound | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    created_at: float = field(default_factory=time.monotonic)

    def json(self) -> dict[str, Any]:
        name, number = self.caller
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": "",
            "caller": {"name": name, "number": number},
            "connected": {"name": name, "number": number},
            "accountcode": "",
            "dialplan": dict(self.dialplan),
            "creationtime": self.creationtime,
            "language": self.language,
        }

    def recipients(self) -> set[str]:
        apps = set(self.subscribers)
        if self.stasis_app:
            apps.add(self.stasis_app)
        return apps

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        if self.outbound and self.outbound.timer:
            self.outbound.timer.cancel()


@dataclass(eq=False)
class Brg:
    id: str
    bridge_type: str
    name: str
    creationtime: str
    channels: list[str] = field(default_factory=list)
    announcer: str | None = None
    apps: set[str] = field(default_factory=set)
    subscribed: bool = False
    """Asterisk reports BridgeDestroyed only while our app is subscribed to the bridge;
    ``removeChannel`` ends that (traces 03/04/06)."""

    def json(self, *, with_announcer: bool = True) -> dict[str, Any]:
        channels = list(self.channels)
        if with_announcer and self.announcer:
            channels.append(self.announcer)
        return {
            "id": self.id,
            "technology": "holding_bridge" if self.bridge_type == "holding" else "simple_bridge",
            "bridge_type": self.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": channels,
            "creationtime": self.creationtime,
            "video_mode": "talker",
        }


@dataclass(eq=False)
class Play:
    id: str
    media: list[str]
    target_kind: str
    target_id: str
    language: str
    apps: set[str]
    index: int = 0
    state: str = "queued"
    timer: asyncio.TimerHandle | None = None
    remaining: float | None = None
    started_at: float = 0.0
    stuck: bool = False
    """An unsupported media scheme: started, never finished, not even by a hang-up."""

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "media_uri": self.media[self.index]}
        if self.index + 1 < len(self.media):
            body["next_media_uri"] = self.media[self.index + 1]
        body["target_uri"] = f"{self.target_kind}:{self.target_id}"
        body["language"] = self.language
        body["state"] = self.state
        return body


def now_text() -> str:
    """Asterisk's timestamp: milliseconds, offset without a colon."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


Emit = Callable[[Iterable[str], dict[str, Any]], None]
IsActive = Callable[[str], bool]


class Asterisk:
    """One boot of the fake Asterisk: everything here is lost on restart."""

    def __init__(
        self,
        *,
        emit: Emit,
        is_active: IsActive,
        time_scale: float,
        technologies: Iterable[str],
        dialplan: Mapping[tuple[str, str], Behaviour],
        devices: Mapping[str, Phone],
        sounds: Mapping[str, float | None],
        epoch: int,
        sounds_dir: Path | None = None,
        modules: Mapping[str, tuple[str, str]] = DEFAULT_MODULES,
        endpoints: Mapping[str, str] | None = None,
    ) -> None:
        self._emit = emit
        self._is_active = is_active
        self.time_scale = time_scale
        self.technologies = set(technologies)
        self.dialplan = dict(dialplan)
        self.devices = dict(devices)
        self.sounds = dict(sounds)
        self.sounds_dir = sounds_dir
        """Asterisk's sounds directory, if the test gives one: its files play too."""
        self.modules = dict(modules)
        self.endpoints = dict(endpoints or {})
        """Endpoints configured (``PJSIP/advisor-12``) → state, one of :data:`ENDPOINT_STATES`."""
        self.epoch = epoch
        self.entity_id = "02:fc:00:00:00:01"
        self.startup_time = now_text()
        self.channels: dict[str, Chan] = {}
        self.bridges: dict[str, Brg] = {}
        self.playbacks: dict[str, Play] = {}
        self.queues: dict[str, list[Play]] = {}
        self.global_vars: dict[str, str] = {}
        self.registered: set[str] = set()
        self._sequence = 0
        self._local = 0

    # -- plumbing ------------------------------------------------------------------------

    def emit(self, apps: Iterable[str], kind: str, **fields: Any) -> None:
        event = {"type": kind, "timestamp": now_text(), **fields}
        self._emit(apps, event)

    def later(self, seconds: float, action: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(seconds * self.time_scale, action)

    def next_id(self) -> str:
        self._sequence += 1
        return f"{self.epoch}.{self._sequence}"

    def shutdown(self) -> None:
        for channel in self.channels.values():
            channel.cancel_timers()
        for playback in self.playbacks.values():
            if playback.timer:
                playback.timer.cancel()

    def control(self, channel_id: str, *, check_state: bool = True) -> Chan:
        """``find_control`` and ``channel_state_invalid`` of resource_channels.c."""
        channel = self.channels.get(channel_id)
        if channel is None:
            raise Refusal(404, "Channel not found")
        if channel.stasis_app is None:
            raise Refusal(409, "Channel not in Stasis application")
        if check_state and channel.state in INVALID_STATES:
            raise Refusal(412, "Channel in invalid state")
        return channel

    def bridge(self, bridge_id: str) -> Brg:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise Refusal(404, "Bridge not found")
        return bridge

    def behaviour(self, context: str, exten: str) -> Behaviour | None:
        return self.dialplan.get((context, exten)) or self.dialplan.get((context, "*"))

    # -- channels ------------------------------------------------------------------------

    def _new_channel(
        self,
        channel_id: str | None,
        name: str,
        state: str,
        caller: tuple[str, str],
        dialplan: dict[str, Any],
        tech: str,
    ) -> Chan:
        channel = Chan(
            id=channel_id or self.next_id(),
            name=name,
            state=state,
            caller=caller,
            dialplan=dialplan,
            creationtime=now_text(),
            tech=tech,
        )
        self.channels[channel.id] = channel
        return channel

    def listed_channels(self, asked_at: float | None) -> list[Chan]:
        """``GET /channels``: the channels as they were when the request arrived. A live
        Asterisk answered a list sent at the moment of an originate without the new
        channel (traces README, last section); here a channel created while the list was
        on its way (held or delayed by a test) is not in it."""
        return [c for c in self.channels.values() if asked_at is None or c.created_at <= asked_at]

    def _set_state(self, channel: Chan, state: str) -> None:
        if channel.state != state:
            channel.state = state
            self.emit(channel.recipients(), "ChannelStateChange", channel=channel.json())

    def _destroy(self, channel: Chan, cause: int) -> None:
        channel.cancel_timers()
        self._drop_playbacks(channel_target=channel.id)
        self.channels.pop(channel.id, None)
        if channel.subscribers:
            self.emit(
                channel.subscribers,
                "ChannelDestroyed",
                cause=cause,
                cause_txt=CAUSES.get(cause, "Unknown"),
                channel=channel.json(),
            )

    def _leave_stasis(self, channel: Chan) -> None:
        """What a channel in Stasis goes through when it is hung up, up to StasisEnd."""
        self._fail_playbacks(channel.id)
        if channel.bridge is not None:
            self._leave_bridge(channel, channel.bridge, removed=False)
        app = channel.stasis_app
        if app is not None:
            # Stasis events go to the channel's own application only (trace 02)
            self.emit([app], "StasisEnd", channel=channel.json())
            channel.stasis_app = None

    def enter_stasis(self, channel: Chan, app: str, args: tuple[str, ...]) -> bool:
        """StasisStart, or False when the application has no websocket (the call fails)."""
        if not self._is_active(app):
            return False
        channel.stasis_app = app
        channel.dialplan.update(app_name="Stasis", app_data=",".join((app, *args)))
        self.emit([app], "StasisStart", args=list(args), channel=channel.json())
        return True

    def hang_up_far_end(self, channel: Chan, cause: int = 16) -> None:
        """The other party hangs up: a caller (trace 03), an advisor (trace 04), a resident."""
        channel.cancel_timers()
        peer = channel.peer
        if peer is not None and peer.id in self.channels and peer.subscribers:
            # the far half of a Local pair we originated: the advisor's dialplan side
            self.emit(
                peer.recipients(), "ChannelHangupRequest", cause=16, soft=True, channel=peer.json()
            )
            self.emit(
                channel.recipients(), "ChannelHangupRequest", cause=cause, channel=channel.json()
            )
            peer.cancel_timers()
            self._destroy(peer, cause)
        else:
            self.emit(
                channel.recipients(), "ChannelHangupRequest", cause=cause, channel=channel.json()
            )
            if peer is not None:
                # the caller's own half goes unseen: nobody subscribed to it
                peer.cancel_timers()
                self.channels.pop(peer.id, None)
        self._leave_stasis(channel)
        self._destroy(channel, cause)

    def hang_up_by_app(self, channel: Chan, cause: int) -> None:
        """``DELETE /channels/{id}``, as traces 01, 04 and 05 show it."""
        peer = channel.peer
        if channel.stasis_app is None and peer is not None and peer.stasis_app is not None:
            # the caller's phone (;1 half, not in Stasis) hangs up: the far end of ;2
            channel.cancel_timers()
            self.channels.pop(channel.id, None)
            peer.peer = None
            self.hang_up_far_end(peer, 16)
            return
        if channel.stasis_app is None and channel.outbound is not None:
            self._cancel_dialling(channel, cause)
            return
        channel.cancel_timers()
        self.emit(
            channel.recipients(),
            "ChannelHangupRequest",
            cause=EXPLICIT,
            soft=True,
            channel=channel.json(),
        )
        self._leave_stasis(channel)
        if peer is not None and peer.id in self.channels:
            if channel.subscribers:
                self.emit(peer.recipients(), "ChannelHangupRequest", cause=16, channel=peer.json())
            self._destroy(channel, 16)
            # the other half may be in Stasis too (the phone simulator of trace 02)
            self._leave_stasis(peer)
            if peer.subscribers:
                self.emit(
                    peer.subscribers,
                    "ChannelHangupRequest",
                    cause=16,
                    soft=True,
                    channel=peer.json(),
                )
            peer.cancel_timers()
            self._destroy(peer, 16)
        else:
            self._destroy(channel, 16)

    def _cancel_dialling(self, channel: Chan, cause: int) -> None:
        channel.cancel_timers()
        self.emit(
            channel.recipients(),
            "ChannelHangupRequest",
            cause=EXPLICIT,
            soft=True,
            channel=channel.json(),
        )
        self._dial_event(channel, "CANCEL")
        if channel.peer is not None and channel.peer.id in self.channels:
            self._destroy(channel.peer, cause)
        self._destroy(channel, cause)

    # -- origination ---------------------------------------------------------------------

    def originate(self, args: Args, channel_id: str | None) -> Chan:
        """``POST /channels`` (and ``/channels/{channelId}``), answered 200 at once."""
        endpoint = args.text("endpoint")
        if len(channel_id or "") > 128 or len(args.text("otherChannelId")) > 128:
            raise Refusal(400, "Uniqueid length exceeds maximum of 128", malformed=True)
        if not endpoint:
            raise Refusal(400, "Endpoint must be specified", malformed=True)
        if args.text("originator") and args.text("formats"):
            raise Refusal(400, "Originator and formats can't both be specified", malformed=True)
        tech, _, resource = endpoint.partition("/")
        if not tech or not resource:
            raise Refusal(400, "Invalid endpoint specified", malformed=True)
        app = args.text("app")
        extension = args.text("extension")
        if not app and not extension:
            raise Refusal(400, "Application or extension must be specified", malformed=True)
        self._check_new_ids(channel_id, args.text("otherChannelId"))
        if tech not in self.technologies:
            raise Refusal(500, "Allocation failed", key="error")
        outbound = Outbound(
            app=app or None,
            args=tuple(args.text("appArgs").split(",")) if args.text("appArgs") else (),
            context=args.text("context") or "default",
            extension=extension,
        )
        caller = _parse_caller_id(args.text("callerId"))
        channel = self._dialled_channel(
            tech, resource, channel_id, args.text("otherChannelId"), caller
        )
        channel.outbound = outbound
        if args.variables:
            channel.variables.update(args.variables)
        if app:
            channel.subscribers.add(app)
            if channel.peer is not None:
                channel.peer.subscribers.add(app)
        timeout = args.integer("timeout", 30)
        if timeout > 0:
            outbound.timer = self.later(timeout, lambda: self._ring_timeout(channel))
        asyncio.get_running_loop().call_soon(self._dial, channel)
        return channel

    def _check_new_ids(self, *ids: str | None) -> None:
        for new_id in ids:
            if new_id and new_id in self.channels:
                raise Refusal(409, "Channel with given unique ID already exists")

    def _dialled_channel(
        self,
        tech: str,
        resource: str,
        channel_id: str | None,
        other_id: str | None,
        caller: tuple[str, str],
    ) -> Chan:
        if tech == "Local":
            exten, _, context = resource.partition("@")
            self._local += 1
            base = f"Local/{resource}-{self._local:08x}"
            dialled = {
                "context": context,
                "exten": exten,
                "priority": 1,
                "app_name": "AppDial2",
                "app_data": "(Outgoing Line)",
            }
            one = self._new_channel(channel_id, f"{base};1", "Down", caller, dialled, tech)
            running = {"context": context, "exten": exten, "priority": 1}
            two = self._new_channel(
                other_id or None,
                f"{base};2",
                "Ring",
                caller,
                {**running, "app_name": "", "app_data": ""},
                tech,
            )
            one.peer, two.peer = two, one
            one.dialstring = resource
            return one
        self._local += 1
        device = resource.partition("@")[2] or resource
        dialled = {
            "context": "default",
            "exten": "s",
            "priority": 1,
            "app_name": "AppDial2",
            "app_data": "(Outgoing Line)",
        }
        channel = self._new_channel(
            channel_id, f"{tech}/{device}-{self._local:08x}", "Down", caller, dialled, tech
        )
        channel.dialstring = resource
        return channel

    def _dial_event(self, channel: Chan, status: str) -> None:
        self.emit(
            channel.recipients(),
            "Dial",
            dialstatus=status,
            forward="",
            dialstring=channel.dialstring,
            peer=channel.json(),
        )

    def _dial(self, channel: Chan) -> None:
        """The dialled side runs: its dialplan (Local) or its device (anything else)."""
        if channel.id not in self.channels:
            return
        peer = channel.peer
        if peer is None:
            behaviour: Behaviour | None = self.devices.get(
                f"{channel.tech}/{channel.dialstring}", Phone(answer_after=None)
            )
        else:
            behaviour = self.behaviour(peer.dialplan["context"], peer.dialplan["exten"])
        if behaviour is None:
            # no such extension or context: both halves go at once, cause 0 (trace 05)
            if peer is not None:
                self._destroy(peer, 0)
            self._destroy(channel, 0)
            return
        self._dial_event(channel, "")
        if isinstance(behaviour, Stasis):
            assert peer is not None
            if not self.enter_stasis(peer, behaviour.app, behaviour.args):
                # "Stasis app 'x' not active": the call fails at once (trace 07)
                self._destroy(peer, 16)
                self._destroy(channel, 16)
            return
        self._ring(channel, behaviour)

    def _ring(self, channel: Chan, phone: Phone) -> None:
        if phone.cause is not None:
            self.fail(channel, phone.cause)
            return
        if phone.answer_after == 0:
            # a phone that answers at once never rings (trace 05, extension 200)
            self.answer_dialled(channel, phone.talk)
            return
        self._set_state(channel, "Ringing")
        self._dial_event(channel, "RINGING")
        if phone.answer_after is not None:
            channel.timers.append(
                self.later(phone.answer_after, lambda: self.answer_dialled(channel, phone.talk))
            )

    def answer_dialled(self, channel: Chan, talk: float | None = None) -> None:
        """The far end picks up: the channel answers and goes where it was sent."""
        if channel.id not in self.channels or channel.outbound is None:
            return
        outbound = channel.outbound
        if outbound.timer:
            outbound.timer.cancel()
        peer = channel.peer
        if peer is not None:
            self._set_state(peer, "Up")
        self._set_state(channel, "Up")
        self._dial_event(channel, "ANSWER")
        channel.outbound = None
        target = outbound.app
        args = outbound.args
        behaviour = self.behaviour(outbound.context, outbound.extension)
        if target is None and isinstance(behaviour, Stasis):
            target, args = behaviour.app, behaviour.args
        if target is not None and not self.enter_stasis(channel, target, args):
            # "Stasis app not active": the answered call is hung up at once
            if peer is not None and peer.id in self.channels:
                self._destroy(peer, 16)
            self._destroy(channel, 16)
            return
        if talk is not None:
            channel.timers.append(self.later(talk, lambda: self.hang_up_far_end(channel, 16)))

    def fail(self, channel: Chan, cause: int) -> None:
        """The far end refuses (busy 17, rejected 21, ...), as trace 05 shows it."""
        if channel.id not in self.channels:
            return
        channel.cancel_timers()
        peer = channel.peer
        if channel.created_by_ari:
            # POST /channels/create + /dial: the channel itself is in Stasis (trace 05)
            self.emit(
                channel.recipients(), "ChannelHangupRequest", cause=cause, channel=channel.json()
            )
            self._leave_stasis(channel)
            channel.outbound = None
            self._destroy(channel, 16)
            return
        if peer is not None:
            self.emit(
                peer.recipients(), "ChannelHangupRequest", cause=16, soft=True, channel=peer.json()
            )
        self.emit(channel.recipients(), "ChannelHangupRequest", cause=cause, channel=channel.json())
        if peer is not None:
            self._destroy(peer, cause)
        self._dial_event(channel, DIAL_STATUS.get(cause, "CHANUNAVAIL"))
        self._destroy(channel, cause)

    def _ring_timeout(self, channel: Chan) -> None:
        """The originate's ``timeout`` ran out while ringing: cause 19, no final Dial."""
        if channel.id not in self.channels or channel.outbound is None:
            return
        channel.cancel_timers()
        peer = channel.peer
        if peer is not None:
            self.emit(peer.recipients(), "ChannelHangupRequest", cause=19, channel=peer.json())
        self._destroy(channel, 19)
        if peer is not None:
            self.emit(
                peer.recipients(), "ChannelHangupRequest", cause=16, soft=True, channel=peer.json()
            )
            self._destroy(peer, 19)

    def create(self, args: Args) -> Chan:
        """``POST /channels/create``: a channel in Stasis at once (state Down), not dialled."""
        endpoint = args.text("endpoint")
        app = args.text("app")
        if args.text("originator") and args.text("formats"):
            raise Refusal(400, "Originator and formats can't both be specified", malformed=True)
        tech, _, resource = endpoint.partition("/")
        self._check_new_ids(args.text("channelId"), args.text("otherChannelId"))
        if tech not in self.technologies or not resource or not app:
            raise Refusal(500, "Allocation failed", key="error")
        self._local += 1
        exten, _, context = resource.partition("@")
        channel = self._new_channel(
            args.text("channelId") or None,
            f"{tech}/{resource}-{self._local:08x};1"
            if tech == "Local"
            else f"{tech}/{resource}-{self._local:08x}",
            "Down",
            ("", ""),
            {
                "context": context or "default",
                "exten": exten,
                "priority": 1,
                "app_name": "",
                "app_data": "",
            },
            tech,
        )
        channel.created_by_ari = True
        channel.dialstring = resource
        channel.subscribers.add(app)
        if args.variables:
            channel.variables.update(args.variables)
        app_args = tuple(args.text("appArgs").split(",")) if args.text("appArgs") else ()
        channel.stasis_app = app
        channel.dialplan.update(app_name="Stasis", app_data=",".join((app, *app_args)))
        self.emit(channel.recipients(), "StasisStart", args=list(app_args), channel=channel.json())
        return channel

    def dial_created(self, channel: Chan, timeout: int) -> None:
        if channel.state not in ("Down", "Rsrved"):
            raise Refusal(409, "Channel is not in the 'Down' state")
        if not channel.created_by_ari:
            raise Refusal(409, "Dialing a channel not created by ARI")
        channel.outbound = Outbound(app=None, args=(), context="", extension="")
        if timeout > 0:
            channel.outbound.timer = self.later(timeout, lambda: self.fail(channel, 19))
        self._dial_event(channel, "")
        if channel.tech == "Local":
            exten, _, context = channel.dialstring.partition("@")
            target = self.behaviour(context, exten)
            phone = target if isinstance(target, Phone) else Phone(answer_after=None)
        else:
            phone = self.devices.get(
                f"{channel.tech}/{channel.dialstring}", Phone(answer_after=None)
            )
        if phone.cause is not None:
            loop = asyncio.get_running_loop()
            loop.call_soon(self.fail, channel, phone.cause)
        elif phone.answer_after is not None:
            channel.timers.append(
                self.later(phone.answer_after, lambda: self.answer_created(channel, phone.talk))
            )

    def answer_created(self, channel: Chan, talk: float | None) -> None:
        if channel.id not in self.channels or channel.outbound is None:
            return
        if channel.outbound.timer:
            channel.outbound.timer.cancel()
        channel.outbound = None
        self._set_state(channel, "Up")
        self.emit(
            channel.recipients(),
            "Dial",
            dialstatus="ANSWER",
            forward="",
            dialstring="",
            peer=channel.json(),
        )
        if talk is not None:
            channel.timers.append(self.later(talk, lambda: self.hang_up_far_end(channel, 16)))

    def continue_in_dialplan(self, channel: Chan, context: str = "", exten: str = "") -> None:
        """The channel leaves its bridge and our application, and stays up in the dialplan;
        where that sends it to ``Stasis()`` (``${VAR}`` read from the channel's variables,
        as the AMD context does with ``${CALLFLOW_APP}``), it comes back on the next turn."""
        if channel.bridge is not None:
            self._leave_bridge(channel, channel.bridge, removed=True)
        app = channel.stasis_app
        channel.stasis_app = None
        if app is not None:
            self.emit([app], "StasisEnd", channel=channel.json())
        behaviour = self.behaviour(context, exten) if context else None
        if isinstance(behaviour, Stasis):
            target = behaviour.app
            for name, value in channel.variables.items():
                target = target.replace(f"${{{name}}}", value)
            asyncio.get_running_loop().call_soon(self.enter_stasis, channel, target, behaviour.args)

    def answer(self, channel: Chan) -> None:
        """``POST .../answer``: Up, and the ringing far side of an inbound pair is answered."""
        if channel.state == "Up":
            return
        peer = channel.peer
        ringing = peer is not None and peer.outbound is not None and peer.id in self.channels
        if peer is not None and ringing:
            self._set_state(peer, "Up")  # the caller's half first (trace 02)
        self._set_state(channel, "Up")
        if peer is not None and ringing:
            self.answer_dialled(peer)

    # -- DTMF ----------------------------------------------------------------------------

    def press(self, channel: Chan, digits: str, duration_ms: int = 100) -> None:
        for digit in digits:
            self.emit(
                channel.recipients(),
                "ChannelDtmfReceived",
                digit=digit,
                duration_ms=duration_ms,
                channel=channel.json(),
            )

    def send_dtmf(self, channel: Chan, args: Args) -> None:
        """``POST .../dtmf`` on one half of a Local pair: the other half receives the keys."""
        target = channel.peer
        if target is None or target.id not in self.channels:
            return
        digits = [d for d in args.text("dtmf") if d in "0123456789*#abcdABCD"]
        before = args.integer("before", 0) / 1000
        between = args.integer("between", 100) / 1000
        duration_ms = args.integer("duration", 100)
        for n, digit in enumerate(digits):
            delay = before + n * (between + duration_ms / 1000) + duration_ms / 1000
            target.timers.append(
                self.later(delay, lambda d=digit: self.press(target, d, duration_ms))
            )

    # -- bridges -------------------------------------------------------------------------

    def create_bridge(self, args: Args, bridge_id: str | None) -> Brg:
        flags = [f for f in args.items("type") if f]
        name = args.text("name")
        if bridge_id and bridge_id in self.bridges:
            raise Refusal(409, f"Bridge with id '{bridge_id}' already exists")
        if any(f not in BRIDGE_FLAGS for f in flags):
            raise Refusal(
                500,
                f"Unable to create bridge. Possible duplicate bridge id '{bridge_id or '(null)'}'",
            )
        bridge = Brg(
            id=bridge_id or str(uuid.uuid4()),
            bridge_type="holding" if "holding" in flags else "mixing",
            name=name,
            creationtime=now_text(),
        )
        self.bridges[bridge.id] = bridge
        return bridge

    def _controls(self, args: Args) -> list[Chan]:
        """``control_list_create`` of resource_bridges.c: 400 unknown, 422 not in Stasis."""
        ids = [c for c in args.items("channel") if c]
        if not ids:
            raise Refusal(400, "Missing parameter channel", malformed=True)
        found = []
        for channel_id in ids:
            channel = self.channels.get(channel_id)
            if channel is None:
                raise Refusal(400, "Channel not found")
            if channel.stasis_app is None:
                raise Refusal(422, "Channel not in Stasis application")
            found.append(channel)
        return found

    def add_to_bridge(self, bridge: Brg, args: Args) -> None:
        for channel in self._controls(args):
            if channel.bridge is not None:
                self._leave_bridge(channel, channel.bridge, removed=False)
            bridge.channels.append(channel.id)
            channel.bridge = bridge
            bridge.subscribed = True
            if channel.stasis_app:
                bridge.apps.add(channel.stasis_app)
            self.emit(
                channel.recipients() | bridge.apps,
                "ChannelEnteredBridge",
                bridge=bridge.json(),
                channel=channel.json(),
            )

    def remove_from_bridge(self, bridge: Brg, args: Args) -> None:
        channels = self._controls(args)
        if any(channel.bridge is not bridge for channel in channels):
            raise Refusal(422, "Channel not in this bridge")
        for channel in channels:
            self._leave_bridge(channel, bridge, removed=True)

    def _leave_bridge(self, channel: Chan, bridge: Brg, *, removed: bool) -> None:
        bridge.channels.remove(channel.id)
        channel.bridge = None
        if removed:
            bridge.subscribed = False
        self.emit(
            channel.recipients() | bridge.apps,
            "ChannelLeftBridge",
            bridge=bridge.json(),
            channel=channel.json(),
        )
        if not bridge.channels:
            # the music's announcer leaves with the last participant (trace 03)
            bridge.announcer = None

    def destroy_bridge(self, bridge: Brg) -> None:
        inside = [self.channels[c] for c in bridge.channels if c in self.channels]
        for channel in inside:
            self._leave_bridge(channel, bridge, removed=False)
        del self.bridges[bridge.id]
        self._drop_playbacks(bridge_target=bridge.id)
        if not inside and bridge.subscribed:
            self.emit(bridge.apps, "BridgeDestroyed", bridge=bridge.json())

    def start_bridge_moh(self, bridge: Brg) -> None:
        if bridge.announcer is None:
            bridge.announcer = self.next_id()

    def stop_bridge_moh(self, bridge: Brg) -> None:
        if bridge.announcer is None:
            raise Refusal(409, "Bridge isn't playing music")
        bridge.announcer = None

    # -- playbacks -----------------------------------------------------------------------

    def play(
        self, kind: str, target_id: str, args: Args, playback_id: str | None, apps: set[str]
    ) -> Play:
        media = args.items("media")
        if not media:
            raise Refusal(500, "Failed to queue media for playback", malformed=True)
        if args.integer("skipms", 3000) < 0:
            raise Refusal(400, "skipms cannot be negative", malformed=True)
        if args.integer("offsetms", 0) < 0:
            raise Refusal(400, "offsetms cannot be negative", malformed=True)
        playback = Play(
            id=playback_id or str(uuid.uuid4()),
            media=media,
            target_kind=kind,
            target_id=target_id,
            language=args.text("lang") or "en",
            apps=apps,
        )
        self.playbacks[playback.id] = playback
        queue = self.queues.setdefault(f"{kind}:{target_id}", [])
        queue.append(playback)
        if len(queue) == 1:
            asyncio.get_running_loop().call_soon(self._start_playback, playback)
        return playback

    def _start_playback(self, playback: Play) -> None:
        if playback.id not in self.playbacks:
            return
        playback.state = "playing"
        self.emit(playback.apps, "PlaybackStarted", playback=playback.json())
        self._run_media(playback)

    def _run_media(self, playback: Play) -> None:
        uri = playback.media[playback.index]
        scheme, _, what = uri.partition(":")
        seconds: float | None
        if scheme == "sound":
            if what in self.sounds:
                seconds = self.sounds[what]
            elif (found := self._sound_file(what)) is not None:
                seconds = found
            else:
                self._finish(playback, "failed")
                return
        elif scheme in ("digits", "number", "characters"):
            seconds = SECONDS_PER_CHARACTER * max(len(what), 1)
        elif scheme == "tone":
            seconds = None
        elif scheme == "recording":
            self._finish(playback, "failed")
            return
        else:
            # Asterisk: "scheme is unsupported": started, and never finished (trace 06)
            playback.stuck = True
            seconds = None
        if seconds is not None:
            self._time_media(playback, seconds)

    def _sound_file(self, name: str) -> float | None:
        """The length of the file *name* in :attr:`sounds_dir`, in any format Asterisk plays;
        None if there is none (a WAV says its length; other formats count a second)."""
        if self.sounds_dir is None:
            return None
        path = self.sounds_dir / name
        for found in sorted(path.parent.glob(f"{path.name}.*")):
            if found.stem != path.name or found.suffix[1:] not in SOUND_FORMATS:
                continue
            if found.suffix.lower() != ".wav":
                return 1.0
            with wave.open(str(found), "rb") as sound:
                return sound.getnframes() / sound.getframerate()
        return None

    def _time_media(self, playback: Play, seconds: float) -> None:
        playback.remaining = seconds
        playback.started_at = time.monotonic()
        playback.timer = self.later(seconds, lambda: self.media_ended(playback))

    def media_ended(self, playback: Play) -> None:
        """The current media item ended; the next one follows, or the playback is done."""
        if playback.id not in self.playbacks or playback.state not in ("playing", "paused"):
            return
        if playback.timer:
            playback.timer.cancel()
        if playback.index + 1 < len(playback.media):
            playback.state = "continuing"
            self.emit(playback.apps, "PlaybackContinuing", playback=playback.json())
            playback.index += 1
            playback.state = "playing"
            self.emit(playback.apps, "PlaybackStarted", playback=playback.json())
            self._run_media(playback)
            return
        self._finish(playback, "done")

    def _finish(self, playback: Play, state: str) -> None:
        if playback.timer:
            playback.timer.cancel()
        playback.state = state
        self.playbacks.pop(playback.id, None)
        self.emit(playback.apps, "PlaybackFinished", playback=playback.json())
        queue = self.queues.get(f"{playback.target_kind}:{playback.target_id}", [])
        if playback in queue:
            queue.remove(playback)
        if queue:
            asyncio.get_running_loop().call_soon(self._start_playback, queue[0])

    def stop_playback(self, playback: Play) -> None:
        if playback.state in ("playing", "paused", "continuing"):
            if playback.media[playback.index].partition(":")[0] in SAY_SCHEMES:
                # Asterisk 22.10.1 answers 204, but inside a say item the stop is lost
                # (sanitize_waitstream_return in main/file.c): this item and every later
                # one play on, and PlaybackFinished comes at the end.
                return
            self._finish(playback, "done")
        else:
            self.playbacks.pop(playback.id, None)
            queue = self.queues.get(f"{playback.target_kind}:{playback.target_id}", [])
            if playback in queue:
                queue.remove(playback)

    def control_playback(self, playback: Play, operation: str) -> None:
        if playback.state not in ("playing", "paused"):
            raise Refusal(409, f"Can only {operation} while media is playing")
        if operation == "pause" and playback.state == "playing":
            if playback.timer:
                playback.timer.cancel()
                elapsed = (time.monotonic() - playback.started_at) / self.time_scale
                playback.remaining = max((playback.remaining or 0) - elapsed, 0)
            playback.state = "paused"
        elif operation == "unpause" and playback.state == "paused":
            playback.state = "playing"
            self.emit(playback.apps, "PlaybackStarted", playback=playback.json())
            if playback.remaining is not None and playback.timer is not None:
                self._time_media(playback, playback.remaining)

    def _fail_playbacks(self, channel_id: str) -> None:
        """The channel hangs up: its current playback fails, queued ones vanish (trace 02)."""
        queue = self.queues.pop(f"channel:{channel_id}", [])
        for n, playback in enumerate(queue):
            if n == 0 and playback.state != "queued" and not playback.stuck:
                if playback.timer:
                    playback.timer.cancel()
                playback.state = "failed"
                self.emit(playback.apps, "PlaybackFinished", playback=playback.json())
            self.playbacks.pop(playback.id, None)

    def _drop_playbacks(
        self, *, channel_target: str | None = None, bridge_target: str | None = None
    ) -> None:
        key = f"channel:{channel_target}" if channel_target else f"bridge:{bridge_target}"
        for playback in self.queues.pop(key, []):
            if playback.timer:
                playback.timer.cancel()
            self.playbacks.pop(playback.id, None)

    # -- applications --------------------------------------------------------------------

    def application(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "channel_ids": [c.id for c in self.channels.values() if name in c.recipients()],
            "bridge_ids": [b.id for b in self.bridges.values() if name in b.apps],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }


def _parse_caller_id(text: str) -> tuple[str, str]:
    """``"Name" <number>`` or ``Name <number>`` or a bare number, as ast_callerid_parse."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].partition("<")
        return name.strip().strip('"'), number.strip()
    if text and all(ch.isdigit() or ch in "+*#" for ch in text):
        return "", text
    return text, ""

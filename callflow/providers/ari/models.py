"""Asterisk's objects as ARI describes them, read from the wire into frozen dataclasses.

Field names are the ones of the api-docs models (``channels.json`` Channel,
``bridges.json`` Bridge, ``playbacks.json`` Playback, ...), so a field can be
looked up in Asterisk's documentation by its name. Reading is strict about
what the api-docs mark required (a Channel without an ``id`` is not a
channel) and lenient about the rest: a missing optional field gets its
empty value, an unknown one is ignored, because a newer Asterisk may add
fields and must not break us.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class MalformedPayload(ValueError):
    """A JSON document from Asterisk lacks a field the api-docs require, or has the wrong type."""


class Fields:
    """Typed reads from one JSON object, naming the object in every complaint."""

    def __init__(self, data: object, what: str) -> None:
        if not isinstance(data, Mapping):
            raise MalformedPayload(f"{what}: expected an object, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.what = what

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            raise MalformedPayload(f"{self.what}.{key}: expected a string, got {value!r}")
        return value

    def optional_text(self, key: str, default: str = "") -> str:
        value = self.data.get(key, default)
        return value if isinstance(value, str) else default

    def integer(self, key: str) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedPayload(f"{self.what}.{key}: expected an integer, got {value!r}")
        return value

    def optional_integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return value

    def flag(self, key: str) -> bool:
        return self.data.get(key) is True

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise MalformedPayload(f"{self.what}.{key}: expected a list of strings, got {value!r}")
        return tuple(value)

    def time(self, key: str) -> datetime | None:
        value = self.data.get(key)
        return parse_time(value) if isinstance(value, str) else None

    def strings(self, key: str) -> Mapping[str, str] | None:
        value = self.data.get(key)
        if not isinstance(value, Mapping):
            return None
        return {str(k): str(v) for k, v in value.items()}

    def child(self, key: str) -> Fields:
        return Fields(self.data.get(key), f"{self.what}.{key}")

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None


ASTERISK_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:?\d\d)")
"""Asterisk's times: seconds, milliseconds (or up to microseconds), an offset (Asterisk
writes it without a colon; ``Z`` and ``+00:00`` are read too, as ``strptime``'s ``%z`` read
them)."""


def parse_time(value: str) -> datetime | None:
    """Asterisk's ``2026-11-23T13:46:12.176+0000``; None when it is not that shape.

    Every event carries a time, and most a channel with its creation time: read by
    ``fromisoformat`` once the shape is checked, they cost a twentieth of ``strptime``.
    """
    if ASTERISK_TIME.fullmatch(value) is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # the right shape, not a date (a 13th month)
        return None


@dataclass(frozen=True, slots=True)
class CallerId:
    name: str
    number: str

    @classmethod
    def from_json(cls, fields: Fields) -> CallerId:
        return cls(name=fields.optional_text("name"), number=fields.optional_text("number"))


@dataclass(frozen=True, slots=True)
class DialplanCEP:
    """Where in the dialplan a channel is: context, extension, priority, and the application."""

    context: str
    exten: str
    priority: int
    app_name: str
    app_data: str

    @classmethod
    def from_json(cls, fields: Fields) -> DialplanCEP:
        return cls(
            context=fields.optional_text("context"),
            exten=fields.optional_text("exten"),
            priority=fields.optional_integer("priority") or 0,
            app_name=fields.optional_text("app_name"),
            app_data=fields.optional_text("app_data"),
        )


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel snapshot. ``state`` is one of Asterisk's words: Down, Ring, Ringing, Up, ..."""

    id: str
    name: str
    state: str
    caller: CallerId
    connected: CallerId
    dialplan: DialplanCEP | None
    creationtime: datetime | None
    language: str
    protocol_id: str = ""
    accountcode: str = ""
    channelvars: Mapping[str, str] | None = None

    @classmethod
    def from_json(cls, data: object, what: str = "channel") -> Channel:
        fields = Fields(data, what)
        return cls(
            id=fields.text("id"),
            name=fields.text("name"),
            state=fields.text("state"),
            caller=CallerId.from_json(fields.child("caller"))
            if fields.has("caller")
            else CallerId("", ""),
            connected=CallerId.from_json(fields.child("connected"))
            if fields.has("connected")
            else CallerId("", ""),
            dialplan=DialplanCEP.from_json(fields.child("dialplan"))
            if fields.has("dialplan")
            else None,
            creationtime=fields.time("creationtime"),
            language=fields.optional_text("language"),
            protocol_id=fields.optional_text("protocol_id"),
            accountcode=fields.optional_text("accountcode"),
            channelvars=fields.strings("channelvars"),
        )


@dataclass(frozen=True, slots=True)
class Bridge:
    """A bridge snapshot; ``bridge_type`` is ``mixing`` or ``holding``."""

    id: str
    technology: str
    bridge_type: str
    bridge_class: str
    creator: str
    name: str
    channels: tuple[str, ...]
    creationtime: datetime | None
    video_mode: str = ""

    @classmethod
    def from_json(cls, data: object, what: str = "bridge") -> Bridge:
        fields = Fields(data, what)
        return cls(
            id=fields.text("id"),
            technology=fields.optional_text("technology"),
            bridge_type=fields.optional_text("bridge_type"),
            bridge_class=fields.optional_text("bridge_class"),
            creator=fields.optional_text("creator"),
            name=fields.optional_text("name"),
            channels=fields.texts("channels"),
            creationtime=fields.time("creationtime"),
            video_mode=fields.optional_text("video_mode"),
        )


@dataclass(frozen=True, slots=True)
class Playback:
    """One playback. Its events carry no channel: ``target_uri`` (``channel:<id>`` or
    ``bridge:<id>``) says whose it is. ``state`` is queued, playing, continuing, paused,
    done or failed; a stopped playback ends ``done`` too."""

    id: str
    media_uri: str
    target_uri: str
    state: str
    language: str = ""
    next_media_uri: str = ""

    @classmethod
    def from_json(cls, data: object, what: str = "playback") -> Playback:
        fields = Fields(data, what)
        return cls(
            id=fields.text("id"),
            media_uri=fields.optional_text("media_uri"),
            target_uri=fields.text("target_uri"),
            state=fields.text("state"),
            language=fields.optional_text("language"),
            next_media_uri=fields.optional_text("next_media_uri"),
        )

    @property
    def target_kind(self) -> str:
        """``channel`` or ``bridge``."""
        return self.target_uri.partition(":")[0]

    @property
    def target_id(self) -> str:
        return self.target_uri.partition(":")[2]


@dataclass(frozen=True, slots=True)
class Application:
    """A Stasis application and what it is subscribed to."""

    name: str
    channel_ids: tuple[str, ...]
    bridge_ids: tuple[str, ...]
    endpoint_ids: tuple[str, ...]
    device_names: tuple[str, ...]

    @classmethod
    def from_json(cls, data: object) -> Application:
        fields = Fields(data, "application")
        return cls(
            name=fields.text("name"),
            channel_ids=fields.texts("channel_ids"),
            bridge_ids=fields.texts("bridge_ids"),
            endpoint_ids=fields.texts("endpoint_ids"),
            device_names=fields.texts("device_names"),
        )


@dataclass(frozen=True, slots=True)
class AsteriskInfo:
    """What ``GET /asterisk/info`` tells about the server; empty strings for absent parts."""

    version: str
    entity_id: str
    default_language: str
    startup_time: datetime | None
    last_reload_time: datetime | None

    @classmethod
    def from_json(cls, data: object) -> AsteriskInfo:
        fields = Fields(data, "asterisk info")
        system = fields.child("system") if fields.has("system") else Fields({}, "system")
        config = fields.child("config") if fields.has("config") else Fields({}, "config")
        status = fields.child("status") if fields.has("status") else Fields({}, "status")
        return cls(
            version=system.optional_text("version"),
            entity_id=system.optional_text("entity_id"),
            default_language=config.optional_text("default_language"),
            startup_time=status.time("startup_time"),
            last_reload_time=status.time("last_reload_time"),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every channel and bridge Asterisk has, read together to resynchronise after a reconnect."""

    channels: tuple[Channel, ...]
    bridges: tuple[Bridge, ...]

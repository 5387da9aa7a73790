"""The ARI operations callflow uses, grouped and named as in Asterisk's api-docs.

``client.channels.answer(channel_id)`` is the api-docs operation
``channels.answer`` (``POST /channels/{channelId}/answer``), in the spirit of
ari-py; arguments are snake_case and go out under their api-docs names
(``app_args`` → ``appArgs``). Each operation is declared once as an
:class:`Operation` naming its method, path and the parameters we may send,
so :data:`OPERATIONS` lists exactly what callflow needs from a server —
``callflow ari doctor`` checks it against the server's own api-docs, and a
test checks it against Asterisk 22's.

Only what the hotline adapter needs is here, not the whole API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from callflow.errors import ProviderError
from callflow.providers.ari.models import Application, AsteriskInfo, Bridge, Channel, Playback

ParamValue = str | int | bool | Sequence[str] | None
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Operation:
    """One api-docs operation: ``nickname`` of ``resource``, at ``method path``."""

    resource: str
    nickname: str
    method: str
    path: str
    query: tuple[str, ...] = ()
    """Query parameters (api-docs names) callflow may send."""
    body: tuple[str, ...] = ()
    """Body parameters (api-docs names) callflow may send, as one JSON object."""
    absent: str = ""
    """A 404 with this message means "not set" rather than a refusal: the call returns None."""

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


OPERATIONS: list[Operation] = []
"""Every operation the client can call, in declaration order."""


def _op(
    resource: str,
    nickname: str,
    method: str,
    path: str,
    query: tuple[str, ...] = (),
    body: tuple[str, ...] = (),
) -> Operation:
    operation = Operation(resource, nickname, method, path, query, body)
    OPERATIONS.append(operation)
    return operation


class Rest(Protocol):
    """How a resource reaches Asterisk; :class:`~callflow.providers.ari.client.AriClient`
    implements it over HTTP, mapping refusals to callflow's errors."""

    async def call(
        self,
        operation: Operation,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, ParamValue] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any: ...

    async def get_document(self, name: str) -> Any: ...


def _args(*items: str) -> str | None:
    """``appArgs``: Asterisk splits them on commas, so an argument cannot contain one."""
    for item in items:
        if "," in item:
            raise ValueError(f"a Stasis argument cannot contain a comma: {item!r}")
    return ",".join(items) if items else None


def _parsed(parse: Callable[[object], T], data: object, what: str) -> T:
    try:
        return parse(data)
    except (TypeError, ValueError) as exc:  # the models' MalformedPayload is a ValueError
        raise _unreadable(what, exc) from exc


def _list_of(parse: Callable[[object], T], data: object, what: str) -> tuple[T, ...]:
    if not isinstance(data, list):
        raise _unreadable(what, f"expected a list, got {type(data).__name__}")
    return tuple(_parsed(parse, item, what) for item in data)


def _unreadable(what: str, problem: object) -> ProviderError:
    return ProviderError(f"Asterisk's {what} is not what its api-docs describe: {problem}")


# -- channels ----------------------------------------------------------------------------

_ORIGINATE_QUERY = (
    "endpoint",
    "extension",
    "context",
    "priority",
    "label",
    "app",
    "appArgs",
    "callerId",
    "timeout",
    "channelId",
    "otherChannelId",
    "originator",
    "formats",
)

CHANNELS_LIST = _op("channels", "list", "GET", "/channels")
CHANNELS_ORIGINATE = _op(
    "channels", "originate", "POST", "/channels", _ORIGINATE_QUERY, ("variables",)
)
CHANNELS_HANGUP = _op(
    "channels", "hangup", "DELETE", "/channels/{channelId}", ("reason_code", "reason")
)
CHANNELS_ANSWER = _op("channels", "answer", "POST", "/channels/{channelId}/answer")
CHANNELS_CONTINUE = _op(
    "channels",
    "continueInDialplan",
    "POST",
    "/channels/{channelId}/continue",
    ("context", "extension", "priority", "label"),
)
CHANNELS_PLAY = _op(
    "channels",
    "play",
    "POST",
    "/channels/{channelId}/play",
    ("media", "lang", "offsetms", "skipms", "playbackId"),
)


class Channels:
    """``/channels``: calls in and out, and what is done to them."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest

    async def list(self) -> tuple[Channel, ...]:
        data = await self._rest.call(CHANNELS_LIST)
        return _list_of(Channel.from_json, data, "channels")

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: Sequence[str] = (),
        extension: str | None = None,
        context: str | None = None,
        priority: int | None = None,
        label: str | None = None,
        caller_id: str | None = None,
        timeout: int | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: Sequence[str] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """Dial *endpoint* (``PJSIP/advisor-12``, ``PJSIP/0401234567@trunk``); once it
        answers it enters *app* with *app_args* (or runs *context*/*extension*).

        Asterisk answers at once with the channel in state Down; whether the
        call is answered comes later as events: ``StasisStart`` when it is,
        ``ChannelDestroyed`` with the hang-up cause when it is not. *timeout* is
        how many seconds it may ring (Asterisk's default 30; -1 for ever).
        """
        query = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": _args(*app_args),
            "extension": extension,
            "context": context,
            "priority": priority,
            "label": label,
            "callerId": caller_id,
            "timeout": timeout,
            "channelId": channel_id,
            "otherChannelId": other_channel_id,
            "originator": originator,
            "formats": formats,
        }
        body = {"variables": dict(variables)} if variables else None
        data = await self._rest.call(CHANNELS_ORIGINATE, query=query, body=body)
        return _parsed(Channel.from_json, data, "originated channel")

    async def hangup(
        self, channel_id: str, *, reason: str | None = None, reason_code: str | None = None
    ) -> None:
        """Hang up; *reason* is one of the api-docs words (normal, busy, congestion, ...)."""
        await self._rest.call(
            CHANNELS_HANGUP,
            {"channelId": channel_id},
            {"reason": reason, "reason_code": reason_code},
        )

    async def answer(self, channel_id: str) -> None:
        await self._rest.call(CHANNELS_ANSWER, {"channelId": channel_id})

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """Hand the channel back to the dialplan (it leaves our application)."""
        query = {"context": context, "extension": extension, "priority": priority, "label": label}
        await self._rest.call(CHANNELS_CONTINUE, {"channelId": channel_id}, query)

    async def play(
        self,
        channel_id: str,
        media: str | Sequence[str],
        *,
        lang: str | None = None,
        offsetms: int | None = None,
        skipms: int | None = None,
        playback_id: str | None = None,
    ) -> Playback:
        """Play *media* (``sound:hotline/greeting``, ``digits:0401234567``; a list plays in
        turn) to the channel. Asterisk answers 201 with the playback queued; its
        ``PlaybackStarted`` often arrives before this returns."""
        query = {
            "media": [media] if isinstance(media, str) else media,
            "lang": lang,
            "offsetms": offsetms,
            "skipms": skipms,
            "playbackId": playback_id,
        }
        data = await self._rest.call(CHANNELS_PLAY, {"channelId": channel_id}, query)
        return _parsed(Playback.from_json, data, "playback")


# -- bridges -----------------------------------------------------------------------------

BRIDGES_LIST = _op("bridges", "list", "GET", "/bridges")
BRIDGES_CREATE = _op("bridges", "create", "POST", "/bridges", ("type", "bridgeId", "name"))
BRIDGES_DESTROY = _op("bridges", "destroy", "DELETE", "/bridges/{bridgeId}")
BRIDGES_ADD_CHANNEL = _op(
    "bridges",
    "addChannel",
    "POST",
    "/bridges/{bridgeId}/addChannel",
    ("channel", "role", "absorbDTMF", "mute", "inhibitConnectedLineUpdates"),
)
BRIDGES_REMOVE_CHANNEL = _op(
    "bridges", "removeChannel", "POST", "/bridges/{bridgeId}/removeChannel", ("channel",)
)
BRIDGES_START_MOH = _op("bridges", "startMoh", "POST", "/bridges/{bridgeId}/moh", ("mohClass",))


class Bridges:
    """``/bridges``: a holding bridge with music for the queue, mixing bridges for talks."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest

    async def list(self) -> tuple[Bridge, ...]:
        data = await self._rest.call(BRIDGES_LIST)
        return _list_of(Bridge.from_json, data, "bridges")

    async def create(
        self,
        type: str | Sequence[str] = "mixing",
        *,
        bridge_id: str | None = None,
        name: str | None = None,
    ) -> Bridge:
        """A new bridge; *type* is ``mixing`` or ``holding`` (plus api-docs flags such as
        ``dtmf_events``). Asterisk answers 200 and sends no ``BridgeCreated``."""
        query = {
            "type": [type] if isinstance(type, str) else type,
            "bridgeId": bridge_id,
            "name": name,
        }
        data = await self._rest.call(BRIDGES_CREATE, query=query)
        return _parsed(Bridge.from_json, data, "bridge")

    async def destroy(self, bridge_id: str) -> None:
        """Channels still inside leave it (``ChannelLeftBridge``) and stay in our application."""
        await self._rest.call(BRIDGES_DESTROY, {"bridgeId": bridge_id})

    async def add_channel(
        self,
        bridge_id: str,
        channel: str | Sequence[str],
        *,
        role: str | None = None,
        absorb_dtmf: bool | None = None,
        mute: bool | None = None,
        inhibit_connected_line_updates: bool | None = None,
    ) -> None:
        query = {
            "channel": [channel] if isinstance(channel, str) else channel,
            "role": role,
            "absorbDTMF": absorb_dtmf,
            "mute": mute,
            "inhibitConnectedLineUpdates": inhibit_connected_line_updates,
        }
        await self._rest.call(BRIDGES_ADD_CHANNEL, {"bridgeId": bridge_id}, query)

    async def remove_channel(self, bridge_id: str, channel: str | Sequence[str]) -> None:
        query = {"channel": [channel] if isinstance(channel, str) else channel}
        await self._rest.call(BRIDGES_REMOVE_CHANNEL, {"bridgeId": bridge_id}, query)

    async def start_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        """Music on hold for everyone in the bridge, until the last one leaves."""
        await self._rest.call(BRIDGES_START_MOH, {"bridgeId": bridge_id}, {"mohClass": moh_class})


# -- playbacks, asterisk, applications ---------------------------------------------------

PLAYBACKS_GET = _op("playbacks", "get", "GET", "/playbacks/{playbackId}")
PLAYBACKS_STOP = _op("playbacks", "stop", "DELETE", "/playbacks/{playbackId}")


class Playbacks:
    def __init__(self, rest: Rest) -> None:
        self._rest = rest

    async def get(self, playback_id: str) -> Playback:
        data = await self._rest.call(PLAYBACKS_GET, {"playbackId": playback_id})
        return _parsed(Playback.from_json, data, "playback")

    async def stop(self, playback_id: str) -> None:
        """Stop it (barge-in); its ``PlaybackFinished`` follows with state ``done``."""
        await self._rest.call(PLAYBACKS_STOP, {"playbackId": playback_id})


ASTERISK_GET_INFO = _op("asterisk", "getInfo", "GET", "/asterisk/info", ("only",))


class Asterisk:
    def __init__(self, rest: Rest) -> None:
        self._rest = rest

    async def get_info(self, only: Sequence[str] | None = None) -> AsteriskInfo:
        data = await self._rest.call(ASTERISK_GET_INFO, query={"only": only})
        return _parsed(AsteriskInfo.from_json, data, "asterisk info")


APPLICATIONS_GET = _op("applications", "get", "GET", "/applications/{applicationName}")


class Applications:
    """Stasis applications: whether ours is registered, and what it holds."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest

    async def get(self, application_name: str) -> Application:
        data = await self._rest.call(APPLICATIONS_GET, {"applicationName": application_name})
        return _parsed(Application.from_json, data, "application")


class ApiDocs:
    """The server's own Swagger documents, to compare with :data:`OPERATIONS`."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest

    async def resources(self) -> dict[str, Any]:
        """``resources.json``: the API version and the list of resource documents."""
        data = await self._rest.get_document("resources.json")
        if not isinstance(data, dict):
            raise _unreadable("resources.json", "expected an object")
        return data

    async def declaration(self, name: str) -> dict[str, Any]:
        """One resource document, e.g. ``channels`` → ``channels.json``."""
        data = await self._rest.get_document(f"{name}.json")
        if not isinstance(data, dict):
            raise _unreadable(f"{name}.json", "expected an object")
        return data

    async def operations(self) -> frozenset[tuple[str, str, str]]:
        """Every ``(method, path, nickname)`` the server declares, over all its documents."""
        listing = await self.resources()
        found: set[tuple[str, str, str]] = set()
        for api in listing.get("apis", []):
            # "/api-docs/channels.{format}" names the document "channels"
            name = str(api.get("path", "")).rsplit("/", 1)[-1].split(".", 1)[0]
            if not name:
                continue
            declaration = await self.declaration(name)
            for entry in declaration.get("apis", []):
                for op in entry.get("operations", []):
                    found.add((op.get("httpMethod", ""), entry.get("path", ""), op["nickname"]))
        return frozenset(found)

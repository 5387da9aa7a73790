"""The ARI operations the fake Asterisk answers, each as ``res/ari/resource_*.c`` does.

One function per api-docs operation (``channels.answer``), registered in
:data:`HANDLERS`; the state they change lives in
:class:`~tests.fakes.ari_asterisk.Asterisk`. ``checks`` names the required
parameters Asterisk checks itself with its own words (``DTMF is required``);
for the others the server answers a missing one with ``Missing parameter
<name>`` before the handler runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakes.ari_asterisk import (
    HANGUP_REASONS,
    NO_CONTENT,
    Args,
    Asterisk,
    Refusal,
    Reply,
    now_text,
)


@dataclass(frozen=True, slots=True)
class Handler:
    run: Callable[[Asterisk, Args], Reply]
    checks: frozenset[str] = frozenset()
    """Required parameters Asterisk checks itself, with its own message."""


HANDLERS: dict[str, Handler] = {}


def handles(
    name: str, checks: Iterable[str] = ()
) -> Callable[[Callable[[Asterisk, Args], Reply]], Callable[[Asterisk, Args], Reply]]:
    def register(run: Callable[[Asterisk, Args], Reply]) -> Callable[[Asterisk, Args], Reply]:
        HANDLERS[name] = Handler(run, frozenset(checks))
        return run

    return register


def _no_content(action: Callable[[Asterisk, Any], object], *, check_state: bool = True) -> Handler:
    def run(model: Asterisk, args: Args) -> Reply:
        channel = model.control(args.path["channelId"], check_state=check_state)
        action(model, channel)
        return NO_CONTENT

    return Handler(run)


for _name in (
    "ring",
    "ringStop",
    "progress",
    "hold",
    "unhold",
    "startMoh",
    "stopMoh",
    "startSilence",
    "stopSilence",
):
    HANDLERS[f"channels.{_name}"] = _no_content(lambda model, channel: None)
HANDLERS["channels.answer"] = _no_content(lambda model, channel: model.answer(channel))


@handles("asterisk.ping")
def _ping(model: Asterisk, args: Args) -> Reply:
    return Reply(200, {"ping": "pong", "timestamp": now_text(), "asterisk_id": model.entity_id})


@handles("asterisk.getInfo")
def _info(model: Asterisk, args: Args) -> Reply:
    info = {
        "build": {
            "os": "Linux",
            "kernel": "6.18.44",
            "machine": "x86_64",
            "options": "OPTIONAL_API",
            "date": model.startup_time,
            "user": "root",
        },
        "system": {"version": "22.10.1", "entity_id": model.entity_id},
        "config": {
            "name": "",
            "default_language": "en",
            "setid": {"user": "", "group": ""},
            "max_open_files": 65536,
        },
        "status": {"startup_time": model.startup_time, "last_reload_time": model.startup_time},
    }
    only = [part for part in args.items("only") if part]
    return Reply(200, {k: v for k, v in info.items() if not only or k in only})


@handles("asterisk.getGlobalVar", checks=("variable",))
def _get_global(model: Asterisk, args: Args) -> Reply:
    if not args.text("variable"):
        raise Refusal(400, "Variable name is required", malformed=True)
    return Reply(200, {"value": model.global_vars.get(args.text("variable"), "")})


def _module(name: str, description: str, support_level: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "use_count": 0,
        "status": "Running",
        "support_level": support_level,
    }


@handles("asterisk.getModule")
def _get_module(model: Asterisk, args: Args) -> Reply:
    name = args.path["moduleName"]
    if name not in model.modules:
        raise Refusal(404, "Module could not be found in running modules")
    return Reply(200, _module(name, *model.modules[name]))


@handles("applications.list")
def _applications(model: Asterisk, args: Args) -> Reply:
    return Reply(200, [model.application(name) for name in sorted(model.registered)])


@handles("applications.get")
def _application(model: Asterisk, args: Args) -> Reply:
    name = args.path["applicationName"]
    if name not in model.registered:
        raise Refusal(404, "Application not found")
    return Reply(200, model.application(name))


@handles("channels.list")
def _channels(model: Asterisk, args: Args) -> Reply:
    return Reply(200, [channel.json() for channel in model.listed_channels(args.received_at)])


@handles("channels.get")
def _channel(model: Asterisk, args: Args) -> Reply:
    channel = model.channels.get(args.path["channelId"])
    if channel is None:
        raise Refusal(404, "Channel not found")
    return Reply(200, channel.json())


@handles("channels.originate", checks=("endpoint",))
def _originate(model: Asterisk, args: Args) -> Reply:
    return Reply(200, model.originate(args, args.text("channelId") or None).json())


@handles("channels.originateWithId", checks=("endpoint",))
def _originate_with_id(model: Asterisk, args: Args) -> Reply:
    return Reply(200, model.originate(args, args.path["channelId"]).json())


@handles("channels.create")
def _create(model: Asterisk, args: Args) -> Reply:
    return Reply(200, model.create(args).json())


@handles("channels.dial")
def _dial(model: Asterisk, args: Args) -> Reply:
    channel = model.control(args.path["channelId"], check_state=False)
    model.dial_created(channel, args.integer("timeout", 0))
    return NO_CONTENT


@handles("channels.hangup")
def _hangup(model: Asterisk, args: Args) -> Reply:
    channel = model.channels.get(args.path["channelId"])
    if channel is None:
        raise Refusal(404, "Channel not found")
    reason = args.text("reason")
    if reason and reason not in HANGUP_REASONS:
        raise Refusal(400, "Invalid reason for hangup provided", malformed=True)
    cause = HANGUP_REASONS.get(reason or "normal", 16)
    if args.text("reason_code"):
        cause = args.integer("reason_code", 16)
    model.hang_up_by_app(channel, cause)
    return NO_CONTENT


@handles("channels.continueInDialplan")
def _continue(model: Asterisk, args: Args) -> Reply:
    model.continue_in_dialplan(
        model.control(args.path["channelId"]), args.text("context"), args.text("extension")
    )
    return NO_CONTENT


@handles("channels.sendDTMF")
def _send_dtmf(model: Asterisk, args: Args) -> Reply:
    channel = model.control(args.path["channelId"])
    if not args.text("dtmf"):
        raise Refusal(400, "DTMF is required", malformed=True)
    model.send_dtmf(channel, args)
    return NO_CONTENT


def _mute(model: Asterisk, args: Args) -> Reply:
    model.control(args.path["channelId"])
    if args.values.get("direction", "both") not in ("in", "out", "both"):
        raise Refusal(400, "Invalid direction specified", malformed=True)
    return NO_CONTENT


HANDLERS["channels.mute"] = Handler(_mute)
HANDLERS["channels.unmute"] = Handler(_mute)


def _play_on_channel(model: Asterisk, args: Args) -> Reply:
    channel = model.control(args.path["channelId"])
    playback_id = args.path.get("playbackId") or args.text("playbackId") or None
    playback = model.play("channel", channel.id, args, playback_id, channel.recipients())
    return Reply(201, playback.json())


HANDLERS["channels.play"] = Handler(_play_on_channel, frozenset({"media"}))
HANDLERS["channels.playWithId"] = Handler(_play_on_channel, frozenset({"media"}))


@handles("channels.getChannelVar", checks=("variable",))
def _get_var(model: Asterisk, args: Args) -> Reply:
    variable = args.text("variable")
    if not variable:
        raise Refusal(400, "Variable name is required", malformed=True)
    channel = model.channels.get(args.path["channelId"])
    if channel is None:
        raise Refusal(404, "Provided channel was not found")
    if variable not in channel.variables:
        raise Refusal(404, "Provided variable was not found")
    return Reply(200, {"value": channel.variables[variable]})


@handles("channels.setChannelVar", checks=("variable",))
def _set_var(model: Asterisk, args: Args) -> Reply:
    variable = args.text("variable")
    if not variable:
        raise Refusal(400, "Variable name is required", malformed=True)
    channel = model.control(args.path["channelId"], check_state=False)
    channel.variables[variable] = args.text("value")
    model.emit(
        channel.recipients(),
        "ChannelVarset",
        variable=variable,
        value=args.text("value"),
        channel=channel.json(),
    )
    return NO_CONTENT


@handles("bridges.list")
def _bridges(model: Asterisk, args: Args) -> Reply:
    return Reply(200, [b.json(with_announcer=False) for b in model.bridges.values()])


@handles("bridges.create")
def _create_bridge(model: Asterisk, args: Args) -> Reply:
    bridge = model.create_bridge(args, args.text("bridgeId") or None)
    return Reply(200, bridge.json(with_announcer=False))


@handles("bridges.createWithId")
def _create_bridge_with_id(model: Asterisk, args: Args) -> Reply:
    bridge = model.create_bridge(args, args.path["bridgeId"])
    return Reply(200, bridge.json(with_announcer=False))


@handles("bridges.get")
def _bridge(model: Asterisk, args: Args) -> Reply:
    return Reply(200, model.bridge(args.path["bridgeId"]).json(with_announcer=False))


@handles("bridges.destroy")
def _destroy_bridge(model: Asterisk, args: Args) -> Reply:
    model.destroy_bridge(model.bridge(args.path["bridgeId"]))
    return NO_CONTENT


@handles("bridges.addChannel", checks=("channel",))
def _add_channel(model: Asterisk, args: Args) -> Reply:
    model.add_to_bridge(model.bridge(args.path["bridgeId"]), args)
    return NO_CONTENT


@handles("bridges.removeChannel", checks=("channel",))
def _remove_channel(model: Asterisk, args: Args) -> Reply:
    model.remove_from_bridge(model.bridge(args.path["bridgeId"]), args)
    return NO_CONTENT


@handles("bridges.startMoh")
def _bridge_moh(model: Asterisk, args: Args) -> Reply:
    model.start_bridge_moh(model.bridge(args.path["bridgeId"]))
    return NO_CONTENT


@handles("bridges.stopMoh")
def _bridge_moh_stop(model: Asterisk, args: Args) -> Reply:
    model.stop_bridge_moh(model.bridge(args.path["bridgeId"]))
    return NO_CONTENT


def _play_on_bridge(model: Asterisk, args: Args) -> Reply:
    bridge = model.bridge(args.path["bridgeId"])
    apps = set(bridge.apps)
    for channel_id in bridge.channels:
        apps |= model.channels[channel_id].recipients()
    playback_id = args.path.get("playbackId") or args.text("playbackId") or None
    return Reply(201, model.play("bridge", bridge.id, args, playback_id, apps).json())


HANDLERS["bridges.play"] = Handler(_play_on_bridge, frozenset({"media"}))
HANDLERS["bridges.playWithId"] = Handler(_play_on_bridge, frozenset({"media"}))


def _playback(model: Asterisk, args: Args) -> Any:
    playback = model.playbacks.get(args.path["playbackId"])
    if playback is None:
        raise Refusal(404, "Playback not found")
    return playback


@handles("playbacks.get")
def _get_playback(model: Asterisk, args: Args) -> Reply:
    return Reply(200, _playback(model, args).json())


@handles("playbacks.stop")
def _stop_playback(model: Asterisk, args: Args) -> Reply:
    model.stop_playback(_playback(model, args))
    return NO_CONTENT


@handles("playbacks.control", checks=("operation",))
def _control_playback(model: Asterisk, args: Args) -> Reply:
    operation = args.text("operation")
    if not operation:
        raise Refusal(400, "Missing operation", malformed=True)
    if operation not in ("unpause", "pause", "restart", "reverse", "forward"):
        raise Refusal(400, f"Invalid operation {operation}", malformed=True)
    model.control_playback(_playback(model, args), operation)
    return NO_CONTENT


def _endpoint(model: Asterisk, name: str) -> dict[str, Any]:
    technology, _, resource = name.partition("/")
    return {
        "technology": technology,
        "resource": resource,
        "state": model.endpoints[name],
        "channel_ids": [c.id for c in model.channels.values() if c.name.startswith(f"{name}-")],
    }


@handles("endpoints.list")
def _endpoints(model: Asterisk, args: Args) -> Reply:
    return Reply(200, [_endpoint(model, name) for name in sorted(model.endpoints)])


@handles("endpoints.get")
def _get_endpoint(model: Asterisk, args: Args) -> Reply:
    name = f"{args.path['tech']}/{args.path['resource']}"
    if name not in model.endpoints:
        raise Refusal(404, "Endpoint not found")
    return Reply(200, _endpoint(model, name))


@handles("deviceStates.list")
def _device_states(model: Asterisk, args: Args) -> Reply:
    return Reply(200, [])


def _indexed(model: Asterisk) -> dict[str, list[str]]:
    """The sounds as Asterisk's index sees them: sound id → languages.

    Asterisk takes the first directory under ``sounds/`` for the language
    (``fi/callflow/greeting`` is ``callflow/greeting`` in ``fi``, media_index.c);
    a bare name such as ``hello-world`` stands for the core sounds in ``en``.
    """
    index: dict[str, list[str]] = {}
    for name in sorted(model.sounds):
        language, slash, sound_id = name.partition("/")
        if not slash:
            language, sound_id = "en", name
        index.setdefault(sound_id, []).append(language)
    return index


def _sound(sound_id: str, languages: Iterable[str]) -> dict[str, Any]:
    formats = [{"language": language, "format": "gsm"} for language in languages]
    return {"id": sound_id, "formats": formats}


@handles("sounds.list")
def _sounds(model: Asterisk, args: Args) -> Reply:
    lang = args.text("lang")
    found = [
        _sound(sound_id, [language for language in languages if not lang or language == lang])
        for sound_id, languages in _indexed(model).items()
        if not lang or lang in languages
    ]
    if not found:
        raise Refusal(404, "No sounds found that matched the query")
    return Reply(200, found)


@handles("sounds.get")
def _get_sound(model: Asterisk, args: Args) -> Reply:
    languages = _indexed(model).get(args.path["soundId"])
    if not languages:
        raise Refusal(404, "Sound not found")
    return Reply(200, _sound(args.path["soundId"], languages))

"""``callflow ari doctor``: is this Asterisk ready for the line? Each finding says how to fix it.

The checks, in order (when the first fails, nothing else can be asked):

1. ARI answers at the configured URL and accepts the user (``GET /asterisk/info``);
2. the Asterisk version it reports;
3. every operation in :data:`~callflow.providers.ari.resources.OPERATIONS` — what the
   adapter calls — is in the server's own ``/ari/api-docs``;
4. the event websocket opens, and a Stasis application registers on it. The probe
   uses an application of its own (``<app>-doctor``): a second websocket for the
   line's application would take it over from a running ``callflow serve``, whose
   calls would then go unheard;
5. the line's application is registered, that is ``callflow serve`` holds its
   websocket. Asterisk registers an application only while a websocket for it
   is open, so before the first start this is a warning, not a failure;
6. every sound file the line plays is in Asterisk's sound index, per language
   (``GET /sounds?lang=…``, one request per language rather than one per file).

Only failures make the exit status non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from callflow.errors import ProviderError, ProviderRejected
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.models import AsteriskInfo
from callflow.providers.ari.resources import OPERATIONS, Operation
from callflow.providers.ari.settings import PASSWORD_ENV, AriSettings
from callflow.providers.ari.sounds import SoundFile, sound_files
from callflow.providers.ari.stream import Backoff, Connected

SOUNDS_LIST = Operation("sounds", "list", "GET", "/sounds", ("lang",))
"""Asked by the doctor alone, so not among the adapter's :data:`OPERATIONS`."""
NO_SOUNDS = "No sounds found that matched the query"
TESTED_MAJOR = 22
SHOWN_MISSING = 8
"""How many missing names a finding spells out before it only counts."""
BUILD_FIX = (
    "on the Asterisk host run `callflow prompts build` (it writes to "
    "/var/lib/asterisk/sounds), or put recordings there under these names"
)


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str = ""


async def examine(settings: AriSettings, *, timeout: float = 5.0) -> AsyncIterator[Finding]:
    """The findings, one by one as each check completes; *timeout* bounds each request
    and the websocket probe, in seconds."""

    def client(app: str) -> AriClient:
        ari = settings.ari
        backoff = Backoff(initial=0.2, cap=1.0)
        return AriClient(
            ari.url, ari.username, settings.password, app, timeout=timeout, backoff=backoff
        )

    app = settings.ari.app
    async with client(app) as ari:
        try:
            info = await ari.asterisk.get_info(["system"])
        except ProviderError as exc:
            yield _unreached(ari, settings, exc)
            return
        yield Finding("ARI", Status.OK, f"{_shown(ari)} answers; user {ari.username!r} accepted")
        yield _version(info)
        yield await _operations(ari)
        async with client(f"{app}-doctor") as probe:
            yield await _websocket(probe, timeout)
        yield await _application(ari, app)
        for language, files in _by_language(sound_files(settings.config, settings.ari)):
            yield await _sounds(ari, language, files)


def _unavailable(check: str, exc: ProviderError) -> Finding:
    return Finding(
        check,
        Status.FAIL,
        str(exc),
        "Asterisk stopped answering during the checks: is it running? run the doctor again",
    )


def _unreached(ari: AriClient, settings: AriSettings, exc: ProviderError) -> Finding:
    check = "ARI"
    if isinstance(exc, ProviderRejected) and exc.status == 401:
        return Finding(
            check,
            Status.FAIL,
            f"Asterisk refused user {ari.username!r} (401)",
            f"check [provider.ari] username and {PASSWORD_ENV} against the user's "
            "section in ari.conf (type = user, password)",
        )
    if isinstance(exc, ProviderRejected):
        return Finding(
            check,
            Status.FAIL,
            f"{_shown(ari)} is not ARI ({exc.status} {exc.message})",
            "check [provider.ari] url (Asterisk's HTTP server, without /ari) and that "
            "ari.conf has enabled = yes",
        )
    return Finding(
        check,
        Status.FAIL,
        f"no answer at {_shown(ari)} ({exc})",
        "start Asterisk; check [provider.ari] url against http.conf "
        "(enabled = yes, bindaddr, bindport)",
    )


def _shown(ari: AriClient) -> str:
    return ari.base_url.rstrip("/")


def _version(info: AsteriskInfo) -> Finding:
    check = "Asterisk version"
    major = re.match(r"(?:certified[/-])?(\d+)\.", info.version)
    if major is None:
        return Finding(check, Status.OK, info.version or "not reported")
    if int(major.group(1)) < TESTED_MAJOR:
        return Finding(
            check,
            Status.WARN,
            f"{info.version}; callflow is built and tested against Asterisk {TESTED_MAJOR}",
            f"upgrade to Asterisk {TESTED_MAJOR} or later; the operations check "
            "shows what this one lacks",
        )
    return Finding(check, Status.OK, info.version)


async def _operations(ari: AriClient) -> Finding:
    check = "ARI operations"
    try:
        offered = await ari.api_docs.operations()
    except ProviderError as exc:
        return _unavailable(check, exc)
    missing = [
        f"{op.resource}.{op.nickname} ({op})"
        for op in OPERATIONS
        if (op.method, op.path, op.nickname) not in offered
    ]
    if missing:
        return Finding(
            check,
            Status.FAIL,
            f"{len(missing)} of {len(OPERATIONS)} the adapter uses are not in this server's "
            f"api-docs: {_listed(missing)}",
            f"upgrade Asterisk to {TESTED_MAJOR} or later",
        )
    return Finding(check, Status.OK, f"all {len(OPERATIONS)} the adapter uses are offered")


async def _websocket(probe: AriClient, timeout: float) -> Finding:
    check = "event websocket"
    registered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def on_connected(info: Connected) -> None:
        try:
            await probe.applications.get(probe.app)
        except ProviderRejected:
            found = False
        else:
            found = True
        if not registered.done():  # a reconnect runs the hook again
            registered.set_result(found)

    runner = asyncio.create_task(probe.events.run(on_connected=on_connected))
    try:
        waiting: set[asyncio.Future[Any]] = {runner, registered}
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if registered in done:
            if registered.result():
                return Finding(
                    check, Status.OK, f"opens; application {probe.app!r} registered on it"
                )
            return Finding(
                check,
                Status.FAIL,
                f"opens, but application {probe.app!r} did not register",
                "check that res_stasis and res_ari_applications are loaded (module show like ari)",
            )
        if runner in done and runner.exception() is not None:
            return Finding(
                check,
                Status.FAIL,
                f"refused: {runner.exception()}",
                f"check [provider.ari] username and {PASSWORD_ENV} against ari.conf",
            )
        return Finding(
            check,
            Status.FAIL,
            f"did not open within {timeout:g} s at {probe.base_url}events",
            "a proxy between callflow and Asterisk must pass WebSocket upgrades on /ari/events; "
            "check http.conf (enabled = yes)",
        )
    finally:
        await probe.events.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, timeout)


async def _application(ari: AriClient, app: str) -> Finding:
    check = f"application {app!r}"
    try:
        application = await ari.applications.get(app)
    except ProviderRejected as exc:
        if exc.status != 404:
            return _unavailable(check, exc)
        return Finding(
            check,
            Status.WARN,
            "not registered: nothing holds its event websocket, so calls the dialplan "
            f"sends to Stasis({app}) fail",
            "start `callflow serve` with this configuration",
        )
    except ProviderError as exc:
        return _unavailable(check, exc)
    return Finding(
        check,
        Status.OK,
        f"registered (callflow serve is connected): {len(application.channel_ids)} channel(s), "
        f"{len(application.bridge_ids)} bridge(s)",
    )


def _by_language(files: Iterable[SoundFile]) -> list[tuple[str, list[SoundFile]]]:
    grouped: dict[str, list[SoundFile]] = {}
    for file in files:
        grouped.setdefault(file.language, []).append(file)
    return list(grouped.items())


async def _sounds(ari: AriClient, language: str, files: list[SoundFile]) -> Finding:
    check = f"sounds ({language})"
    try:
        present = await _indexed(ari, language)
    except ProviderError as exc:
        return _unavailable(check, exc)
    missing = [f.name for f in files if f.name.removeprefix(f"{language}/") not in present]
    if missing:
        return Finding(
            check,
            Status.FAIL,
            f"{len(missing)} of {len(files)} missing: {_listed(missing)}",
            BUILD_FIX,
        )
    return Finding(check, Status.OK, f"all {len(files)} present")


async def _indexed(ari: AriClient, language: str) -> frozenset[str]:
    """The ids of the sounds Asterisk has in *language*."""
    try:
        data: Any = await ari.call(SOUNDS_LIST, query={"lang": language})
    except ProviderRejected as exc:
        if exc.status == 404 and exc.message == NO_SOUNDS:
            return frozenset()
        raise
    if not isinstance(data, list):
        raise ProviderError(f"Asterisk's sound list is not a list: {type(data).__name__}")
    return frozenset(
        str(sound["id"])
        for sound in data
        if isinstance(sound, dict)
        and any(
            isinstance(f, dict) and f.get("language") == language for f in sound.get("formats", [])
        )
    )


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_MISSING])
    return (
        shown if len(names) <= SHOWN_MISSING else f"{shown} and {len(names) - SHOWN_MISSING} more"
    )

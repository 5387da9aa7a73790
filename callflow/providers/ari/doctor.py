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
   (``GET /sounds?lang=…``, one request per language rather than one per file);
7. with ``[connect] machine_detection``, ``app_amd.so`` runs (``GET /asterisk/modules/app_amd.so``:
   without ``amd.conf`` it does not load, and every callback's resident is hung up
   with ``No application 'AMD'``), and the ``amd_context`` has an extension ``s``
   running ``AMD()``;
8. the ``hold_music`` class has something to play (an empty class holds callers in
   silence, with no error event);
9. every enabled advisor's dial string names an endpoint Asterisk has
   (``GET /endpoints/{tech}/{resource}``), online. An endpoint whose state Asterisk
   does not track (``unknown``: a technology without registration or qualify) is a
   warning, not a phone found online: the doctor cannot tell whether it rings, as
   with a ``Local/…`` dial string.

ARI lists neither the dialplan nor music-on-hold classes, and a class without
files answers ``POST /bridges/{id}/moh`` like one with music: checks 7 (the
context) and 8 read Asterisk's own files (``extensions.conf``,
``musiconhold.conf``, the class's directory; :mod:`.asterisk_conf`) from
*asterisk_etc*, which is there when the doctor runs on Asterisk's host.
Elsewhere they warn that they cannot tell, with the command that shows it by
hand. Only a plain ``TECH/resource`` dial string names an endpoint: a
``Local/…`` one runs the dialplan and ``PJSIP/user@endpoint`` and its kin mean
something per technology, so those are reported as not checked.

The advisors come from the line's database, read only: a diagnostic never changes
the system it diagnoses, so a database that is not there yet, or whose schema is
at another revision than this callflow's, leaves the advisors unchecked (a
warning, :class:`Unread`) rather than being created or migrated.

Only failures make the exit status non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from callflow.errors import CallflowError, ConfigError, ProviderError, ProviderRejected
from callflow.providers.ari.asterisk_conf import data_dir, last, read_conf
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.models import AsteriskInfo
from callflow.providers.ari.resources import OPERATIONS, Operation
from callflow.providers.ari.settings import PASSWORD_ENV, AriSettings
from callflow.providers.ari.sounds import SoundFile, sound_files
from callflow.providers.ari.stream import Backoff, Connected
from callflow.store.advisors import AdvisorView

SOUNDS_LIST = Operation("sounds", "list", "GET", "/sounds", ("lang",))
"""Asked by the doctor alone, so not among the adapter's :data:`OPERATIONS`; so are these."""
MODULE_GET = Operation(
    "asterisk",
    "getModule",
    "GET",
    "/asterisk/modules/{moduleName}",
    absent="Module could not be found in running modules",
)
ENDPOINT_GET = Operation(
    "endpoints", "get", "GET", "/endpoints/{tech}/{resource}", absent="Endpoint not found"
)
AMD_MODULE = "app_amd.so"
AMD_FIX = (
    "copy amd.conf from Asterisk's samples (configs/samples/amd.conf.sample in its source) "
    f'to /etc/asterisk/amd.conf, then `asterisk -rx "module load {AMD_MODULE}"`; '
    "or set [connect] machine_detection = false"
)
ENDPOINT_DIAL_STRING = re.compile(r"(?P<tech>[A-Za-z0-9_]+)/(?P<resource>[^/@&,:]+)")
"""A dial string that is an endpoint's name (``PJSIP/advisor-12``), so ARI can look it up."""
FILE_MODES = ("files", "quietfiles")
NO_SOUNDS = "No sounds found that matched the query"
TESTED_MAJOR = 22
SHOWN_MISSING = 8
"""How many missing names a finding spells out before it only counts."""
BUILD_FIX = (
    "on the Asterisk host run `callflow prompts build` (it writes to "
    "/var/lib/asterisk/sounds), or put recordings there under these names"
)


@dataclass(frozen=True, slots=True)
class Unread:
    """Why the advisors were not read, when that is no failure of the line: it has no
    database yet, or one whose schema is at another revision than this callflow's
    (reading it would take a migration). *reason* says which, *fix* what to do."""

    reason: str
    fix: str = ""


AdvisorReader = Callable[[], Sequence[AdvisorView] | Unread]


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


async def examine(
    settings: AriSettings,
    *,
    advisors: AdvisorReader,
    asterisk_etc: Path,
    timeout: float = 5.0,
) -> AsyncIterator[Finding]:
    """The findings, one by one as each check completes; *timeout* bounds each request
    and the websocket probe, in seconds. *advisors* reads the line's advisors from its
    database, without changing it (a :class:`CallflowError` it raises is one failed
    check); *asterisk_etc* is Asterisk's configuration directory, read where it exists."""

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
        if settings.config.connect.machine_detection:
            yield await _amd_module(ari)
            yield _amd_context(asterisk_etc, settings.ari.amd_context)
        yield _hold_music(asterisk_etc, settings.ari.hold_music)
        async for finding in _advisor_phones(ari, advisors):
            yield finding


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


async def _amd_module(ari: AriClient) -> Finding:
    check = "answering-machine detection"
    try:
        module: Any = await ari.call(MODULE_GET, path={"moduleName": AMD_MODULE})
    except ProviderError as exc:
        return _unavailable(check, exc)
    if not isinstance(module, dict) or module.get("status") != "Running":
        return Finding(
            check,
            Status.FAIL,
            f"{AMD_MODULE} is not loaded (it needs amd.conf), and machine_detection is on: "
            "every callback's resident is hung up with \"No application 'AMD'\"",
            AMD_FIX,
        )
    return Finding(check, Status.OK, f"{AMD_MODULE} is running")


def _amd_context(etc: Path, context: str) -> Finding:
    check = f"dialplan context {context!r}"
    by_hand = f'`asterisk -rx "dialplan show s@{context}"` on the Asterisk host'
    merge = (
        f"merge [callflow-amd] of callflow's config/asterisk/extensions.conf as [{context}] "
        '([provider.ari] amd_context), then `asterisk -rx "dialplan reload"`'
    )
    conf = read_conf(etc, "extensions.conf")
    if conf is None:
        return _off_host(
            check,
            etc / "extensions.conf",
            "the dialplan",
            f"{by_hand} must list AMD() and Stasis()",
        )
    section = conf.section(context)
    if section is None:
        return Finding(
            check,
            Status.FAIL,
            f"not in {conf.path}: every callback's resident is hung up once they answer",
            merge,
        )
    runs_s = any(key == "exten" and value.split(",")[0].strip() == "s" for key, value in section)
    runs_amd = any(
        key in ("exten", "same") and re.search(r"\bAMD\s*\(", value, re.IGNORECASE)
        for key, value in section
    )
    if not (runs_s and runs_amd):
        return Finding(
            check,
            Status.FAIL,
            f"in {conf.path} it has no extension s running AMD(): callflow sends each "
            "answered resident to s,1 there",
            merge,
        )
    return Finding(check, Status.OK, f"extension s runs AMD() ({conf.path})")


def _off_host(check: str, conf: Path, ari_lacks: str, by_hand: str) -> Finding:
    """A check only Asterisk's own *conf* answers, run where it cannot be read."""
    return Finding(
        check,
        Status.WARN,
        f"cannot tell from here: no readable {conf}, and ARI does not show {ari_lacks}",
        f"run the doctor on the Asterisk host (--asterisk-etc), or check by hand: {by_hand}",
    )


def _hold_music(etc: Path, music_class: str) -> Finding:
    check = f"hold music {music_class!r}"
    reload = '`asterisk -rx "moh reload"`'
    conf = read_conf(etc, "musiconhold.conf")
    if conf is None:
        return _off_host(
            check,
            etc / "musiconhold.conf",
            "music-on-hold classes (an empty one holds callers in silence)",
            f'`asterisk -rx "moh show classes"` and `asterisk -rx "moh show files"` there '
            f"must list class {music_class} with files",
        )
    options = conf.section(music_class)
    if options is None:
        return Finding(
            check,
            Status.FAIL,
            f"no class [{music_class}] in {conf.path}",
            f"add it (mode = files, directory = moh) or set [provider.ari] hold_music to a "
            f"class there, then {reload}",
        )
    mode = last(options, "mode").lower()
    if not mode:
        return Finding(
            check,
            Status.FAIL,
            f"[{music_class}] in {conf.path} has no mode, so Asterisk ignores it",
            f"add mode = files and the directory of its music, then {reload}",
        )
    if mode == "playlist":
        entries = sum(key == "entry" for key, _ in options)
        if not entries:
            return Finding(
                check,
                Status.FAIL,
                f"its playlist in {conf.path} has no entry: callers hold in silence",
                f"add entry = lines (files or URLs) to [{music_class}], then {reload}",
            )
        return Finding(check, Status.OK, f"a playlist of {entries} entries")
    if mode not in FILE_MODES:
        return Finding(
            check,
            Status.WARN,
            f"mode {mode!r} in {conf.path}: the doctor cannot tell whether it plays",
            'check by hand on the Asterisk host: `asterisk -rx "moh show classes"`',
        )
    directory = Path(last(options, "directory"))
    if not directory.is_absolute():
        directory = data_dir(etc) / directory
    try:
        playable = [name for name in _names(directory) if _playable(name)]
    except FileNotFoundError:
        playable = []
    except OSError as exc:
        return Finding(
            check,
            Status.WARN,
            f"cannot read {directory} ({exc.strerror})",
            'check by hand on the Asterisk host: `asterisk -rx "moh show files"`',
        )
    if not playable:
        return Finding(
            check,
            Status.FAIL,
            f"nothing to play in {directory}: callers hold in silence",
            "install the music-on-hold sounds (Debian: asterisk-moh-opsound-wav, -gsm or -g722) "
            f"or put music files (.wav, .gsm, .ulaw …) in {directory}, then {reload}",
        )
    return Finding(check, Status.OK, f"{len(playable)} file(s) in {directory}")


def _names(directory: Path) -> list[str]:
    return [path.name for path in directory.iterdir() if path.is_file()]


def _playable(name: str) -> bool:
    """As res_musiconhold scans a class's directory: no hidden files, and an extension
    of two characters or more (its format)."""
    _, dot, extension = name.rpartition(".")
    return not name.startswith(".") and bool(dot) and len(extension) >= 2


async def _advisor_phones(ari: AriClient, read: AdvisorReader) -> AsyncIterator[Finding]:
    """A finding per advisor whose phone cannot be rung or cannot be checked, then how
    many were found."""
    check = "advisors' phones"
    try:
        advisors = await asyncio.to_thread(read)
    except CallflowError as exc:
        yield Finding(
            check,
            Status.FAIL,
            f"cannot read the advisors: {_one_line(exc)}",
            "give the line's database (--database-url or CALLFLOW_DATABASE_URL)",
        )
        return
    if isinstance(advisors, Unread):
        yield Finding(check, Status.WARN, f"not checked: {advisors.reason}", advisors.fix)
        return
    phones = [(a.name, a.dial_string) for a in advisors if a.enabled and a.dial_string]
    if not phones:
        yield Finding(
            check,
            Status.WARN,
            "no enabled advisor has a dial string: no caller can be connected",
            "`callflow advisors add NAME --dial-string PJSIP/… --skill … --language …`",
        )
        return
    found = 0
    for name, dial_string in phones:
        finding = await _phone(ari, name, dial_string)
        if finding is None:
            found += 1
        else:
            yield finding
    yield Finding(check, Status.OK, f"{found} of {len(phones)} found online")


async def _phone(ari: AriClient, name: str, dial_string: str) -> Finding | None:
    """What is wrong with *name*'s phone, or None when its endpoint is there and online
    (the only state in which the doctor can say it rings)."""
    check = f"advisor {name!r}"
    ring_by_hand = (
        f'ring it once by hand: `asterisk -rx "channel originate {dial_string} '
        'application Playback hello-world"`'
    )
    endpoint = ENDPOINT_DIAL_STRING.fullmatch(dial_string)
    if endpoint is None or endpoint["tech"].lower() == "local":
        return Finding(
            check,
            Status.WARN,
            f"{dial_string} is not an endpoint's name, so ARI cannot tell whether it rings",
            ring_by_hand,
        )
    try:
        found: Any = await ari.call(
            ENDPOINT_GET, path={"tech": endpoint["tech"], "resource": endpoint["resource"]}
        )
    except ProviderError as exc:
        return _unavailable(check, exc)
    if found is None:
        return Finding(
            check,
            Status.FAIL,
            f"no endpoint {dial_string}: the line cannot ring them",
            "define it in pjsip.conf (callflow's config/asterisk/pjsip.conf shows an advisor's), "
            'then `asterisk -rx "module reload res_pjsip.so"`; or, if they no longer take '
            f"calls, `callflow advisors disable {name}`",
        )
    state = found.get("state") if isinstance(found, dict) else None
    if state == "offline":
        return Finding(
            check,
            Status.WARN,
            f"{dial_string} is offline: their phone is not registered, so it cannot ring",
            "start the phone, or check its account: it must register with Asterisk to ring",
        )
    if state != "online":
        # "unknown": Asterisk has the endpoint but does not track whether its phone is
        # reachable (no registration, no qualify), so it was not found online either.
        return Finding(
            check,
            Status.WARN,
            f"{dial_string} is defined, but Asterisk does not know whether its phone is "
            f"reachable (state {state or 'not given'}), so the doctor cannot tell whether "
            "it rings",
            ring_by_hand,
        )
    return None


def _one_line(error: CallflowError) -> str:
    """*error* said on one line: a configuration error lists its problems on several."""
    if isinstance(error, ConfigError):
        return "; ".join(str(problem) for problem in error.problems)
    return str(error)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_MISSING])
    return (
        shown if len(names) <= SHOWN_MISSING else f"{shown} and {len(names) - SHOWN_MISSING} more"
    )

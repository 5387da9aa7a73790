"""The engine's media commands as TwiML, built with ``twilio.twiml.voice_response``.

One webhook is answered with one document, and every document ends by
telling Twilio where to ask next: prompts end in a ``<Redirect>`` that
reports them heard, a question is a ``<Gather>`` whose action brings the
keys (or the silence), a queue's waiting ends in a ``<Redirect>`` to the next
turn of its ``waitUrl``. Each document's URLs carry a step number of their
own, so a request Twilio repeats is known as such (see
:mod:`callflow.providers.twilio.calls`).

What the engine says in the same step after the caller joins a queue cannot
be in that document: Twilio runs nothing after ``<Enqueue>`` until the caller
leaves, and plays queued callers only what the ``waitUrl`` returns. Likewise
after ``<Leave>`` Twilio asks the ``<Enqueue>`` action what comes next. Those
words go into a document answered in advance, kept under the step key of
the request that will come for it.

Timers the engine sets are not Twilio's business: the input timeout is the
``<Gather>`` timeout, and the queue's announcements and closing time are
checked on each turn of waiting, so the hold music's length is how late an
announcement can be. So is a change of the line's rules for a waiting caller
(a closure, an emergency message): Twilio runs only the ``waitUrl``'s answers
while the caller is in its queue, and taking them out of it to say something
sooner would lose their place in Twilio's line.

The words are those of the rules a step was taken under
(:class:`~callflow.service.rules.LineRules`): a prompt's text changed live is
said from the next step on.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from callflow.config.models import HotlineConfig
from callflow.engine.commands import (
    Ask,
    Command,
    EnterQueue,
    Hangup,
    LeaveQueue,
    Play,
    StopPlayback,
)
from callflow.engine.prompts import PromptRef, render_text
from callflow.engine.state import CallState, Phase
from callflow.engine.survey import SurveyState
from callflow.providers.twilio.settings import TwilioSettings
from callflow.service.rules import LineRules

Context = Literal["call", "wait"]
"""Where a document runs: on the call itself, or as a turn of a queue's waiting."""

KEPT_DOCUMENTS = 512
"""Rendered documents kept for reuse; the line's menus and messages are a few dozen."""
RENDERED = (Play, Ask, StopPlayback, EnterQueue, LeaveQueue, Hangup)
"""The commands a document is made of; the others are not Twilio's business."""
WAIT_TURN = "wait"
MUSIC_GATHER_TIMEOUT = 1
"""Seconds a key is awaited after music or prompts in a queue: the least Twilio allows."""
MIN_GATHER = timedelta(seconds=1)
"""The shortest ``<Gather>`` timeout Twilio takes."""


def step_key(endpoint: str, query: dict[str, str | int]) -> str:
    """How a step is known: the endpoint and our parameters of its URL, as values.

    A request's key is made from the values its parameters were read into
    (:meth:`~callflow.providers.twilio.params.StepRequest.step_query`), never from its
    text, so a parameter more or a number written another way (``s=0005``) is the same
    step, not a new one that would move the call on. A document answered in advance is
    kept under the key its request will have: the same names in the same order.
    """
    return f"{endpoint}:{urlencode(query)}"


def left_key(query: dict[str, str | int], queue_result: str) -> str:
    """The ``<Enqueue>`` action's step: the same URL means another thing per ``QueueResult``."""
    return f"{step_key('left', query)}:{queue_result}"


@dataclass
class Cursor:
    """A call's counters, advanced as documents are made: the next step number (one per
    document) and how many times the caller has joined a queue."""

    step: int
    visit: int

    def next_step(self) -> int:
        self.step += 1
        return self.step - 1


@dataclass
class Rendered:
    """One webhook's answer and the documents answered in advance (by step key)."""

    twiml: str
    ahead: dict[str, str] = field(default_factory=dict)


class Speech:
    """Prompts as ``<Say>`` in each language's voice, or ``<Play>`` of a recording."""

    def __init__(self, settings: TwilioSettings, rules: LineRules | None = None) -> None:
        """The voices and recordings are *settings*'; the words *rules*' in force
        (*settings*' configuration's, unchanging, if none)."""
        self._rules = rules or LineRules.fixed(settings.config)
        self._twilio = settings.twilio

    def add(
        self, parent: Any, prompts: Sequence[PromptRef], config: HotlineConfig | None = None
    ) -> None:
        """Nest *prompts* in *parent*, in the words of *config* (the rules in force if none);
        consecutive sentences in one voice are one ``<Say>``."""
        config = config or self._rules.config
        words: list[str] = []
        language: str | None = None
        for ref in prompts:
            recording = self._twilio.audio.get(ref.language, {}).get(ref.key)
            if recording is not None and not ref.params:
                self._say(parent, language, words)
                words, language = [], None
                parent.play(recording)
                continue
            if ref.language != language:
                self._say(parent, language, words)
                words, language = [], ref.language
            words.append(render_text(ref, config))
        self._say(parent, language, words)

    def _say(self, parent: Any, language: str | None, words: list[str]) -> None:
        if language is None or not words:
            return
        voice = self._twilio.voices[language]
        parent.say(" ".join(words), voice=voice.voice, language=voice.language)


@dataclass
class _Part:
    """One thing a document does, in order."""

    kind: Literal["play", "ask", "enqueue", "leave", "hangup"]
    command: Command | None = None
    playback_id: str | None = None


@dataclass
class _Doc:
    context: Context
    key: str | None
    """The step key it answers in advance; None for the webhook's own answer."""
    parts: list[_Part] = field(default_factory=list)

    def stop(self, playback_id: str) -> None:
        self.parts = [p for p in self.parts if p.playback_id != playback_id]


Kept = dict[Hashable, tuple[Rendered, int, int]]


class Renderer:
    """Turns one step's media commands into TwiML documents."""

    def __init__(self, settings: TwilioSettings, rules: LineRules | None = None) -> None:
        self.settings = settings
        self.speech = Speech(settings, rules)
        self._kept: tuple[HotlineConfig | None, Kept] = (None, {})
        """Documents of fixed words by what they were made of, and the rules whose words
        they say: every call hears the same greeting and menus, and building TwiML costs
        more than the rest of a webhook. New rules start afresh (replacing the pair whole,
        so a step under older rules finishing meanwhile keeps nothing for the new)."""

    def render(
        self,
        commands: Sequence[Command],
        state: CallState,
        cursor: Cursor,
        context: Context,
        config: HotlineConfig,
    ) -> Rendered:
        """The answer to a webhook running in *context*, for the media commands of its step
        taken under *config* (*state* is the call after the step)."""
        key = _fixed_words(commands, state, cursor, context)
        if key is None:
            return self._render(commands, state, cursor, context, config)
        kept_under, kept_documents = self._kept
        if kept_under is not config or len(kept_documents) >= KEPT_DOCUMENTS:
            kept_documents = {}
            self._kept = (config, kept_documents)
        kept = kept_documents.get(key)
        if kept is None:
            rendered = self._render(commands, state, cursor, context, config)
            kept = kept_documents[key] = (rendered, cursor.step, cursor.visit)
        rendered, cursor.step, cursor.visit = kept
        return Rendered(rendered.twiml, dict(rendered.ahead))

    def _render(
        self,
        commands: Sequence[Command],
        state: CallState,
        cursor: Cursor,
        context: Context,
        config: HotlineConfig,
    ) -> Rendered:
        doc = _Doc(context, None)
        docs = [doc]
        for command in commands:
            if isinstance(command, Play):
                doc.parts.append(_Part("play", command, command.playback_id))
            elif isinstance(command, Ask):
                doc.parts.append(_Part("ask", command, command.playback_id))
            elif isinstance(command, StopPlayback):
                doc.stop(command.playback_id)
            elif isinstance(command, EnterQueue):
                cursor.visit += 1
                doc.parts.append(_Part("enqueue", command))
                doc = _Doc("wait", WAIT_TURN)  # keyed once its waitUrl's step is known
                docs.append(doc)
            elif isinstance(command, LeaveQueue) and doc.context == "wait":
                doc.parts.append(_Part("leave", command))
                doc = _Doc("call", left_key({"v": cursor.visit}, "leave"))
                docs.append(doc)
            elif isinstance(command, Hangup):
                doc.parts.append(_Part("hangup", command))
        rendered = Rendered("")
        wait_step: int | None = None
        for current in docs:
            if current.key is not None and not current.parts:
                continue  # nothing to say in advance: that request is answered when it comes
            if current.key == WAIT_TURN:
                assert wait_step is not None
                twiml, _ = self._document(current, state, cursor, config, wait_step)
                rendered.ahead[step_key("wait", {"s": wait_step})] = twiml
                continue
            twiml, enqueued_at = self._document(current, state, cursor, config, None)
            wait_step = enqueued_at if enqueued_at is not None else wait_step
            if current.key is None:
                rendered.twiml = twiml
            else:
                rendered.ahead[current.key] = twiml
        return rendered

    def _document(
        self, doc: _Doc, state: CallState, cursor: Cursor, config: HotlineConfig, step: int | None
    ) -> tuple[str, int | None]:
        """The document's TwiML, and the step of the ``waitUrl`` it hands out, if any."""
        if step is None:
            step = cursor.next_step()
        url = self.settings.url
        response = VoiceResponse()
        enqueued_at: int | None = None
        offer_open = _offer_stands(state)
        for part in doc.parts:
            if part.kind == "hangup":
                response.hangup()
                return str(response), enqueued_at
            if part.kind == "enqueue":
                assert isinstance(part.command, EnterQueue)
                enqueued_at = cursor.next_step()
                response.enqueue(
                    self.settings.queue_name(part.command.topic),
                    action=url("/twilio/voice/left", v=cursor.visit),
                    method="POST",
                    wait_url=url("/twilio/voice/wait", s=enqueued_at),
                    wait_url_method="POST",
                )
                return str(response), enqueued_at
            if part.kind == "leave":
                response.leave()
                return str(response), enqueued_at
            if part.kind == "ask":
                assert isinstance(part.command, Ask)
                ask = part.command
                query: dict[str, str | int] = {"s": step, "pb": ask.playback_id, "k": "ask"}
                if doc.context == "wait":
                    query["q"] = 1  # its answer runs in the queue's waiting too
                gather = question(response, ask, url("/twilio/voice/gather", **query))
                self.speech.add(gather, ask.prompts, config)
                return str(response), enqueued_at
            assert isinstance(part.command, Play)
            play = part.command
            heard = "/twilio/voice/wait" if doc.context == "wait" else "/twilio/voice/played"
            if doc.context == "wait" and offer_open:
                # The offer stands while they listen: 1 takes it at any moment.
                gather = self._key_catcher(response, step, "play", play.playback_id)
                self.speech.add(gather, play.prompts, config)
            else:
                self.speech.add(response, play.prompts, config)
            response.redirect(url(heard, s=step, pb=play.playback_id), method="POST")
            return str(response), enqueued_at
        if state.phase is Phase.ENDED:
            response.hangup()  # whatever came late, this call is over
        elif doc.context == "wait":
            music_parent = self._key_catcher(response, step, "music") if offer_open else response
            music_parent.play(self.settings.twilio.hold_music)
            response.redirect(url("/twilio/voice/wait", s=step), method="POST")
        else:
            # The engine is waiting for something Twilio will not send (it never should):
            # come back shortly rather than let the call drop.
            response.pause(length=1)
            response.redirect(url("/twilio/voice/tick", s=step), method="POST")
        return str(response), enqueued_at

    def _key_catcher(
        self, response: Any, step: int, wrapped: str, playback_id: str | None = None
    ) -> Any:
        query: dict[str, str | int] = {"s": step, "k": wrapped}
        if playback_id is not None:
            query["pb"] = playback_id
        return response.gather(
            input="dtmf",
            num_digits=1,
            finish_on_key="",
            timeout=MUSIC_GATHER_TIMEOUT,
            action=self.settings.url("/twilio/voice/gather", **query),
            method="POST",
        )


def question(response: Any, ask: Ask, action: str) -> Any:
    """The ``<Gather>`` that asks *ask* (its prompts are nested in it by the caller): as many
    keys as it takes, its finishing key, and its action asked even when no key came (the
    silence is an answer too)."""
    return response.gather(
        input="dtmf",
        num_digits=ask.max_digits,
        finish_on_key=ask.finish_on_key or "",
        timeout=max(1, round(ask.timeout.total_seconds())),
        action=action,
        method="POST",
        action_on_empty_result=True,
    )


def survey_listens(
    asking: SurveyState | None, media: Sequence[Command], now: datetime
) -> list[Command]:
    """The recommendation question still waits for a first key and the step said nothing
    (a ``*`` or ``#``, which is no answer): a ``<Gather>`` is how Twilio keeps listening,
    for what is left of the question's time. Its prompt id is the last one handed out,
    whose end the question has heard already, so it changes nothing when it comes back."""
    if asking is None or asking.done or asking.timer_at is None:
        return []
    if any(isinstance(c, Ask | Play) for c in media):
        return []
    left = max(asking.timer_at - now, MIN_GATHER)
    return [Ask(f"survey{asking.playback_seq}", (), 1, None, left)]


def leg_document(
    media: Sequence[Command],
    speech: Speech,
    config: HotlineConfig,
    *,
    gathered: Callable[[str], str],
    played: Callable[[str], str],
) -> str:
    """A placed call's document for the recommendation question's *media*, as an inbound
    call's question is rendered: an ``Ask`` is a :func:`question` whose action is
    ``gathered(playback_id)``, a ``Play`` its words then a ``<Redirect>`` to
    ``played(playback_id)``; nothing left to say hangs up (the question is done)."""
    parts: list[Play | Ask] = []
    for command in media:
        if isinstance(command, Play | Ask):
            parts.append(command)
        elif isinstance(command, StopPlayback):
            parts = [p for p in parts if p.playback_id != command.playback_id]
    response = VoiceResponse()
    if not parts:
        response.hangup()
        return str(response)
    first = parts[0]
    if isinstance(first, Ask):
        speech.add(question(response, first, gathered(first.playback_id)), first.prompts, config)
    else:
        speech.add(response, first.prompts, config)
        response.redirect(played(first.playback_id), method="POST")
    return str(response)


def _fixed_words(
    commands: Sequence[Command], state: CallState, cursor: Cursor, context: Context
) -> Hashable | None:
    """What a rendering depends on, if every caller who gets there hears the same: None
    when it says something of this caller's own — their number read back, a time
    reckoned for them, a queue entered at their moment — which is rendered afresh and
    never kept (a read-back must not outlive the call). Menu digits, topics, positions
    and minutes are plain values that repeat from caller to caller."""
    rendered = []
    for command in commands:
        if isinstance(command, EnterQueue):
            return None
        if isinstance(command, Play | Ask) and not all(
            isinstance(value, int | str) for ref in command.prompts for _, value in ref.params
        ):
            return None
        if isinstance(command, RENDERED):
            rendered.append(repr(command))
    ended = state.phase is Phase.ENDED
    return (context, cursor.step, cursor.visit, _offer_stands(state), ended, *rendered)


def _offer_stands(state: CallState) -> bool:
    """Whether a key pressed while the caller waits takes the callback offer."""
    return state.offer_open and not state.offer_declined and state.menu is None

"""One step's working set: the state, the instant, and the commands being built.

:mod:`callflow.engine.flow` decides; this module holds the primitives it
decides with (say something, ask something, set a timer, log an event), so
that each primitive keeps the state consistent the same way every time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from callflow.config.models import HotlineConfig, QueueConfig
from callflow.engine.calendar import Calendar
from callflow.engine.commands import (
    Ask,
    ClearTimer,
    Command,
    Hangup,
    Play,
    Record,
    SetTimer,
    StopPlayback,
)
from callflow.engine.expectations import CallbackExpectations
from callflow.engine.forecast import PlannedCapacity
from callflow.engine.prompts import PromptRef, PromptValue, When
from callflow.engine.state import After, CallState, Menu, Phase
from callflow.engine.vocabulary import CallOutcome, EventKind

TIMER_FIELDS = {name: f"{name}_at" for name in ("announce", "closing", "input")}
"""The engine's timers, each with the :class:`CallState` field that holds when it fires,
in the order a finished call clears them; a ``TimerFired`` with any other name is ignored."""


class MenuPrompts:
    """The menus' option lists, which depend on the configuration alone: built once."""

    def __init__(self, config: HotlineConfig) -> None:
        self._config = config
        self._languages: tuple[PromptRef, ...] | None = None
        self._topics: dict[tuple[str, tuple[str, ...]], tuple[PromptRef, ...]] = {}

    def language_options(self) -> tuple[PromptRef, ...]:
        """Each language's option, said in that language."""
        if self._languages is None:
            languages = self._config.languages
            self._languages = tuple(
                PromptRef("language_option", code, (("digit", languages[code].digit),))
                for code in self._config.language_order
            )
        return self._languages

    def topic_options(self, language: str, topics: list[str]) -> tuple[PromptRef, ...]:
        key = (language, tuple(topics))
        options = self._topics.get(key)
        if options is None:
            queues = self._config.queues
            options = self._topics[key] = tuple(
                PromptRef(
                    "topic_option",
                    language,
                    (("topic", queues[name].names[language]), ("digit", queues[name].digit)),
                )
                for name in topics
            )
        return options


@dataclass(frozen=True, slots=True)
class FlowContext:
    """Everything a step may consult besides the call's own state: plans and rules, never
    the line's live state (a step asks for that with a command, see ``LookUpQueue``)."""

    config: HotlineConfig
    calendar: Calendar
    capacity: PlannedCapacity
    version: int = 0
    """Which rules these are: a number that changes whenever the rules in force do (a
    stored change, the file read again). A call last stepped under another number hears
    :class:`~.events.RulesChanged` first."""
    menus: MenuPrompts = field(init=False)
    expectations: CallbackExpectations = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "menus", MenuPrompts(self.config))
        expectations = CallbackExpectations(self.config, self.calendar, self.capacity)
        object.__setattr__(self, "expectations", expectations)


class Turn:
    __slots__ = ("_open", "_today", "config", "ctx", "now", "out", "s")

    def __init__(self, state: CallState, now: datetime, ctx: FlowContext) -> None:
        self.s = state
        self.now = now
        self.ctx = ctx
        self.config = ctx.config
        self.out: list[Command] = []
        self._today: date | None = None
        self._open: bool | None = None

    @property
    def calendar_open(self) -> bool:
        """Whether the line's calendar has it open at this step (asked several times a
        step, answered once)."""
        if self._open is None:
            self._open = self.ctx.calendar.is_open(self.now)
        return self._open

    @property
    def today(self) -> date:
        """The line's local date at this step."""
        if self._today is None:
            self._today = self.ctx.calendar.local_date(self.now)
        return self._today

    # -- words -------------------------------------------------------------------

    @property
    def language(self) -> str:
        return self.s.language or self.config.line.default_language

    def p(self, key: str, **params: PromptValue) -> PromptRef:
        """Prompt *key* in the caller's language (the default one until they choose)."""
        return PromptRef(key, self.language, tuple(params.items()))

    def p_in(self, language: str, key: str, **params: PromptValue) -> PromptRef:
        return PromptRef(key, language, tuple(params.items()))

    def when(self, at: datetime, style: Literal["at", "by", "morning"] = "by") -> When:
        return When(at, self.today, style)

    @property
    def queue(self) -> QueueConfig:
        assert self.s.topic is not None
        return self.config.queues[self.s.topic]

    # -- media ----------------------------------------------------------------------

    def stop_playback(self) -> None:
        if self.s.playback is not None:
            self.out.append(StopPlayback(self.s.playback))
            self.s.playback = None

    def _new_playback(self) -> str:
        self.stop_playback()
        self.clear_timer("input")
        self.s.playback_seq += 1
        self.s.playback = pid = f"p{self.s.playback_seq}"
        return pid

    def play(self, prompts: Iterable[PromptRef], after: After) -> None:
        """Say *prompts*, then do *after*; digits meanwhile are not a menu choice."""
        pid = self._new_playback()
        self.s.menu = None
        self.s.after = after
        self.out.append(Play(pid, tuple(prompts)))

    def ask(self, menu: Menu, prompts: Iterable[PromptRef], *, fresh: bool = True) -> None:
        """Put a question; a fresh question starts its failure count again."""
        pid = self._new_playback()
        if fresh:
            self.s.failures = 0
        self.s.menu = menu
        self.s.after = None
        self.s.digits = ""
        if menu is Menu.NUMBER:
            self.out.append(Ask(pid, tuple(prompts), 15, "#", self.input_timeout(menu)))
        else:
            self.out.append(Ask(pid, tuple(prompts), 1, None, self.input_timeout(menu)))

    def input_timeout(self, menu: Menu) -> timedelta:
        if menu is Menu.NUMBER:
            return self.config.menu.number_digit_timeout
        return self.config.menu.input_timeout

    def stop_asking(self) -> None:
        self.stop_playback()
        self.clear_timer("input")
        self.s.menu = None
        self.s.digits = ""

    # -- timers ---------------------------------------------------------------------

    def set_timer(self, name: str, at: datetime) -> None:
        setattr(self.s, TIMER_FIELDS[name], at)
        self.out.append(SetTimer(name, at))

    def clear_timer(self, name: str) -> None:
        attr = TIMER_FIELDS[name]
        if getattr(self.s, attr) is not None:
            setattr(self.s, attr, None)
            self.out.append(ClearTimer(name))

    # -- log and end ------------------------------------------------------------------

    def record(self, kind: EventKind, **data: Any) -> None:
        self.out.append(Record(kind, data))

    def finish(self) -> None:
        """Close the call's books: every timer off, the outcome logged."""
        for name in TIMER_FIELDS:
            self.clear_timer(name)
        self.s.menu = None
        self.s.playback = None
        self.s.after = None
        self.s.phase = Phase.ENDED
        duration = (self.now - self.s.started_at).total_seconds()
        self.record(EventKind.ENDED, outcome=self.s.outcome, duration_s=round(duration, 3))

    def hang_up(self) -> None:
        self.out.append(Hangup(self.s.outcome or "ended"))
        self.finish()

    def farewell(self, outcome: CallOutcome, prompts: Iterable[PromptRef]) -> None:
        """Last words, then the line hangs up."""
        self.s.outcome = outcome
        self.s.phase = Phase.FAREWELL
        self.play(prompts, After.HANG_UP)

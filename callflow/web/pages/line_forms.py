"""The forms of the line's live-settings pages: what was typed, and where each problem goes.

A refused setting names its problems by key (``calendar.closures.2026-12-08T10:00.end``);
a :class:`Form` knows which of its fields each part of its setting is typed in, so the
page says each problem beside that field (``aria-describedby``) and the rest at the
form's top. The queues' settings are typed by the kind their model gives them, so a
yes or no is a choice, never free text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from starlette.datastructures import FormData

from callflow.config.layers import QUEUE_KEYS
from callflow.config.models import EmergencyConfig, QueueConfig
from callflow.errors import CallflowError, ConfigError
from callflow.errors import Problem as ConfigProblem
from callflow.http.errors import ApiError
from callflow.web.line_settings import Setting
from callflow.web.pages.people import CSRF_FIELD
from callflow.web.pages.refusals import Refusal

DONE = ("saved", "closed", "removed", "undone", "reload_asked", "emergency_on", "emergency_off")
"""What a redirect after a change may say it did (``?done=``): ``line_done_<it>``."""

Problem = tuple[str | None, str, Mapping[str, object]]
"""A form's problem: the field it is beside (None: the form's top), a text key, its values."""


@dataclass(frozen=True, slots=True)
class Form:
    """A form on these pages: its element id, the setting it changes and which of its
    fields each part of that setting's value is typed in (``""``: the setting as a whole)."""

    id: str
    key: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)

    def keyed(self, setting: Setting) -> Form:
        """This form, changing *setting* (whose key its fields give: a closure's start)."""
        return replace(self, key=setting.key)

    def field_of(self, path: str) -> str | None:
        """The field a problem at *path* (a setting's key, maybe with a part) belongs to."""
        key = self.key
        if key is None or not (path == key or path.startswith((f"{key}.", f"{key}["))):
            return None
        rest = path[len(key) :].lstrip(".")
        parts = [
            sub
            for sub in self.fields
            if sub in ("", rest) or rest.startswith((f"{sub}.", f"{sub}["))
        ]
        return self.fields[max(parts, key=len)] if parts else None


@dataclass(frozen=True, slots=True)
class Answer:
    """A page's answer to a form: what went wrong with which form, or what was done."""

    form: str | None = None
    typed: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    status_code: int = 200
    notice: str | None = None

    @classmethod
    def lacking(cls, form: Form, typed: Mapping[str, str], *problems: Problem) -> Answer:
        return cls(form.id, typed, problems, 422)

    @classmethod
    def refusing(
        cls, form: Form, typed: Mapping[str, str], exc: ApiError | CallflowError
    ) -> Answer:
        """*exc* said on *form*: each problem of a refused setting beside its field, any
        other refusal in the API's words at the top."""
        if isinstance(exc, ConfigError):
            return cls(form.id, typed, tuple(_placed(form, p) for p in exc.problems), 422)
        refusal = Refusal.of(exc)
        return cls(
            form.id, typed, ((None, "line_words", {"words": refusal.words}),), refusal.status_code
        )

    @classmethod
    def after(cls, done: str | None) -> Answer:
        """The page after a change, saying what was done (``?done=``)."""
        return cls(notice=f"line_done_{done}" if done in DONE else None)

    def value(self, form: str, name: str, default: str = "") -> str:
        """What *form*'s field *name* shows: as typed, when this answers that form."""
        return self.typed.get(name, "") if form == self.form else default

    def ticked(self, form: str, name: str, default: bool) -> bool:
        return name in self.typed if form == self.form else default

    def at(self, form: str, name: str | None) -> list[Problem]:
        """*form*'s problems beside field *name* (None: at the form's top)."""
        return [p for p in self.problems if form == self.form and p[0] == name]


def _placed(form: Form, problem: ConfigProblem) -> Problem:
    """*problem* beside the field it is about, in the checks' words; or at the form's top,
    naming the setting."""
    field_name = form.field_of(problem.path)
    if field_name is None:
        return (None, "line_problem", {"setting": problem.path, "reason": problem.allowed})
    return (field_name, "line_words", {"words": problem.allowed})


@dataclass(frozen=True, slots=True)
class QueueInput:
    """How a queue's live setting is typed on the page."""

    kind: Literal["number", "duration", "choice", "yes_no", "text"]
    choices: tuple[str, ...] = ()

    def parsed(self, text: str) -> Any:
        """*text* as the file would write the value; what the checks cannot read is passed
        on as typed, for them to refuse in their words."""
        text = text.strip()
        if self.kind == "number":
            return int(text) if text.isdigit() else text
        if self.kind == "yes_no":
            return {"true": True, "false": False}.get(text, text)
        return text


def queue_inputs() -> dict[str, QueueInput]:
    """Each of :data:`QUEUE_KEYS` by the type its model gives it."""
    inputs = {}
    for name in QUEUE_KEYS:
        model: type[BaseModel] = QueueConfig
        *parents, last = name.split(".")
        for part in parents:
            model = model.model_fields[part].annotation  # type: ignore[assignment]
        annotation = model.model_fields[last].annotation
        if annotation is bool:
            inputs[name] = QueueInput("yes_no")
        elif annotation is int:
            inputs[name] = QueueInput("number")
        elif annotation is timedelta:
            inputs[name] = QueueInput("duration")
        elif get_origin(annotation) is Literal:
            inputs[name] = QueueInput("choice", tuple(get_args(annotation)))
        else:
            inputs[name] = QueueInput("text")
    return inputs


QUEUE_INPUTS = queue_inputs()
EMERGENCY_MODES: tuple[str, ...] = get_args(EmergencyConfig.model_fields["mode"].annotation)


def typed_in(form: FormData) -> dict[str, str]:
    """The form's text fields as typed (the CSRF token left out)."""
    return {
        name: value for name, value in form.items() if isinstance(value, str) and name != CSRF_FIELD
    }


def local_time(typed: Mapping[str, str], name: str) -> datetime | None:
    """A ``datetime-local`` field's value, None when it is empty or not a date and time."""
    try:
        return datetime.fromisoformat(typed.get(name, "").strip())
    except ValueError:
        return None


def date_in(typed: Mapping[str, str], name: str) -> date | None:
    try:
        return date.fromisoformat(typed.get(name, "").strip())
    except ValueError:
        return None

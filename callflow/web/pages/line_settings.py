"""The admin pages that change the line while it runs (``/admin/line``): the calendar of
the coming days with its closures and special hours, the emergency messages, the
queues' thresholds, the prompts, the history of changes (each undoable) and a reload
of the configuration file.

Every form calls the action the admin API calls (:mod:`callflow.web.line_settings`),
so a page, the API and the command line cannot differ on a rule. A change refused by
the rules of ``callflow config check`` shows the form again as it was typed, each
problem beside its field or at the top of the form (:mod:`.line_forms`), with HTTP
422; nothing was stored. A change done answers with a redirect to the page showing it
(POST/redirect/GET). Times on these pages are the line's wall clock, as in the file.
A form for a queue, scope or language the line does not have is a page saying so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from callflow.config.models import EMERGENCY_SCOPE_LINE
from callflow.errors import CallflowError
from callflow.http.errors import ApiError
from callflow.store.line_settings import RELOAD_KEY, history
from callflow.store.sign_ins import Person
from callflow.web import Context, WebContext
from callflow.web import line_settings as line
from callflow.web.inputs import ChangeId
from callflow.web.line_view import Reading
from callflow.web.pages.line_forms import (
    EMERGENCY_MODES,
    QUEUE_INPUTS,
    Answer,
    Form,
    Problem,
    date_in,
    local_time,
    typed_in,
)
from callflow.web.pages.people import CheckedForm, PageAdmin, path_of
from callflow.web.pages.rendering import locale_of, page

router = APIRouter(prefix="/admin/line", include_in_schema=False)

LINE = "/admin/line"
DAYS_SHOWN = 14
QUICK_CLOSURES = (30, 60, 120, 240)
"""Minutes a "close from now" may last, offered as a choice."""
SHOWN_CHANGES = 30
LONGEST_SHOWN = 200
"""Characters of a value the history shows; the API has it whole."""
LOCAL_MINUTE = "%Y-%m-%dT%H:%M"
"""A ``datetime-local`` input's value."""


@dataclass(frozen=True, slots=True)
class Here:
    """An admin on one of these pages: what a page is rendered for."""

    request: Request
    context: WebContext
    person: Person


def _here(request: Request, context: Context, person: PageAdmin) -> Here:
    return Here(request, context, person)


AdminHere = Annotated[Here, Depends(_here)]
Show = Callable[[Here, Answer], Response]
"""A page shown again with a form's answer."""


# -- the calendar --------------------------------------------------------------------------

CLOSE = Form("close", fields={"start": "start", "end": "end", "reason": "reason", "": "end"})
CLOSE_NOW = Form("close-now", fields={"reason": "reason", "": "minutes"})
SPECIAL = Form("special", fields={"hours": "hours", "reason": "reason", "": "hours"})
RELOAD = Form("reload")
REMOVE = Form("remove")


@router.get("")
def calendar_page(here: AdminHere, done: str | None = None) -> Response:
    return _calendar(here, Answer.after(done))


@router.post("/closures")
def close(here: AdminHere, form: CheckedForm) -> Response:
    """Closed from a time to a time."""
    typed = typed_in(form)
    start, end = local_time(typed, "start"), local_time(typed, "end")
    if start is None or end is None:
        missing = [name for name, at in (("start", start), ("end", end)) if at is None]
        problems: list[Problem] = [(name, "line_need_time", {}) for name in missing]
        return _calendar(here, Answer.lacking(CLOSE, typed, *problems))
    setting = line.closure(start, end, typed.get("reason", "").strip())
    return _change(here, _calendar, CLOSE.keyed(setting), typed, setting, "closed", LINE)


@router.post("/closures/now")
def close_now(here: AdminHere, form: CheckedForm) -> Response:
    """Closed from now, for one of :data:`QUICK_CLOSURES`."""
    typed = typed_in(form)
    minutes = typed.get("minutes", "")
    if not minutes.isdigit() or int(minutes) not in QUICK_CLOSURES:
        problem: Problem = ("minutes", "line_need_choice", {})
        return _calendar(here, Answer.lacking(CLOSE_NOW, typed, problem))
    start = line.local_now(here.context)
    end = start + timedelta(minutes=int(minutes))
    setting = line.closure(start, end, typed.get("reason", "").strip())
    return _change(here, _calendar, CLOSE_NOW.keyed(setting), typed, setting, "closed", LINE)


@router.post("/special-hours")
def special_hours(here: AdminHere, form: CheckedForm) -> Response:
    """Hours in place of the usual ones on a date, or closed that day."""
    typed = typed_in(form)
    day = date_in(typed, "date")
    hours = [part.strip() for part in typed.get("hours", "").split(",") if part.strip()]
    closed = "closed" in typed
    problems: list[Problem] = []
    if day is None:
        problems.append(("date", "line_need_date", {}))
    if not hours and not closed:
        problems.append(("hours", "line_need_hours", {}))
    if day is None or problems:
        return _calendar(here, Answer.lacking(SPECIAL, typed, *problems))
    setting = line.special_hours(day, [] if closed else hours, typed.get("reason", "").strip())
    return _change(here, _calendar, SPECIAL.keyed(setting), typed, setting, "saved", LINE)


@router.post("/remove")
def remove(here: AdminHere, form: CheckedForm) -> Response:
    """A stored closure or special hours taken away: the file's calendar applies again."""
    typed = typed_in(form)
    return _remove(here, _calendar, REMOVE, typed, typed.get("key", ""), LINE)


@router.post("/reload")
def reload(here: AdminHere, form: CheckedForm) -> Response:
    """Every process reads the configuration file again, once it passes every check."""
    refused = _tried(lambda: line.reload(here.context, by=here.person.name), RELOAD, {})
    return _done(LINE, "reload_asked") if refused is None else _calendar(here, refused)


def _calendar(here: Here, answer: Answer) -> Response:
    reading = Reading(here.context)
    now = reading.local_now.replace(second=0, microsecond=0)
    language = locale_of(here.request, here.context, here.person)
    return _page(
        here, "line_calendar.html", LINE, answer,
        forms={"close": CLOSE.id, "now": CLOSE_NOW.id, "special": SPECIAL.id,
               "reload": RELOAD.id, "remove": REMOVE.id},
        days=reading.calendar_ahead(DAYS_SHOWN, language),
        stored=[e for e in reading.exceptions() if e.source == "stored"],
        start_default=f"{now:{LOCAL_MINUTE}}",
        end_default=f"{now + timedelta(hours=1):{LOCAL_MINUTE}}",
        quick=QUICK_CLOSURES, today=now.date().isoformat(),
    )  # fmt: skip


# -- emergency messages --------------------------------------------------------------------


def emergency_form(scope: str, languages: list[str]) -> Form:
    fields = {f"texts.{code}": f"text-{code}" for code in languages}
    fields |= {"texts": f"text-{languages[0]}", "mode": "mode", "start": "start", "end": "end"}
    fields[""] = "end"  # the message as a whole: its times are what can disagree
    return Form(f"emergency-{scope}", line.emergency_key(scope), fields)


@router.get("/emergency")
def emergency_page(here: AdminHere, done: str | None = None) -> Response:
    return _emergency(here, Answer.after(done))


@router.post("/emergency/{scope}")
def emergency_on(scope: str, here: AdminHere, form: CheckedForm) -> Response:
    """The scope's message said from its start (now, unless told) until its end, if any."""
    if scope != EMERGENCY_SCOPE_LINE and scope not in here.context.config.queues:
        return _no_such_page(here)
    typed = typed_in(form)
    languages = here.context.config.language_order
    this = emergency_form(scope, languages)
    start, end = local_time(typed, "start"), local_time(typed, "end")
    problems: list[Problem] = []
    if start is None:
        problems.append(("start", "line_need_time", {}))
    if typed.get("end", "").strip() and end is None:
        problems.append(("end", "line_need_time", {}))
    if start is None or problems:
        return _emergency(here, Answer.lacking(this, typed, *problems))
    texts = {code: typed.get(f"text-{code}", "").strip() for code in languages}
    setting = line.emergency(
        scope,
        {code: text for code, text in texts.items() if text},  # a missing one: the checks say
        mode=typed.get("mode", ""),
        after_hours_offer="after_hours_offer" in typed,
        start=start,
        end=end,
    )
    return _change(here, _emergency, this, typed, setting, "emergency_on", f"{LINE}/emergency")


@router.post("/emergency/{scope}/off")
def emergency_off(scope: str, here: AdminHere, form: CheckedForm) -> Response:
    if scope != EMERGENCY_SCOPE_LINE and scope not in here.context.config.queues:
        return _no_such_page(here)
    this = emergency_form(scope, here.context.config.language_order)
    key = line.emergency_key(scope)
    return _remove(here, _emergency, this, {}, key, f"{LINE}/emergency", "emergency_off")


def _emergency(here: Here, answer: Answer) -> Response:
    reading = Reading(here.context)
    now = reading.local_now.replace(second=0, microsecond=0)
    languages = reading.config.language_order
    views = reading.emergencies()
    return _page(
        here, "line_emergency.html", f"{LINE}/emergency", answer, emergencies=views,
        forms={view.scope: emergency_form(view.scope, languages).id for view in views},
        start_default=f"{now:{LOCAL_MINUTE}}", local_minute=LOCAL_MINUTE, modes=EMERGENCY_MODES,
    )  # fmt: skip


# -- queues --------------------------------------------------------------------------------


def queue_form(queue: str, name: str) -> Form:
    form_id = f"queue-{queue}-{name.replace('.', '-')}"
    return Form(form_id, line.queue_key(queue, name), {"": "value"})


@router.get("/queues")
def queues_page(here: AdminHere, done: str | None = None) -> Response:
    return _queues(here, Answer.after(done))


@router.post("/queues/{queue}")
def set_queue(queue: str, here: AdminHere, form: CheckedForm) -> Response:
    """One of the queue's live settings (``name``) set to ``value``."""
    typed = typed_in(form)
    name = typed.get("name", "")
    kind = QUEUE_INPUTS.get(name)
    if queue not in here.context.config.queues or kind is None:
        return _no_such_page(here)
    this = queue_form(queue, name)
    value = kind.parsed(typed.get("value", ""))
    if value == "":
        return _queues(here, Answer.lacking(this, typed, ("value", "line_need_value", {})))
    setting = line.Setting(line.queue_key(queue, name), value)
    return _change(here, _queues, this, typed, setting, "saved", f"{LINE}/queues")


@router.post("/queues/{queue}/reset")
def reset_queue(queue: str, here: AdminHere, form: CheckedForm) -> Response:
    """The queue's stored setting ``name`` taken away: the file's value applies again."""
    typed = typed_in(form)
    name = typed.get("name", "")
    if queue not in here.context.config.queues or name not in QUEUE_INPUTS:
        return _no_such_page(here)
    key = line.queue_key(queue, name)
    return _remove(here, _queues, queue_form(queue, name), typed, key, f"{LINE}/queues")


def _queues(here: Here, answer: Answer) -> Response:
    reading = Reading(here.context)
    queues = {queue: reading.queue(queue) for queue in reading.config.topic_order}
    return _page(
        here, "line_queues.html", f"{LINE}/queues", answer, queues=queues, inputs=QUEUE_INPUTS,
        form_of=lambda key: queue_form(*key.removeprefix("queues.").split(".", 1)).id,
    )  # fmt: skip


# -- prompts -------------------------------------------------------------------------------


def prompt_form(language: str, prompt: str) -> Form:
    return Form(f"prompt-{language}-{prompt}", line.prompt_key(language, prompt), {"": "text"})


@router.get("/prompts")
def prompts_page(here: AdminHere, language: str | None = None, done: str | None = None) -> Response:
    return _prompts(here, Answer.after(done), language)


@router.post("/prompts/{language}")
def set_prompt(language: str, here: AdminHere, form: CheckedForm) -> Response:
    """A prompt's text in *language*."""
    typed = typed_in(form)
    prompt = typed.get("prompt", "")
    if not _has_prompt(here.context, language, prompt):
        return _no_such_page(here)
    this, show = prompt_form(language, prompt), partial(_prompts, language=language)
    text = typed.get("text", "").strip()
    if not text:
        return show(here, Answer.lacking(this, typed, ("text", "line_need_text", {})))
    setting = line.Setting(line.prompt_key(language, prompt), text)
    return _change(here, show, this, typed, setting, "saved", _prompts_path(language))


@router.post("/prompts/{language}/reset")
def reset_prompt(language: str, here: AdminHere, form: CheckedForm) -> Response:
    """The prompt's stored text taken away: the file's applies again."""
    typed = typed_in(form)
    prompt = typed.get("prompt", "")
    if not _has_prompt(here.context, language, prompt):
        return _no_such_page(here)
    show, key = partial(_prompts, language=language), line.prompt_key(language, prompt)
    return _remove(here, show, prompt_form(language, prompt), typed, key, _prompts_path(language))


def _has_prompt(context: WebContext, language: str, prompt: str) -> bool:
    """Whether the prompts page of *language* has a form for *prompt*."""
    if language not in context.config.languages:
        return False
    key = line.prompt_key(language, prompt)
    return any(setting.key == key for setting in Reading(context).prompts(language))


def _prompts_path(language: str) -> str:
    return f"{LINE}/prompts?language={language}"


def _prompts(here: Here, answer: Answer, language: str | None) -> Response:
    reading = Reading(here.context)
    languages = reading.config.language_order
    locale = locale_of(here.request, here.context, here.person)
    missing = language is not None and language not in languages
    shown = language if language in languages else (locale if locale in languages else languages[0])
    return _page(
        here, "line_prompts.html", _prompts_path(shown),
        Answer(status_code=404) if missing else answer, shown_language=shown,
        languages=languages, prompts=reading.prompts(shown), missing_language=missing,
        form_of=lambda key: prompt_form(shown, key.rsplit(".", 1)[1]).id,
    )  # fmt: skip


# -- history -------------------------------------------------------------------------------


@router.get("/history")
def history_page(
    here: AdminHere, before: ChangeId | None = None, done: str | None = None
) -> Response:
    return _history(here, Answer.after(done), before)


@router.post("/history/{change_id}/undo")
def undo(change_id: ChangeId, here: AdminHere, form: CheckedForm) -> Response:
    """What the change replaced put back, as a change of its own."""
    this = Form(f"undo-{change_id}")
    refused = _tried(lambda: line.undo(here.context, change_id, by=here.person.name), this, {})
    return _done(f"{LINE}/history", "undone") if refused is None else _history(here, refused)


def _history(here: Here, answer: Answer, before: int | None = None) -> Response:
    with here.context.database.reading() as session:
        changes = history(session, limit=SHOWN_CHANGES + 1, before=before)
    older = changes[SHOWN_CHANGES - 1].id if len(changes) > SHOWN_CHANGES else None
    return _page(
        here, "line_history.html", path_of(here.request), answer,
        changes=changes[:SHOWN_CHANGES], older=older, reload_key=RELOAD_KEY,
        shown_value=_shown_value,
    )  # fmt: skip


def _shown_value(value: Any) -> str:
    """A stored value as the history shows it: JSON, cut where it is long."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= LONGEST_SHOWN else f"{text[: LONGEST_SHOWN - 1]}…"


# -- shared --------------------------------------------------------------------------------


def _change(
    here: Here,
    show: Show,
    form: Form,
    typed: Mapping[str, str],
    setting: line.Setting,
    done: str,
    back: str,
) -> Response:
    """*setting* changed, then to *back* saying so; else *form* shown again with why."""
    by = here.person.name
    refused = _tried(lambda: line.change(here.context, setting, by=by), form, typed)
    return _done(back, done) if refused is None else show(here, refused)


def _remove(
    here: Here,
    show: Show,
    form: Form,
    typed: Mapping[str, str],
    key: str,
    back: str,
    done: str = "removed",
) -> Response:
    """The stored setting *key* taken away, then to *back* saying so; else why not."""
    refused = _tried(lambda: line.remove(here.context, key, by=here.person.name), form, typed)
    return _done(back, done) if refused is None else show(here, refused)


def _tried(action: Callable[[], object], form: Form, typed: Mapping[str, str]) -> Answer | None:
    """None once *action* is done; else its refusal, said on *form*."""
    try:
        action()
    except (ApiError, CallflowError) as exc:
        return Answer.refusing(form, typed, exc)
    return None


def _no_such_page(here: Here) -> Response:
    """A form for a scope, queue, setting or language the line does not have: no page
    shows it, so its answer is a page saying so."""
    return page(
        here.request, here.context, here.person, "refused.html", status_code=404,
        why="bad_address",
    )  # fmt: skip


def _page(here: Here, template: str, path: str, answer: Answer, **values: Any) -> Response:
    """*template* with what every page here shows: the line's names and times, and the
    last form's answer."""
    rules = here.context.rules.current
    config, calendar = rules.config, rules.calendar

    def stamp(at: datetime | None) -> str:
        return "" if at is None else calendar.local(at).strftime("%Y-%m-%d %H:%M")

    return page(
        here.request, here.context, here.person, template, status_code=answer.status_code,
        self_path=path, answer=answer, stamp=stamp, one_day=timedelta(days=1),
        language_names={code: config.languages[code].name for code in config.language_order},
        queue_names={topic: config.queues[topic].names for topic in config.topic_order},
        **values,
    )  # fmt: skip


def _done(path: str, what: str) -> Response:
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joiner}done={what}", status_code=303)

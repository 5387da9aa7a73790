"""The admin API's live settings: the line changed while it runs, with every change kept.

``/admin/settings`` is the general form: any live key (:mod:`callflow.config.layers`)
set, removed (the file's value applies again), listed with where its value comes
from; its history, and the undo of any change. Beside it, the shapes people use:
a closure, special hours for a date, an emergency message per scope, a queue's
threshold — each only a key and a value built for the same one action
(:mod:`callflow.web.line_settings`), under the pages and the command line too.

A change that breaks a rule of ``callflow config check`` is 422 ``setting-refused``
with ``problems``, each naming the setting's key and the reason; nothing is stored.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, model_validator

from callflow.config.layers import LIVE_KEYS, QUEUE_KEYS
from callflow.http.bounds import MAX_BIGINT
from callflow.http.errors import ErrorBody
from callflow.store.line_settings import LONGEST_KEY, LineChangeView, history
from callflow.web import Context
from callflow.web import line_settings as line
from callflow.web.api.tokens import Admin
from callflow.web.errors import ERROR_RESPONSES, RefusedBody
from callflow.web.inputs import ChangeId, StrictBody
from callflow.web.line_view import Reading, Source

router = APIRouter(
    prefix="/admin",
    tags=["settings"],
    responses={
        **ERROR_RESPONSES,
        403: {"model": ErrorBody, "description": "The token is not an admin's."},
        409: {"model": ErrorBody, "description": "The app runs a configuration of no file."},
    },
)

REFUSED: dict[int | str, dict[str, Any]] = {
    422: {
        "model": RefusedBody,
        "description": "The change breaks a rule of `callflow config check` (each problem "
        "names the key and the reason), or the request is malformed; nothing was stored.",
    }
}
SHOWN_CHANGES = 50

Key = Annotated[
    str,
    Path(
        min_length=1,
        max_length=LONGEST_KEY,
        description=f"A live setting's key, as the file writes it: {', '.join(LIVE_KEYS)}.",
    ),
]
Text = Annotated[str, Field(min_length=1)]


class ChangeOut(BaseModel):
    """One change of a setting (or a request to read the file again: key ``file``)."""

    id: int
    at: datetime
    by: str
    key: str
    old: Any = Field(description="The stored value it replaced; null: the file's applied.")
    new: Any = Field(description="The value it stored; null: back to the file's.")
    undoes: int | None = Field(description="The change this one undid, if it is an undo.")

    @classmethod
    def of(cls, change: LineChangeView) -> ChangeOut:
        return cls(
            id=change.id,
            at=change.at,
            by=change.by,
            key=change.key,
            old=change.old_value,
            new=change.new_value,
            undoes=change.undoes,
        )


class SettingOut(BaseModel):
    """A live setting in force, and where its value comes from."""

    key: str
    value: Any = Field(description='As the file writes it: `"4m"`, `"2026-12-08T10:00:00"`.')
    source: Source = Field(
        description="`file` (the configuration the line started with, defaults included) or "
        "`stored` (a change: see change_id, by, at)."
    )
    change_id: int | None
    by: str | None
    at: datetime | None


class ValueIn(StrictBody):
    value: Any = Field(description='As the file would write it: 5, "4m", "serve", false.')


class ClosureIn(StrictBody):
    """Closed from ``start`` to ``end``, or all of ``date`` (the line's local time, no
    offset)."""

    start: datetime | None = None
    end: datetime | None = None
    date: dt.date | None = None
    reason: Text

    @model_validator(mode="after")
    def _one_form(self) -> ClosureIn:
        if (self.date is None) == (self.start is None or self.end is None):
            raise ValueError("give 'start' and 'end' (local times), or 'date' for a whole day")
        return self


class SpecialHoursIn(StrictBody):
    date: dt.date
    hours: list[str] = Field(
        description='Open hours such as `"09:00-12:00"` in place of the usual ones; [] closes '
        "the day."
    )
    reason: Text


class EmergencyIn(StrictBody):
    """An emergency message (fields as in the file's ``[emergency.<scope>]``)."""

    texts: dict[str, str] = Field(description="The message in every language of the line.")
    mode: Literal["serve", "callbacks_only", "close"] = "serve"
    after_hours_offer: bool = True
    start: datetime | None = Field(default=None, description="Local time; left out: now.")
    end: datetime | None = Field(default=None, description="Local time; left out: until removed.")


class ReloadOut(BaseModel):
    change_id: int
    detail: str


# -- the general form ------------------------------------------------------------------------


@router.get("/settings", summary="Every live setting in force, and where it comes from")
def settings(
    caller: Admin,
    context: Context,
    key: Annotated[str | None, Query(description="Only keys starting with this.")] = None,
) -> list[SettingOut]:
    found = Reading(context).settings()
    return [
        SettingOut(
            key=setting.key,
            value=setting.value,
            source=setting.source,
            change_id=setting.change.id if setting.change else None,
            by=setting.change.by if setting.change else None,
            at=setting.change.at if setting.change else None,
        )
        for setting in found
        if key is None or setting.key.startswith(key)
    ]


@router.get("/settings/history", summary="The latest changes first")
def changes(
    caller: Admin,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=500)] = SHOWN_CHANGES,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_BIGINT, description="Only changes older than this id.")
    ] = None,
    key: Annotated[
        str | None,
        Query(
            max_length=LONGEST_KEY,
            pattern="^[^\x00]*$",
            description="Only keys starting with this.",
        ),
    ] = None,
) -> list[ChangeOut]:
    with context.database.reading() as session:
        found = history(session, limit=limit, before=before, key_prefix=key)
    return [ChangeOut.of(change) for change in found]


@router.put("/settings/{key:path}", summary="Set a live setting", responses=REFUSED)
def set_setting(key: Key, body: ValueIn, caller: Admin, context: Context) -> ChangeOut:
    return _changed(context, line.Setting(key, body.value), caller.name)


@router.delete(
    "/settings/{key:path}",
    summary="Remove a stored setting: the file's value applies again",
    responses={
        **REFUSED,
        404: {"model": ErrorBody, "description": "No stored setting has this key."},
    },
)
def remove_setting(key: Key, caller: Admin, context: Context) -> ChangeOut:
    return ChangeOut.of(line.remove(context, key, by=caller.name))


@router.post(
    "/settings/history/{change_id}/undo",
    summary="Undo a change: what it replaced is put back, as a change of its own",
    responses={**REFUSED, 404: {"model": ErrorBody, "description": "No such change."}},
)
def undo(change_id: ChangeId, caller: Admin, context: Context) -> ChangeOut:
    return ChangeOut.of(line.undo(context, change_id, by=caller.name))


@router.post(
    "/config/reload",
    summary="Read the configuration file again, in every running process",
    responses={
        422: {
            "model": RefusedBody,
            "description": "The file does not pass `callflow config check`: refused whole.",
        }
    },
)
def reload(caller: Admin, context: Context) -> ReloadOut:
    change_id = line.reload(context, by=caller.name)
    return ReloadOut(
        change_id=change_id,
        detail="the file passed every check; every running process reads it again within 2 s",
    )


# -- the shapes people use ---------------------------------------------------------------------


@router.post(
    "/calendar/closures",
    status_code=201,
    summary="Close the line from a time to a time, or for a whole day",
    responses=REFUSED,
)
def close(body: ClosureIn, caller: Admin, context: Context) -> ChangeOut:
    if body.date is not None:
        setting = line.day_closure(body.date, body.reason)
    else:
        assert body.start is not None and body.end is not None  # by ClosureIn's check
        setting = line.closure(body.start, body.end, body.reason)
    return _changed(context, setting, caller.name)


@router.post(
    "/calendar/special-hours",
    status_code=201,
    summary="Hours in place of the usual ones on a date (an extra opening, a short day)",
    responses=REFUSED,
)
def special_hours(body: SpecialHoursIn, caller: Admin, context: Context) -> ChangeOut:
    return _changed(context, line.special_hours(body.date, body.hours, body.reason), caller.name)


@router.put(
    "/emergency/{scope}",
    summary="Set an emergency message for the line (scope `line`) or a queue",
    responses=REFUSED,
)
def emergency_on(
    scope: Annotated[str, Path(max_length=LONGEST_KEY)],
    body: EmergencyIn,
    caller: Admin,
    context: Context,
) -> ChangeOut:
    setting = line.emergency(
        scope,
        body.texts,
        mode=body.mode,
        after_hours_offer=body.after_hours_offer,
        start=body.start or line.local_now(context),
        end=body.end,
    )
    return _changed(context, setting, caller.name)


@router.delete(
    "/emergency/{scope}",
    summary="Switch a stored emergency message off",
    responses={404: {"model": ErrorBody, "description": "The scope has no stored message."}},
)
def emergency_off(
    scope: Annotated[str, Path(max_length=LONGEST_KEY)], caller: Admin, context: Context
) -> ChangeOut:
    return ChangeOut.of(line.remove(context, line.emergency_key(scope), by=caller.name))


@router.put(
    "/queues/{queue}/{name}",
    summary=f"Set a queue's live setting: {', '.join(QUEUE_KEYS)}",
    responses=REFUSED,
)
def set_queue(
    queue: Annotated[str, Path(max_length=LONGEST_KEY)],
    name: Annotated[str, Path(max_length=LONGEST_KEY)],
    body: ValueIn,
    caller: Admin,
    context: Context,
) -> ChangeOut:
    return _changed(context, line.Setting(line.queue_key(queue, name), body.value), caller.name)


def _changed(context: Context, setting: line.Setting, by: str) -> ChangeOut:
    return ChangeOut.of(line.change(context, setting, by=by))

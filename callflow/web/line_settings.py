"""Changing the line while it runs, once for the admin API and the admin pages.

Every change here is one call of the line's rules (:class:`~callflow.service.rules.LineRules`,
``context.rules``), the same the command line makes: checked by the rules of
``callflow config check`` over the file with every stored setting laid on it,
stored with who made it and when, in force in this process at once and in every
other within seconds. A change that breaks a rule raises
:class:`~callflow.errors.SettingRefused` naming the setting's key and the reason;
nothing is stored. The API answers it as JSON, the pages beside the form.

The convenient shapes (a closure, special hours for a date, an emergency message)
are built into a setting's key and value by :mod:`callflow.config.live_keys`, as the
command line builds them, so no two faces can disagree on a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog

from callflow.config.live_keys import (
    Setting,
    closure,
    day_closure,
    emergency,
    emergency_key,
    prompt_key,
    queue_key,
    special_hours,
)
from callflow.config.load import checked, read_file
from callflow.http.errors import ApiError
from callflow.store.line_settings import LineChangeView
from callflow.web import WebContext
from callflow.web.inputs import holds_nul

log = structlog.get_logger("callflow.web")

__all__ = [  # the shapes, offered with the actions to the API and the pages
    "Setting",
    "change",
    "closure",
    "day_closure",
    "emergency",
    "emergency_key",
    "prompt_key",
    "queue_key",
    "special_hours",
]

FIXED = (
    "this app runs a configuration read from no file, so nothing can be changed while it "
    "runs; start it with --config FILE"
)


def local_now(context: WebContext) -> datetime:
    """Now on the line's wall clock, to the minute: a form's default start."""
    now = context.rules.calendar.local(context.clock.now())
    return now.replace(tzinfo=None, second=0, microsecond=0)


def raw_file(context: WebContext) -> Mapping[str, Any]:
    """The file the rules in force are laid over; 409 when the app has none (its
    configuration was not read from a file, so nothing can be changed)."""
    try:
        return context.rules.raw_file
    except RuntimeError:
        raise ApiError(409, "settings-fixed", FIXED) from None


# -- the actions -------------------------------------------------------------------------


def change(context: WebContext, setting: Setting, *, by: str) -> LineChangeView:
    """Store *setting* and put it in force; :class:`SettingRefused` when it breaks a rule.
    A value of None takes the stored setting away (the file's value applies again): 404
    when there is none, as there is nothing to take away."""
    raw_file(context)
    if holds_nul(setting.value):  # no database keeps it; every other rule is the checks'
        raise ApiError(
            422, "invalid-request", f"{setting.key}: the NUL character is not allowed; remove it"
        )
    if setting.value is None and setting.key not in context.rules.stored:
        raise ApiError(
            404,
            "setting-not-stored",
            f"{setting.key!r} has no stored setting to remove; GET /admin/settings lists them",
        )
    done = context.rules.change(setting.key, setting.value, by=by, now=context.clock.now())
    log.info("line.changed", key=setting.key, change_id=done.id, by=by)
    return done


def remove(context: WebContext, key: str, *, by: str) -> LineChangeView:
    """The stored setting *key* taken away: the file's value (or none) applies again."""
    return change(context, Setting(key, None), by=by)


def undo(context: WebContext, change_id: int, *, by: str) -> LineChangeView:
    """Put back what change *change_id* replaced, as a change of its own."""
    raw_file(context)
    done = context.rules.undo(change_id, by=by, now=context.clock.now())
    log.info("line.undone", key=done.key, change_id=done.id, undoes=change_id, by=by)
    return done


def reload(context: WebContext, *, by: str) -> int:
    """Ask every process to read its configuration file again, once this process's file
    passes every check with the stored settings over it: a broken file is refused whole
    (:class:`~callflow.errors.ConfigError` with every problem) and nothing is asked.
    The request's change id."""
    raw_file(context)
    source = context.config.source
    assert source is not None  # rules with a file were read from one
    checked(source, read_file(source), context.rules.stored)
    change_id = context.rules.request_reload(by=by, now=context.clock.now())
    log.info("line.reload_requested", change_id=change_id, file=str(source), by=by)
    return change_id

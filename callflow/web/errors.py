"""How the API says no: every refusal is JSON ``{"error": slug, "detail": message}``; a
refused change of the line's settings (or a configuration file refused whole) adds
``problems``, each naming the setting's key, the value and the reason, as ``callflow
config check`` lists them.

This is the one place that decides which HTTP status each callflow error
becomes, so routes simply let the store's errors rise. Details go through
:func:`~callflow.values.numbers.mask_numbers_in`: an echoed request value or a database message can
hold a resident's number, and only the assigned advisor's own assignment may
show one. Validation messages name the field and say what is allowed, since
pydantic's own words ("Extra inputs are not permitted") name neither.

An answer never carries back what it got in bulk: an echoed value is cut
(:func:`~callflow.http.errors.shown`), a secret's value is never echoed, and a
detail is cut (:func:`~callflow.http.errors.error_response`, the shape the
providers' webhooks answer in too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callflow.errors import (
    MISSING,
    AdvisorDisabled,
    AssignmentError,
    CallbackClosed,
    CallflowError,
    ConfigError,
    DuplicatePendingCallback,
    LeaseLost,
    NotYourAssignment,
    Problem,
    StoreError,
    UnknownAdvisor,
    UnknownCallback,
    UnknownChange,
)
from callflow.http.errors import MAX_SHOWN, ApiError, ErrorBody, error_response, shown
from callflow.values.numbers import mask_numbers_in

log = structlog.get_logger("callflow.web")

INVALID_REQUEST = "invalid-request"

STATUS_OF: Mapping[type[CallflowError], int] = {
    UnknownAdvisor: 404,
    UnknownCallback: 404,
    UnknownChange: 404,
    ConfigError: 422,  # SettingRefused, and a configuration file refused whole
    NotYourAssignment: 403,
    AssignmentError: 409,  # AdvisorBusy, OutcomeNotAllowed
    AdvisorDisabled: 409,
    CallbackClosed: 409,
    DuplicatePendingCallback: 409,
    LeaseLost: 409,
    StoreError: 503,  # anything else from the store: the database refused or is away
}
"""HTTP status per error class; an error takes the entry of its nearest listed ancestor."""

UNAVAILABLE = "the database is not available; try again shortly"

MAX_DESCRIBED = 5
"""Validation errors described in one answer; the rest are counted."""
MAX_PROBLEMS = 50
"""Problems of a refused setting or file listed in one answer; the detail counts them all."""
SECRET_WORDS = ("token", "password", "secret", "authorization")
"""A field whose name holds one of these is never echoed."""


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or not a valid one."},
    422: {"model": ErrorBody, "description": "The request names a field wrongly or misses one."},
    503: {"model": ErrorBody, "description": "The database is not available."},
}
"""Documented on every authenticated router, so the OpenAPI schema shows the real shape."""


class ProblemOut(BaseModel):
    """One reason a change of a setting (or a file) was refused."""

    key: str
    """The setting's key, down to the field at fault: ``calendar.closures.2026-12-08T10:00.end``."""
    value: str | None
    """What was found there, as text (cut); null when it was missing."""
    reason: str


class RefusedBody(ErrorBody):
    """A refused change of the line's settings: every problem, named by its key."""

    problems: list[ProblemOut]


def _problem_out(problem: Problem) -> ProblemOut:
    """*problem* as the API shows it: numbers masked (first: a cut number could escape the
    mask) and its value cut, like any echo."""
    value = problem.value
    text = None
    if value is not MISSING:
        text = mask_numbers_in(value if isinstance(value, str) else repr(value))
        text = text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 1]}…"
    return ProblemOut(key=problem.path, value=text, reason=mask_numbers_in(problem.allowed))


def not_allowed_value(field: str, value: str, allowed: Iterable[str], what: str) -> ApiError:
    """422 for a value only the configuration can judge (a skill, a language, a queue)."""
    return ApiError(
        422,
        INVALID_REQUEST,
        f"{field}: {shown(value)} is not {what} on this line; use one of: {', '.join(allowed)}",
    )


def install_error_handling(app: FastAPI) -> None:
    for kind in (ApiError, CallflowError, RequestValidationError, HTTPException):
        app.add_exception_handler(kind, answer)
    app.add_middleware(CrashesAsJson)


async def answer(request: Request, exc: Exception) -> JSONResponse:
    """The API's JSON answer to *exc*."""
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.slug, str(exc.detail), exc.headers)
    if isinstance(exc, RequestValidationError):
        return error_response(422, INVALID_REQUEST, describe_validation(exc.errors()))
    if isinstance(exc, HTTPException):
        slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
        return error_response(exc.status_code, slug, str(exc.detail), exc.headers)
    assert isinstance(exc, CallflowError)
    status_code = status_of(exc)
    detail = str(exc)
    if isinstance(exc, ConfigError):
        return _refused(status_code, exc)
    if status_code >= 500:
        log.warning("web.refused", path=request.url.path, slug=exc.slug, error=detail)
        if status_code == 503:
            detail = UNAVAILABLE  # the real message names the database's host
    return error_response(status_code, exc.slug, detail)


def _refused(status_code: int, exc: ConfigError) -> JSONResponse:
    """The usual answer, with :class:`RefusedBody`'s ``problems``."""
    plain = json.loads(bytes(error_response(status_code, exc.slug, str(exc)).body))
    problems = [_problem_out(problem) for problem in exc.problems[:MAX_PROBLEMS]]
    body = RefusedBody(**plain, problems=problems)
    return JSONResponse(body.model_dump(), status_code=status_code)


def status_of(exc: CallflowError) -> int:
    """The HTTP status of *exc*, by :data:`STATUS_OF` (500 for one it does not list)."""
    for kind in type(exc).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 500


def describe_validation(errors: Sequence[Any]) -> str:
    """Pydantic's errors as one sentence per field: where, what came, what is allowed.

    Only the first few are described: a list of a thousand bad items is one mistake."""
    described = [_describe(error) for error in errors[:MAX_DESCRIBED]]
    if len(errors) > MAX_DESCRIBED:
        described.append(f"and {len(errors) - MAX_DESCRIBED} more")
    return "; ".join(described)


def _describe(error: Mapping[str, Any]) -> str:
    where = _field(error["loc"])
    kind = error["type"]
    context = error.get("ctx") or {}
    secret = any(word in where.lower() for word in SECRET_WORDS)
    if kind == "missing":
        problem = "is required" if where else "a JSON body is required"
    elif kind in ("enum", "literal_error"):
        problem = f"{'this' if secret else shown(error['input'])} is not allowed; "
        problem += f"use {context['expected']}"
    elif kind == "value_error":
        problem = str(context.get("error", error["msg"]))
    else:
        message = str(error["msg"])
        problem = message[:1].lower() + message[1:]
        if not secret and not isinstance(error.get("input"), dict | list):
            problem += f" (got {shown(error.get('input'))})"
    return f"{where}: {problem}" if where else problem


def _field(loc: Sequence[str | int]) -> str:
    """``("body", "skills", 1)`` → ``skills[1]``; a query or path parameter says so."""
    source, *path = loc
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    if source in ("query", "path", "header") and name:
        return f"{source} parameter {name}"
    return name


class CrashesAsJson:
    """The last word on an unexpected exception: logged through structlog, which masks
    numbers, and answered as JSON. Left to the server, the traceback would be printed
    as it is, and a database error's message can carry a number among its parameters."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("web.failed", path=scope.get("path"))
            if not started:
                answer = error_response(
                    500, "internal-error", "the server failed; the error is in its log"
                )
                await answer(scope, receive, send)

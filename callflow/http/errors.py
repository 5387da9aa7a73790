"""The one shape of a refusal: JSON ``{"error": slug, "detail": message}``.

The API and the providers' webhooks both answer in it, so a client (or
Twilio's debugger) reads every refusal the same way. A detail goes through
:func:`mask_numbers_in` (an echoed value or a database message can hold a
resident's number) and is cut at :data:`MAX_DETAIL`, so a megabyte of input
does not come back as a megabyte of error.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from callflow.values.numbers import mask_numbers_in

MAX_SHOWN = 100
"""Characters of a value echoed back in an error; the rest is cut."""
MAX_DETAIL = 1000
"""Characters of an error's detail, however many values or errors it names."""


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str
    """A stable slug to match on, e.g. ``assignment-not-yours``."""
    detail: str
    """What went wrong and what to do, for a person."""


class ApiError(HTTPException):
    """A refusal of the HTTP side's own (authentication, roles, a name taken, a body too
    large), not the store's. An HTTP exception, so one raised while a body is read (by
    :class:`~callflow.http.limits.BodyLimit`) passes FastAPI's body parsing as it is."""

    def __init__(
        self,
        status_code: int,
        slug: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, dict(headers or {}))
        self.slug = slug


def error_response(
    status_code: int, slug: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    detail = mask_numbers_in(detail)  # first: a cut number could escape the mask
    if len(detail) > MAX_DETAIL:
        detail = f"{detail[: MAX_DETAIL - 1]}…"
    body = ErrorBody(error=slug, detail=detail)
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def shown(value: object) -> str:
    """*value* as an error echoes it: its ``repr``, cut at :data:`MAX_SHOWN` characters."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 1]}…"

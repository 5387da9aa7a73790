"""A refusal of an action, said on a page as the API would answer it.

The pages call the same actions as the API (:mod:`callflow.web.actions`); when one
says no, the page shows the API's words with the API's status, and the form
again. A failure of the line itself (the database away) is not a refusal to
show on a form: it goes on up to the app's own answer, which does not name the
database's host.
"""

from __future__ import annotations

from dataclasses import dataclass

from callflow.errors import CallflowError
from callflow.http.errors import ApiError
from callflow.values.numbers import mask_numbers_in
from callflow.web.errors import status_of


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal of an action, as the admin API would answer it."""

    status_code: int
    words: str

    @classmethod
    def of(cls, exc: ApiError | CallflowError) -> Refusal:
        """The API's status and words for *exc*; a failure of the line itself (the
        database away) is not a refusal to show on a form, and goes on up."""
        if isinstance(exc, ApiError):
            return cls(exc.status_code, mask_numbers_in(str(exc.detail)))
        status = status_of(exc)
        if status >= 500:
            raise exc
        return cls(status, mask_numbers_in(str(exc)))

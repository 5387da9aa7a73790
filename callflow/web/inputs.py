"""What the API accepts before a request reaches the store: ids the database can hold,
bodies with known fields only, text without NUL characters.

The bounds are the database's (:mod:`callflow.http.bounds`); a value past them is
the client's mistake, so it is refused here with a 422 naming the field, the
same on either database, instead of a 500 from deep inside the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, model_validator

from callflow.http.bounds import MAX_BIGINT, MAX_INTEGER, NUL
from callflow.http.errors import shown

AdvisorId = Annotated[int, Path(ge=1, le=MAX_INTEGER, description="An advisor's id.")]
CallbackId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="A callback request's id.")]
ChangeId = Annotated[
    int, Path(ge=1, le=MAX_BIGINT, description="A change's id, from the settings' history.")
]


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know, naming the ones it does, and
    NUL characters in any of its text."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in set(data) - set(cls.model_fields))
            if unknown:
                raise ValueError(
                    f"unknown field {', '.join(map(shown, unknown))}; "
                    f"the fields are: {', '.join(cls.model_fields)}"
                )
            with_nul = [name for name, value in data.items() if holds_nul(value)]
            if with_nul:
                raise ValueError(
                    f"{', '.join(with_nul)}: "
                    "the NUL character (\\u0000) is not allowed in text; remove it"
                )
        return data


def holds_nul(value: Any) -> bool:
    """Whether *value* holds a NUL character in any of its text, at any depth: neither
    database keeps one."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, list):
        return any(holds_nul(item) for item in value)
    if isinstance(value, dict):  # a setting's value, an emergency message's texts
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    return False

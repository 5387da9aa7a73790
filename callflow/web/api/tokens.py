"""Who is asking: ``Authorization: Bearer <token>`` names one enabled advisor.

A token is made for one advisor and shown once (``POST /admin/advisors``,
``POST /admin/advisors/{id}/token``, ``callflow advisors add``); the store
keeps only its hash. A missing or unknown token is 401 with
``WWW-Authenticate: Bearer``, as RFC 6750 asks; an advisor's token on an
admin route is 403. Disabling an advisor or issuing a new token ends the old
one at once, since every request looks the token up afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from callflow.http.errors import ApiError
from callflow.store.advisors import advisor_for_token
from callflow.web import Context

bearer = HTTPBearer(
    auto_error=False,  # its own refusal is not our error shape
    description="The advisor's API token, shown once when it is made.",
)


@dataclass(frozen=True, slots=True)
class Caller:
    """The advisor a request comes from."""

    advisor_id: int
    name: str
    admin: bool


def signed_in(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise _unauthenticated(
            "token-missing", "send your token as 'Authorization: Bearer <token>'"
        )
    with context.database.reading() as session:
        advisor = advisor_for_token(session, credentials.credentials)
        if advisor is None:
            raise _unauthenticated(
                "token-invalid", "this token is not valid: replaced by a newer one, or disabled"
            )
        return Caller(advisor.id, advisor.name, advisor.admin)


def admin_signed_in(caller: Annotated[Caller, Depends(signed_in)]) -> Caller:
    if not caller.admin:
        raise ApiError(403, "admin-only", "only an admin can do this")
    return caller


AnyAdvisor = Annotated[Caller, Depends(signed_in)]
Admin = Annotated[Caller, Depends(admin_signed_in)]


def _unauthenticated(slug: str, detail: str) -> ApiError:
    return ApiError(401, slug, detail, headers={"WWW-Authenticate": "Bearer"})

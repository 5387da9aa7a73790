"""A person using the pages, without a browser: cookies kept between requests, forms
posted with the CSRF token the page carried. (The real browser is in tests/web/browser.py.)"""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from callflow.store.advisors import register_advisor
from callflow.store.session import Database
from callflow.store.sign_ins import issue_password_link, set_password
from tests.store.helpers import T0
from tests.web.conftest import Api

PASSWORD = "correct horse battery"
_HIDDEN_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Visitor(Api):
    """One browser against *app*: its cookies kept, English asked for, no redirect
    followed by itself."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app, headers={"accept-language": "en"})

    def submit(self, page_url: str, action: str, fields: dict[str, str]) -> httpx.Response:
        """Post *fields* to *action* as the form on *page_url* would, with its CSRF token."""
        return self.post(action, data={"csrf": csrf_of(self.get(page_url)), **fields})

    def sign_in(self, name: str, password: str = PASSWORD, next: str = "/") -> httpx.Response:
        return self.submit(
            "/sign-in", "/sign-in", {"name": name, "password": password, "next": next}
        )


def csrf_of(page: httpx.Response) -> str:
    found = _HIDDEN_CSRF.search(page.text)
    assert found is not None, f"no CSRF field on {page.request.url}"
    return found.group(1)


def person(
    database: Database,
    name: str,
    *,
    skills: tuple[str, ...] = ("nurse",),
    languages: tuple[str, ...] = ("fi",),
    admin: bool = False,
    supervisor: bool = False,
    password: str = PASSWORD,
) -> int:
    """Someone registered with a password set through their link; their id."""
    with database.transaction() as session:
        advisor_id = register_advisor(
            session, name, skills, languages, T0, admin=admin, supervisor=supervisor
        )
        token = issue_password_link(session, advisor_id, T0)
        set_password(session, token, password, T0)
    return advisor_id

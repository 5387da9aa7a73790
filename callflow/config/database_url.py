"""Database URLs as a configuration gives them (the file, the environment, an option):
whether one can be read, and how to print one without its password. The store opens them;
the configuration checks them first, to say which setting was wrong."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from callflow.logging import HIDDEN, hide_passwords_in

URL_EXAMPLES = "sqlite:///data/callflow.sqlite3 or postgresql+psycopg://user@host:5432/callflow"


def printable_url(url: str) -> str:
    """*url* fit to print, its password shown as ``***``. In text no parser reads as a URL
    the password cannot be told apart, so all from the first ``:`` to the last ``@`` goes."""
    hidden = hide_passwords_in(url)
    if hidden != url or database_url_problem(url) is None:
        return hidden
    head, colon, rest = url.partition(":")
    if colon and "@" in rest:
        return f"{head}:{HIDDEN}@{rest.rpartition('@')[2]}"
    return url


def database_url_problem(url: str) -> str | None:
    """Why *url* cannot be read as a database URL and what one looks like, or None if it
    can. The parser's own exception is not passed on: its text may quote the URL, password
    and all."""
    try:
        make_url(url)
    except ArgumentError:
        why = "it is not a URL like dialect+driver://user@host:port/database"
    except ValueError:
        why = "its port is not a number"
    else:
        return None
    return f"{why}; use e.g. {URL_EXAMPLES}"

"""The line's HTTP side: one ASGI app (:func:`callflow.web.app.create_app`) for the pages
people use (:mod:`.pages`: sign-in, the desk, the wallboard, admin), the API beside them
(:mod:`.api`: advisor and admin, by token), ``/metrics`` and ``/health`` — and a
provider's webhooks, when it has any. What people do is :mod:`.actions`, once for both
faces; the live pages follow the store through :mod:`.live`.

Every router reaches the line's rules, database and clock through
:data:`Context`, a dependency reading what ``create_app`` stored on the app;
nothing is global, so a test builds an app on its own database and a
:class:`~callflow.engine.clock.FakeClock`. The rules are the ones in force
(:class:`~callflow.service.rules.LineRules`: the file with the settings admins
changed while the line runs), read afresh at each use, so a page shows a
change the moment it is made, here or in another process. Start with :mod:`.app`; how a refusal is
answered is :mod:`.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from callflow.config.models import HotlineConfig
from callflow.engine.clock import Clock
from callflow.service.rules import LineRules
from callflow.store.session import Database


@dataclass(frozen=True, slots=True)
class WebContext:
    """What a request is served with."""

    rules: LineRules
    database: Database
    clock: Clock

    @property
    def config(self) -> HotlineConfig:
        """The configuration in force now (take :attr:`rules` ``.current`` once where a
        configuration and its calendar must agree)."""
        return self.rules.config


def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.context
    return context


Context = Annotated[WebContext, Depends(web_context)]

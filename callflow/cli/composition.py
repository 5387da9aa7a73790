"""The composition root: the one place a line is put together from its configuration.

Here, and nowhere else, the configuration's ``[provider.*]`` sections choose
the line's telephony (:class:`~callflow.providers.port.Provider`): Twilio,
Asterisk, or — with neither — the simulator. The commands ask this module for
the line (its store, clock and provider), its HTTP apps and its callback
worker, and then run what they got without knowing which provider it is;
the HTTP app mounts whatever webhooks it is handed. A provider's package is
imported only once it is chosen, so a command does not wait for the others.

A line runs on the wall clock, except the simulated one that ``callflow serve``
runs: its time runs ``--speed`` times fast from ``--at``, and the web app beside
it reads that time too, so its board and desks show the simulated line's "now".
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callflow.cli.common import open_database, shown_url
from callflow.cli.http_server import Listening
from callflow.config.load import database_url as configured_url
from callflow.config.models import HotlineConfig
from callflow.engine.clock import Clock, SystemClock
from callflow.providers.port import Provider, Webhooks
from callflow.service.rules import LineRules, kept_current
from callflow.store.session import Database, OutageLog
from workers.jobs import JobContext
from workers.metrics import WorkerMetrics
from workers.scheduler import Worker


@dataclass(frozen=True, slots=True)
class Overrides:
    """What a command's options set over the configuration."""

    database_url: str | None = None
    verify_signatures: bool = True
    """Off only with ``--dev-unsigned-webhooks``."""
    speed: float = 1.0
    """The simulator's: simulated seconds per real second."""
    seed: int | None = None
    """The simulator's: the same seed, the same people."""
    start: datetime | None = None
    """The simulated line's first instant; None for now (or the next opening)."""


@dataclass(frozen=True, slots=True)
class Choice:
    """The provider the configuration chose, not yet built: what a command may ask of it
    is known before a port is bound or the database opened."""

    name: str
    simulated: bool
    """Simulated callers and advisors, on no carrier (no webhooks)."""
    webhooks: bool
    """Its carrier calls the line's HTTP app (signed webhooks)."""
    build: Callable[[LineRules, Database, Clock], Provider]
    """The provider on the line's rules, store and clock; the account's secrets are read from
    the environment then, and a missing one is a :class:`~callflow.errors.ConfigError`."""
    line_clock: Callable[[HotlineConfig], Clock] = lambda _config: SystemClock()
    """The clock of the line when this process runs it (``callflow serve``): the wall
    clock, or the simulated line's own time."""


def choose(config: HotlineConfig, overrides: Overrides) -> Choice:
    """The line's provider: ``[provider.twilio]``, ``[provider.ari]``, else the simulator."""
    name = config.provider.name
    if name == "twilio":
        return Choice(name, simulated=False, webhooks=True, build=_twilio(overrides))
    if name == "ari":
        return Choice(name, simulated=False, webhooks=False, build=_asterisk)
    return Choice(
        name,
        simulated=True,
        webhooks=False,
        build=_simulator(overrides),
        line_clock=_simulated_time(overrides),
    )


def _twilio(overrides: Overrides) -> Callable[[LineRules, Database, Clock], Provider]:
    def build(rules: LineRules, database: Database, clock: Clock) -> Provider:
        from callflow.providers.twilio.provider import TwilioProvider  # noqa: PLC0415
        from callflow.providers.twilio.settings import (  # noqa: PLC0415
            TwilioAccount,
            twilio_settings,
        )

        account = TwilioAccount.from_environment()
        verify = overrides.verify_signatures
        settings = twilio_settings(rules.config, account, verify_signatures=verify)
        return TwilioProvider(settings, database, clock, rules=rules)

    return build


def _asterisk(rules: LineRules, database: Database, clock: Clock) -> Provider:
    from callflow.providers.ari.provider import AriProvider  # noqa: PLC0415
    from callflow.providers.ari.settings import AriSettings  # noqa: PLC0415

    return AriProvider(AriSettings.from_environment(rules.config), database, clock, rules=rules)


def _simulator(overrides: Overrides) -> Callable[[LineRules, Database, Clock], Provider]:
    def build(rules: LineRules, database: Database, clock: Clock) -> Provider:
        from callflow.providers.sim.provider import SimulatedProvider  # noqa: PLC0415

        return SimulatedProvider(rules, database, clock, speed=overrides.speed, seed=overrides.seed)

    return build


def _simulated_time(overrides: Overrides) -> Callable[[HotlineConfig], Clock]:
    def clock(config: HotlineConfig) -> Clock:
        from callflow.providers.sim.provider import line_clock  # noqa: PLC0415

        return line_clock(config, SystemClock(), speed=overrides.speed, start=overrides.start)

    return clock


@dataclass(frozen=True, slots=True)
class Line:
    """The hotline put together: its store, its clock, and its provider."""

    config: HotlineConfig
    database: Database
    clock: Clock
    provider: Provider
    shown_database: str
    """The database's URL as the log may show it (no password)."""
    rules: LineRules
    """The rules in force: the file with the stored settings over it, kept current by
    :meth:`run` and by a worker."""

    def facts(self) -> Mapping[str, object]:
        """What the line's start and stop log about it."""
        return {
            "provider": self.provider.name,
            **self.provider.facts(),
            "database": self.shown_database,
        }

    def apps(self, listening: Listening) -> list[tuple[Any, socket.socket]]:
        """The line's HTTP app, with the provider's webhooks, on *listening*."""
        return _http_apps(
            self.rules, self.database, self.clock, self.provider.webhooks(), listening
        )

    async def run(self) -> None:
        """The provider's calls, until cancelled, under the rules in force: changes made in
        other processes heard, the file read again on ``SIGHUP``."""
        async with kept_current(self.rules, self.database, OutageLog(self.clock)):
            await self.provider.run()

    @asynccontextmanager
    async def worker(self, owner: str, metrics: WorkerMetrics) -> AsyncIterator[Worker]:
        """A callback worker calling through the provider's dialler, named *owner*, under
        the rules in force (kept current while it runs)."""
        async with (
            kept_current(self.rules, self.database, OutageLog(self.clock)),
            self.provider.dialling() as dialler,
        ):
            context = JobContext(self.rules, self.database, self.clock, owner)
            yield Worker(context, dialler, metrics=metrics)


@contextmanager
def open_line(
    config: HotlineConfig, choice: Choice, overrides: Overrides, *, running: bool = False
) -> Iterator[Line]:
    """The line on its database (migrated, queues mirrored), closed on leaving. *running*:
    this process runs the line (``callflow serve``), on the line's clock; else (a worker)
    it is on the wall clock."""
    database = open_database(config, overrides.database_url)
    try:
        clock = choice.line_clock(config) if running else SystemClock()
        rules = LineRules.load(config, database)
        provider = choice.build(rules, database, clock)
        shown = shown_url(configured_url(config, overrides.database_url))
        yield Line(config, database, clock, provider, shown, rules)
    finally:
        database.close()


@dataclass(frozen=True, slots=True)
class Web:
    """The line's HTTP apps without the line (``callflow web``), on its rules."""

    apps: list[tuple[Any, socket.socket]]
    rules: LineRules
    database: Database
    clock: Clock

    async def run(self) -> None:
        """Keep the rules current (other processes' changes, ``SIGHUP``) until cancelled."""
        async with kept_current(self.rules, self.database, OutageLog(self.clock)):
            await asyncio.Event().wait()


@contextmanager
def open_web(
    config: HotlineConfig, choice: Choice, overrides: Overrides, listening: Listening
) -> Iterator[Web]:
    """The line's HTTP apps on *listening*, without the line: only the webhooks of a
    provider whose carrier calls it over HTTP (an Asterisk line needs none, nor its
    password)."""
    database = open_database(config, overrides.database_url)
    try:
        clock = SystemClock()
        rules = LineRules.load(config, database)
        webhooks = choice.build(rules, database, clock).webhooks() if choice.webhooks else None
        yield Web(_http_apps(rules, database, clock, webhooks, listening), rules, database, clock)
    finally:
        database.close()


def _http_apps(
    rules: LineRules,
    database: Database,
    clock: Clock,
    webhooks: Webhooks | None,
    listening: Listening,
) -> list[tuple[Any, socket.socket]]:
    """The app (with *webhooks*) on its socket and, when ``[web]`` gives ``/metrics`` an
    address of its own, the metrics app on that one. The app serves under *rules*, which
    whoever runs it keeps current (``serve`` with its line; ``web`` below)."""
    # The web stack loads only here: the simulated line and the workers need not wait for it.
    from callflow.web.app import create_app, create_metrics_app  # noqa: PLC0415

    apps: list[tuple[Any, socket.socket]] = [
        (
            create_app(rules.config, database, clock=clock, webhooks=webhooks, rules=rules),
            listening.api,
        )
    ]
    if listening.metrics is not None:
        https = webhooks is not None and webhooks.https
        metrics = create_metrics_app(rules.config, database, clock=clock, https=https)
        apps.append((metrics, listening.metrics))
    return apps

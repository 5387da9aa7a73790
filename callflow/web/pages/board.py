"""The supervisor's wallboard: ``/board``, its live sections and ``/board.json``.

Per queue, how the line stands now and how today has gone
(:mod:`callflow.reports.board`, read from the store, so the same whichever process
carries the calls), in figures large enough to read across a room. ``?view=compact``
puts each queue on one row of a table; ``?queue=NAME`` shows one queue. Nothing on it
names a caller: the board has counts, waits and shares only.

Every open board is rendered again when the store changes and every few seconds
besides, since waits grow while nothing is written. Fifty boards woken by one commit
would each read the store; instead one :class:`BoardCache` per app reads it once for
them all (same change-feed version, within :data:`FRESH_FOR` of line time) and renders
each view once per language.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from callflow.config.models import HotlineConfig
from callflow.reports.board import Board, BoardReader, QueueBoard, TodayFigures
from callflow.store.session import Database
from callflow.web import Context, WebContext
from callflow.web.live import ChangeFeed
from callflow.web.pages.live import Sections, live_stream
from callflow.web.pages.people import Supervisor, current_person, path_of
from callflow.web.pages.rendering import page, page_values, render_fragment

router = APIRouter(include_in_schema=False)

View = Literal["full", "compact"]

FRESH_FOR = timedelta(milliseconds=250)
"""How long (line time) a board read serves every view, unless the store changed."""
NO_SCRIPT_REFRESH_S = 30
"""Without a script, the browser reloads the whole page this often."""

ADVISOR_STATES = (
    ("board_signed_in", "signed_in"),
    ("board_free", "free"),
    ("board_talking", "talking"),
    ("board_wrap_up", "wrap_up"),
    ("board_on_break", "on_break"),
)
"""(word, :class:`AdvisorCounts` field) for each thing an advisor may be doing, in order."""


@router.get("/board")
def board_page(
    request: Request,
    context: Context,
    person: Supervisor,
    view: View = "full",
    queue: str | None = None,
) -> Response:
    """The board as a page; without a script it reloads itself every
    :data:`NO_SCRIPT_REFRESH_S` seconds, with one it follows the live sections."""
    board = _cache(request, context).board(context.database, context.clock.now(), _version(request))
    missing = queue is not None and queue not in context.config.queues
    base = page_values(request, context, person)
    values = board_values(base, context.config, view, None if missing else queue)
    return page(
        request, context, person, "board.html", status_code=404 if missing else 200,
        **values, board=board, missing_queue=queue if missing else None,
        refresh_s=NO_SCRIPT_REFRESH_S, self_path=path_of(request),
        live_href=_href("/board/live", view, queue),
    )  # fmt: skip


@router.get("/board/live")
def board_live(
    request: Request,
    context: Context,
    person: Supervisor,
    view: View = "full",
    queue: str | None = None,
) -> Response:
    """The board's sections as server-sent events (:func:`live_stream`): on connecting,
    when the store changed, and every few seconds."""
    if queue is not None and queue not in context.config.queues:
        return Response(status_code=404)
    cache = _cache(request, context)

    def render() -> Sections | None:
        viewer = current_person(
            request, context, active=False
        )  # the session may have ended meanwhile
        if viewer is None or not viewer.sees_the_board:
            return None
        kept = cache.read(context.database, context.clock.now(), _version(request))
        values = page_values(request, context, viewer)
        values |= board_values(values, context.config, view, queue)
        return kept.sections(
            (values["locale"], view, queue), lambda: board_sections(kept.board, values)
        )

    return live_stream(request, render)


@router.get("/board.json")
def board_json(request: Request, context: Context, person: Supervisor) -> JSONResponse:
    """The board as plain JSON (:meth:`Board.as_dict`), for a TV app or a script."""
    board = _cache(request, context).board(context.database, context.clock.now(), _version(request))
    return JSONResponse(board.as_dict(), headers={"Cache-Control": "no-store"})


def board_sections(board: Board, values: dict[str, Any]) -> Sections:
    """Element id → inner HTML of each live part of the board page: the time it was read,
    and each shown queue's card (or row), with the whole line's when all are shown;
    *values* are the page's with :func:`board_values`."""
    view, shown = values["view"], values["shown_queue"]
    fragment = "board_row.html" if view == "compact" else "board_card.html"
    rows = [row for row in board.queues if shown in (None, row.name)]
    if shown is None:
        rows.append(board.line)
    sections = {"board-updated": render_fragment("board_updated.html", {**values, "board": board})}
    for row in rows:
        sections[values["section_id"](row)] = render_fragment(fragment, {**values, "row": row})
    return sections


def board_values(
    base: dict[str, Any], config: HotlineConfig, view: View, queue: str | None
) -> dict[str, Any]:
    """What the board's templates use besides the page's *base* values
    (:func:`page_values`): its ways of naming and formatting its figures, in the
    viewer's language."""
    t, span, locale = base["t"], base["span"], base["locale"]
    reports = config.reports

    def queue_title(name: str) -> str:
        names = config.queues[name].names
        return names.get(locale) or names.get(config.line.default_language) or name

    def section_id(row: QueueBoard) -> str:
        if view == "compact":
            return f"row-{row.name}" if row.name else "line-total-row"
        return f"queue-{row.name}" if row.name else "line-total"

    def percent(share: float | None) -> str:
        return "–" if share is None else t("board_percent", n=round(share * 100))

    def today_figures(today: TodayFigures) -> list[tuple[str, str]]:
        return [
            (t("board_offered"), str(today.offered)),
            (t("board_answered"), str(today.answered)),
            (t("board_abandoned"), str(today.abandoned)),
            (
                t("board_service_level", time=span(reports.service_level_within)),
                percent(today.service_level),
            ),
            (
                t("board_answered_immediately", time=span(reports.answered_immediately_within)),
                percent(today.answered_immediately_share),
            ),
            (t("board_callbacks_same_day"), percent(today.callbacks_same_day_share)),
            (t("board_callback_response"), span(today.callback_response_mean)),
        ]

    return {
        "view": view,
        "shown_queue": queue,
        "queue_title": queue_title,
        "language_name": lambda code: config.languages[code].name,
        "section_id": section_id,
        "board_href": lambda to_view, to_queue: _href("/board", to_view, to_queue),
        "advisor_states": ADVISOR_STATES,
        "today_figures": today_figures,
    }


@dataclass
class BoardRead:
    """One read of the board, and its sections as rendered for each (language, view,
    queue) asked for so far."""

    board: Board
    version: int | None
    rendered: dict[tuple[str, View, str | None], Sections] = field(default_factory=dict)

    def sections(
        self, key: tuple[str, View, str | None], render: Callable[[], Sections]
    ) -> Sections:
        found = self.rendered.get(key)
        if found is None:
            found = self.rendered[key] = render()
        return found


class BoardCache:
    """The last board read, shared by every board open on this app.

    A read serves until the change feed's version moves or :data:`FRESH_FOR` of line time
    passes; without a version (no feed) every read is fresh. Safe from several threads:
    boards woken together wait for one read. The :class:`BoardReader` inside keeps today's
    measures between reads.
    """

    def __init__(self, config: HotlineConfig) -> None:
        self.config = config
        self._reader = BoardReader(config)
        self._lock = threading.Lock()
        self._last: BoardRead | None = None

    def read(self, database: Database, now: datetime, version: int | None) -> BoardRead:
        """The board as of *now*, the store being at change *version*."""
        with self._lock:
            last = self._last
            if (
                last is None
                or version is None
                or last.version != version
                or not timedelta(0) <= now - last.board.at < FRESH_FOR
            ):
                last = self._last = BoardRead(self._reader.read(database, now), version)
            return last

    def board(self, database: Database, now: datetime, version: int | None) -> Board:
        return self.read(database, now, version).board


_creating = threading.Lock()


def _cache(request: Request, context: WebContext) -> BoardCache:
    """The app's :class:`BoardCache`, made on first use (and again for a new configuration)."""
    with _creating:
        cache: BoardCache | None = getattr(request.app.state, "board_cache", None)
        baseline = context.rules.baseline  # the reports count stored changes their own way
        if cache is None or cache.config is not baseline:
            cache = request.app.state.board_cache = BoardCache(baseline)
        return cache


def _version(request: Request) -> int | None:
    feed: ChangeFeed | None = getattr(request.app.state, "changes", None)
    return None if feed is None else feed.version


def _href(path: str, view: View, queue: str | None) -> str:
    """*path* asking for *view* of *queue* (all when None), the defaults left out."""
    query: dict[str, str] = {"view": view} if view != "full" else {}
    if queue is not None:
        query["queue"] = queue
    return path + (f"?{urlencode(query)}" if query else "")

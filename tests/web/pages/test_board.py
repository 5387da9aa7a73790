"""The supervisor's wallboard page: who may see it, what it shows, and its live sections.

The example configuration applies: health (nurse), social and other queues; fi, sv and
en. T0 is Monday 2026-01-12 10:00 in Helsinki. The live stream itself is driven in a
real browser (tests/web/browser.py); here its sections are rendered directly.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
import structlog
from fastapi import FastAPI, Request
from sqlalchemy import update

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.reports.board import read_board
from callflow.store.advisors import set_advisor_state
from callflow.store.models import Advisor, AdvisorState, CallbackRequest
from callflow.store.queue_places import take_place
from callflow.store.session import Database
from callflow.store.sign_ins import Person
from callflow.web.app import create_app
from callflow.web.pages.board import FRESH_FOR, BoardCache, View, board_sections, board_values
from callflow.web.pages.live import Sections
from callflow.web.pages.rendering import page_values
from tests.store.helpers import T0, add_callback
from tests.web.pages.browsing import Visitor, person

NUMBER = "+358401234567"
OTHER_NUMBER = "+358501112223"


@pytest.fixture
def app(config: HotlineConfig, database: Database, clock: FakeClock) -> FastAPI:
    return create_app(config, database, clock=clock)


@pytest.fixture
def supervisor(app: FastAPI, database: Database) -> Visitor:
    """Saara, a supervisor, signed in."""
    person(database, "saara", supervisor=True)
    visitor = Visitor(app)
    assert visitor.sign_in("saara").status_code == 303
    return visitor


def callers(database: Database, *waiting: tuple[str, str, str, datetime]) -> None:
    """Callers (call id, queue, language, entered) waiting in the queues."""
    with database.transaction() as session:
        for call_id, topic, language, entered in waiting:
            take_place(
                session, call_id, provider="sim", topic=topic, language=language, entered_at=entered
            )


def nurse_available(database: Database, name: str) -> None:
    advisor_id = person(database, name)
    with database.transaction() as session:
        set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, T0)


class _Texts(HTMLParser):
    """The text inside each element that has an id."""

    VOID = frozenset({"meta", "link", "input", "br", "img"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str | None] = []
        self.texts: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open.append(dict(attrs).get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        for element_id in self.open:
            if element_id is not None:
                self.texts.setdefault(element_id, []).append(data)


def text_of(html: str, element_id: str) -> str:
    """The text a person reads in the element *element_id* of *html*."""
    parser = _Texts()
    parser.feed(html)
    assert element_id in parser.texts, f"no #{element_id}"
    return " ".join("".join(parser.texts[element_id]).split())


class _Cells(HTMLParser):
    """The text of each cell, per table row that has an id, and the column headers of the
    compact board (its second header row)."""

    def __init__(self) -> None:
        super().__init__()
        self.row: str | None = None
        self.header_rows = 0
        self.cell: list[str] | None = None
        self.rows: dict[str, list[str]] = {}
        self.headers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.row = dict(attrs).get("id")
            self.header_rows += self.row is None
        elif tag in {"td", "th"}:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self.cell is not None:
            text = " ".join("".join(self.cell).split())
            if self.row is not None:
                self.rows.setdefault(self.row, []).append(text)
            elif self.header_rows == 2:
                self.headers.append(text)
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def cells_of(html: str, row_id: str) -> list[str]:
    parser = _Cells()
    parser.feed(html)
    return parser.rows[row_id]


def column_headers(html: str) -> list[str]:
    parser = _Cells()
    parser.feed(html)
    return parser.headers


def figure(html: str, element_id: str, label: str) -> str:
    """The figure under *label* in the element *element_id*."""
    found = re.search(rf"{re.escape(label)} (\S+(?: (?:min|s|%))?)", text_of(html, element_id))
    assert found is not None, f"no {label!r} in #{element_id}: {text_of(html, element_id)}"
    return found.group(1)


# -- who may see it --------------------------------------------------------------------------


def test_a_supervisor_sees_how_many_callers_wait_in_each_queue(
    database: Database, supervisor: Visitor
) -> None:
    callers(
        database,
        ("c1", "health", "fi", T0 - timedelta(minutes=4)),
        ("c2", "health", "sv", T0 - timedelta(minutes=1)),
        ("c3", "social", "fi", T0 - timedelta(seconds=30)),
    )
    nurse_available(database, "aino")

    board = supervisor.get("/board")

    assert board.status_code == 200
    assert figure(board.text, "queue-health", "Callers waiting") == "2"
    assert figure(board.text, "queue-health", "Longest wait now") == "4 min"
    assert figure(board.text, "queue-social", "Callers waiting") == "1"
    assert figure(board.text, "line-total", "Callers waiting") == "3"
    assert text_of(board.text, "queue-health").startswith("health matters Now ")
    assert text_of(board.text, "board-updated") == "Updated at 10:00:00"  # Helsinki time


def test_an_admin_sees_the_board_too(app: FastAPI, database: Database) -> None:
    person(database, "aila", admin=True)
    visitor = Visitor(app)
    visitor.sign_in("aila")
    assert visitor.get("/board").status_code == 200


def test_an_advisor_is_refused_the_board_and_its_data(app: FastAPI, database: Database) -> None:
    person(database, "aino")
    visitor = Visitor(app)
    visitor.sign_in("aino")
    for url in ("/board", "/board?view=compact", "/board.json", "/board/live"):
        assert visitor.get(url).status_code == 403, url


def test_a_signed_out_visitor_is_sent_to_sign_in(app: FastAPI) -> None:
    answer = Visitor(app).get("/board?view=compact")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=/board%3Fview%3Dcompact"


def test_a_live_stream_without_a_session_is_refused_for_the_script_to_sign_in(
    app: FastAPI,
) -> None:
    answer = Visitor(app).get("/board/live", headers={"accept": "text/event-stream"})
    assert answer.status_code == 401


# -- what it shows ---------------------------------------------------------------------------


def test_late_and_at_risk_callbacks_are_marked_by_more_than_colour(
    database: Database, supervisor: Visitor
) -> None:
    """Their figures are flagged (red, with ▲ from the style) under words that say so."""
    with database.transaction() as session:
        late = add_callback(session, NUMBER)
        at_risk = add_callback(session, OTHER_NUMBER)
        add_callback(session, "+358401234568")
        request = CallbackRequest
        session.execute(update(request).where(request.id == late).values(late=True))
        session.execute(update(request).where(request.id == at_risk).values(at_risk_at=T0))

    board = supervisor.get("/board").text

    assert figure(board, "queue-health", "Open") == "3"
    assert figure(board, "queue-health", "Late") == "1"
    assert figure(board, "queue-health", "At risk of missing the promise") == "1"
    for label in ("Late", "At risk of missing the promise"):
        assert "alert" in figure_classes(board, "queue-health", label)
        assert "alert" not in figure_classes(board, "queue-social", label)


def test_callers_waiting_with_nobody_signed_in_say_so(
    database: Database, supervisor: Visitor
) -> None:
    callers(database, ("c1", "other", "en", T0 - timedelta(minutes=2)))
    board = supervisor.get("/board").text
    assert "nobody signed in" in text_of(board, "queue-other")
    assert "nobody signed in" not in text_of(board, "queue-health")


def test_no_phone_number_appears_anywhere_on_the_board(
    database: Database, supervisor: Visitor
) -> None:
    with database.transaction() as session:
        add_callback(session, NUMBER)
        add_callback(session, OTHER_NUMBER, topic="social")
    callers(database, ("c1", "health", "fi", T0 - timedelta(minutes=1)))

    pages = [supervisor.get(url).text for url in ("/board", "/board?view=compact", "/board.json")]

    assert figure(pages[0], "line-total", "Open") == "2"  # the requests are counted …
    for text in pages:
        for number in (NUMBER, OTHER_NUMBER):
            national = "0" + number[4:]
            for digits in (number[1:], national, national[1:]):
                assert digits not in text.replace(" ", "")  # … but nobody is named


def test_the_json_holds_the_same_figures_as_the_store(
    database: Database, config: HotlineConfig, supervisor: Visitor
) -> None:
    callers(database, ("c1", "health", "fi", T0 - timedelta(minutes=3)))
    with database.transaction() as session:
        add_callback(session, NUMBER, topic="social")
    nurse_available(database, "aino")

    answer = supervisor.get("/board.json")

    assert answer.status_code == 200
    expected = json.loads(json.dumps(read_board(database, config, T0).as_dict()))
    assert answer.json() == expected
    assert answer.json()["queues"][0]["waiting"] == 1
    assert answer.json()["line"]["callbacks"]["open"] == 1


def test_queue_names_are_in_the_viewers_language(
    database: Database, config: HotlineConfig, supervisor: Visitor
) -> None:
    with database.transaction() as session:
        session.execute(update(Advisor).where(Advisor.name == "saara").values(locale="sv"))
    board = supervisor.get("/board").text
    assert config.queues["health"].names["sv"] in text_of(board, "queue-health")
    assert "Uppringare i kö" in text_of(board, "queue-health")


def test_the_compact_view_has_a_row_per_queue_and_the_line(
    database: Database, supervisor: Visitor
) -> None:
    """A social caller waits; only a nurse is signed in."""
    callers(database, ("c1", "social", "fi", T0 - timedelta(minutes=1)))
    nurse_available(database, "aino")
    board = supervisor.get("/board?view=compact")
    assert board.status_code == 200
    assert 'class="board compact"' in board.text
    columns = column_headers(board.text)
    rows = {
        row: dict(zip(columns, cells_of(board.text, row)[1:], strict=True))
        for row in ("row-health", "row-social", "row-other", "line-total-row")
    }
    assert rows["row-social"]["Callers waiting"] == "1 nobody signed in"
    assert rows["row-social"]["Longest wait now"] == "60 s"
    assert rows["row-health"]["Callers waiting"] == "0"
    assert rows["line-total-row"]["Callers waiting"] == "1"
    assert cells_of(board.text, "line-total-row")[0] == "Whole line"


def test_one_queue_alone(database: Database, supervisor: Visitor) -> None:
    board = supervisor.get("/board?queue=social").text
    assert text_of(board, "queue-social")
    assert 'id="queue-health"' not in board and 'id="line-total"' not in board
    assert 'data-live="/board/live?queue=social"' in board  # the stream sends that queue's


def test_an_unknown_queue_is_not_found_and_says_so(supervisor: Visitor) -> None:
    answer = supervisor.get("/board?queue=nosuch")
    assert answer.status_code == 404
    assert "There is no queue “nosuch”." in answer.text


def test_without_a_script_the_page_reloads_itself(supervisor: Visitor) -> None:
    board = supervisor.get("/board").text
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in board
    assert 'data-live="/board/live"' in board


# -- live sections ---------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["full", "compact"])
def test_the_live_sections_are_what_the_page_holds(
    database: Database, config: HotlineConfig, supervisor: Visitor, view: View
) -> None:
    """Replacing the page's sections with the stream's leaves the page as a fresh load
    would make it."""
    callers(database, ("c1", "health", "fi", T0 - timedelta(minutes=2)))
    page = supervisor.get(f"/board?view={view}").text
    sections = _sections(supervisor.app, config, view)
    prefix = "row-" if view == "compact" else "queue-"
    line = "line-total-row" if view == "compact" else "line-total"
    expected = {"board-updated", line, *(prefix + name for name in config.queues)}
    assert set(sections) == expected
    for element_id, html in sections.items():
        assert " ".join(_plain(html).split()) == text_of(page, element_id)


def test_the_board_is_read_once_for_every_view_until_the_store_changes(
    database: Database, config: HotlineConfig
) -> None:
    """Boards woken by the same change share one read; a later change, or time passing,
    makes a new one."""
    cache = BoardCache(config)
    first = cache.board(database, T0, version=1)
    callers(database, ("c1", "health", "fi", T0))

    assert cache.board(database, T0 + FRESH_FOR / 2, version=1) is first
    assert cache.board(database, T0 + FRESH_FOR / 2, version=2).queues[0].waiting == 1
    assert cache.board(database, T0 + 2 * FRESH_FOR, version=2).at == T0 + 2 * FRESH_FOR
    assert cache.board(database, T0, version=None) is not cache.board(database, T0, None)


def _sections(app: FastAPI, config: HotlineConfig, view: View) -> Sections:
    """The live sections as the stream would send them to an English-speaking supervisor."""
    viewer = Person(
        advisor_id=1,
        name="saara",
        admin=False,
        supervisor=True,
        locale="en",
        csrf_token="-",
        last_seen_at=T0,
    )
    values = page_values(Request({"type": "http", "headers": []}), app.state.context, viewer)
    values |= board_values(values, config, view, None)
    return board_sections(read_board(app.state.context.database, config, T0), values)


def _plain(html: str) -> str:
    parser = _Texts()
    parser.feed(f'<div id="x">{html}</div>')
    return "".join(parser.texts.get("x", []))


def figure_classes(html: str, element_id: str, label: str) -> set[str]:
    """The classes of the figure under *label* in the element *element_id*."""
    start = html.index(f'id="{element_id}"')
    found = re.compile(rf'>{re.escape(label)}</dt>\s*<dd class="([^"]*)"').search(html, start)
    assert found is not None, f"no {label!r} in #{element_id}"
    return set(found.group(1).split())


def test_a_closure_stored_while_boards_are_open_does_not_rebuild_the_reports(
    app: FastAPI, supervisor: Visitor, clock: FakeClock
) -> None:
    """The board's today figures come from the roll-up, which counts a stored calendar
    change from when it was made: storing one must not rebuild it (a month of events
    folded again, under every open board)."""
    assert supervisor.get("/board").status_code == 200
    rules = app.state.context.rules
    closure = {"start": "2026-01-12T10:30:00", "end": "2026-01-12T11:00:00", "reason": "Meeting"}
    rules.change("calendar.closures.2026-01-12T10:30", closure, by="saara", now=clock.now())
    clock.advance(FRESH_FOR * 2)
    with structlog.testing.capture_logs() as logs:
        assert supervisor.get("/board").status_code == 200
    assert "report.rollup_rebuilt" not in [entry["event"] for entry in logs]

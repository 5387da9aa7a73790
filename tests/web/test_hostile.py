"""A hostile client at the API, on both databases: bodies are limited before they are read,
errors never echo bulk or secrets, and ids or text the database cannot hold are a 4xx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from callflow.config.models import HotlineConfig, WebConfig
from callflow.engine.clock import FakeClock
from callflow.store.session import Database
from callflow.web.app import create_app
from callflow.web.errors import describe_validation
from tests.store.helpers import number
from tests.web.conftest import Api, Someone, assign, snapshot

pytestmark = pytest.mark.slow_on_postgresql

CHUNK = 65_536
NEW_ADVISOR = {"name": "Eve", "skills": ["nurse"], "languages": ["fi"]}


@dataclass
class Stream:
    """A JSON body sent in chunks as the server asks for them, counting what it took."""

    size: int
    taken: int = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b'{"name": "'
        while self.taken < self.size:
            self.taken += CHUNK
            yield b"x" * CHUNK


def post_stream(client: Api, stream: Stream, headers: dict[str, str]) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as http:
            return await http.post(
                "/admin/advisors",
                content=stream.chunks(),
                headers={"Content-Type": "application/json", **headers},
            )

    return asyncio.run(send())


class TestBodiesAreLimitedBeforeTheyAreRead:
    def test_a_declared_length_past_the_limit_is_refused_unread(self, client: Api) -> None:
        """The 60 MB body sent without a token was parsed before its 401 (315 MB of memory)."""
        stream = Stream(60_000_000)
        answer = post_stream(client, stream, {"Content-Length": str(stream.size)})
        assert answer.status_code == 413
        assert answer.json() == {
            "error": "body-too-large",
            "detail": "the request body is larger than this server takes (1048576 bytes)",
        }
        assert stream.taken == 0

    def test_a_body_without_a_length_is_cut_off_at_the_limit(
        self, client: Api, admin: Someone
    ) -> None:
        stream = Stream(30_000_000)
        answer = post_stream(client, stream, admin.auth)
        assert answer.status_code == 413
        assert answer.json()["error"] == "body-too-large"
        assert stream.taken <= 1_048_576 + CHUNK

    def test_the_limit_is_configurable(
        self, config: HotlineConfig, database: Database, clock: FakeClock, admin: Someone
    ) -> None:
        small = config.model_copy(update={"web": WebConfig(max_body=2048)})
        client = Api(create_app(small, database, clock=clock))
        refused = client.post("/admin/advisors", headers=admin.auth, json={"name": "x" * 3000})
        taken = client.post("/admin/advisors", headers=admin.auth, json=NEW_ADVISOR)
        assert refused.status_code == 413
        assert taken.status_code == 201


class TestErrorsDoNotEchoBulk:
    def test_a_megabyte_name_comes_back_cut(
        self, client: Api, database: Database, admin: Someone
    ) -> None:
        before = snapshot(database)
        answer = client.post(
            "/admin/advisors", headers=admin.auth, json={**NEW_ADVISOR, "name": "x" * 1_000_000}
        )
        assert answer.status_code == 422
        assert len(answer.content) < 400
        detail = answer.json()["detail"]
        assert detail.startswith("name: string should have at most 100 characters (got 'xxx")
        assert detail.endswith("…)")
        assert snapshot(database) == before

    def test_a_thousand_bad_items_make_one_short_answer(self, client: Api, admin: Someone) -> None:
        bad = {"skills": [12345] * 1000}
        answer = client.put(f"/admin/advisors/{admin.id}/skills", headers=admin.auth, json=bad)
        assert answer.status_code == 422
        detail = answer.json()["detail"]
        assert detail.startswith("skills[0]: input should be a valid string (got 12345); ")
        assert detail.endswith("; and 995 more")

    def test_many_unknown_fields_make_one_short_answer(self, client: Api, admin: Someone) -> None:
        bloated = {**NEW_ADVISOR, **{f"field{i}" * 50: 1 for i in range(2000)}}
        answer = client.post("/admin/advisors", headers=admin.auth, json=bloated)
        assert answer.status_code == 422
        assert answer.json()["detail"].startswith("unknown field 'field0")
        assert len(answer.content) < 1100, "a thousand characters of detail at most"

    def test_a_secret_field_is_never_echoed(self) -> None:
        """No body takes a secret today; the rule stands for the first one that does."""
        error = {
            "loc": ("body", "token"),
            "type": "string_too_long",
            "msg": "String should have at most 64 characters",
            "input": "s3cret-value",
        }
        assert describe_validation([error]) == "token: string should have at most 64 characters"


ADVISOR_ID_CALLS: list[tuple[str, str, object]] = [
    ("PUT", "/admin/advisors/{id}/skills", {"skills": ["nurse"]}),
    ("POST", "/admin/advisors/{id}/disable", None),
    ("POST", "/admin/advisors/{id}/token", None),
    ("POST", "/admin/advisors/{id}/state", {"state": "break"}),
]
CALLBACK_ID_CALLS: list[tuple[str, str, object]] = [
    ("GET", "/admin/callbacks/{id}", None),
    ("POST", "/admin/callbacks/{id}/cancel", None),
    ("GET", "/advisor/assignment/{id}", None),
    ("POST", "/advisor/assignment/{id}/outcome", {"result": "no_answer"}),
]


class TestIdsTheDatabaseCannotHold:
    @pytest.mark.parametrize(("method", "path", "body"), ADVISOR_ID_CALLS + CALLBACK_ID_CALLS)
    @pytest.mark.parametrize("given", [2**63, 2**64, 0, -1])
    def test_an_id_out_of_range_is_422(
        self, client: Api, admin: Someone, method: str, path: str, body: object, given: int
    ) -> None:
        answer = client.request(method, path.format(id=given), headers=admin.auth, json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "invalid-request"
        assert answer.json()["detail"].startswith("path parameter ")

    @pytest.mark.parametrize(("method", "path", "body"), ADVISOR_ID_CALLS)
    def test_an_advisor_id_past_integer_is_422(
        self, client: Api, admin: Someone, method: str, path: str, body: object
    ) -> None:
        """Advisors' ids are an INTEGER column: past 2**31 PostgreSQL refuses to compare."""
        answer = client.request(method, path.format(id=2**31), headers=admin.auth, json=body)
        assert answer.status_code == 422, answer.text
        assert "advisor_id: input should be less than or equal to 2147483647" in answer.text

    def test_the_largest_callback_id_is_simply_not_found(self, client: Api, admin: Someone) -> None:
        answer = client.get(f"/admin/callbacks/{2**63 - 1}", headers=admin.auth)
        assert answer.status_code == 404


class TestNulCharacters:
    """PostgreSQL refuses a NUL in text (a 500 before); SQLite would store it. Both: 422."""

    @pytest.mark.parametrize(
        ("change", "named"),
        [
            ({"name": "Eve\x00"}, "name"),
            ({"dial_string": "PJSIP/eve\x00"}, "dial_string"),
            ({"skills": ["nurse", "nur\x00se"]}, "skills"),
        ],
    )
    def test_in_a_new_advisor(
        self,
        client: Api,
        database: Database,
        admin: Someone,
        change: dict[str, object],
        named: str,
    ) -> None:
        before = snapshot(database)
        answer = client.post("/admin/advisors", headers=admin.auth, json={**NEW_ADVISOR, **change})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"] == (
            f"{named}: the NUL character (\\u0000) is not allowed in text; remove it"
        )
        assert snapshot(database) == before

    def test_in_a_cancel_reason(
        self, client: Api, database: Database, admin: Someone, anna: Someone
    ) -> None:
        callback_id = assign(database, anna, number(1))
        before = snapshot(database)
        answer = client.post(
            f"/admin/callbacks/{callback_id}/cancel",
            headers=admin.auth,
            json={"reason": "duplicate\x00"},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith("reason: the NUL character")
        assert snapshot(database) == before

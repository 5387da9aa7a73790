"""Logs: phone numbers never leave the process whole, and every line about a call has its id."""

from __future__ import annotations

import io
import json
import traceback
from typing import Any

import pytest
import structlog

from callflow.logging import configure_logging, mask_phone_numbers

NUMBER = "+358401234567"
MASKED = "+*********567"


def masked(event: dict[str, Any]) -> dict[str, Any]:
    return dict(mask_phone_numbers(None, "info", event))


class TestProcessor:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (NUMBER, MASKED),
            ("0401234567", "*******567"),
            ("040 123 4567", "*** *** *567"),
            ("calling PJSIP/0401234567@trunk", "calling PJSIP/*******567@trunk"),
        ],
    )
    def test_top_level_values_are_masked(self, value: str, expected: str) -> None:
        """A number in any field keeps only its last three digits."""
        assert masked({"event": "dialling", "number": value}) == {
            "event": "dialling",
            "number": expected,
        }

    def test_the_event_message_itself_is_masked(self) -> None:
        """A number written into the message text is masked too."""
        assert masked({"event": f"callback stored for {NUMBER}"}) == {
            "event": f"callback stored for {MASKED}"
        }

    def test_nested_values_are_masked(self) -> None:
        """Numbers inside dicts and lists, at any depth, are masked."""
        event = {
            "event": "callback",
            "request": {"number": NUMBER, "tries": [{"to": "0401234567", "ok": False}]},
            "numbers": [NUMBER, "09 123 4567"],
            "pair": ("0501234567", 3),
        }
        assert masked(event) == {
            "event": "callback",
            "request": {"number": MASKED, "tries": [{"to": "*******567", "ok": False}]},
            "numbers": [MASKED, "** *** *567"],
            "pair": ["*******567", 3],
        }

    def test_formatted_exceptions_are_masked(self) -> None:
        """A traceback quoting a number keeps only its last three digits."""
        try:
            raise ValueError(f"cannot call {NUMBER}")
        except ValueError:
            exception = traceback.format_exc()
        assert NUMBER in exception
        out = masked({"event": "failed", "exception": exception})
        assert NUMBER not in out["exception"]
        assert f"ValueError: cannot call {MASKED}" in out["exception"]
        assert out["exception"].startswith("Traceback (most recent call last):")

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (
                "postgresql+psycopg://callflow:s3cret@db.example.fi:5432/callflow",
                "postgresql+psycopg://callflow:***@db.example.fi:5432/callflow",
            ),
            ("http://ari:s3cret@127.0.0.1:8088/ari", "http://ari:***@127.0.0.1:8088/ari"),
            (
                "postgresql://callflow@db.example.fi/callflow?password=s3cret&sslmode=require",
                "postgresql://callflow@db.example.fi/callflow?password=***&sslmode=require",
            ),
            ("connect postgresql://u:p@ss@db/x failed", "connect postgresql://u:***@db/x failed"),
            (
                "postgresql://callflow@db.example.fi/callflow",
                "postgresql://callflow@db.example.fi/callflow",
            ),
            (  # a port, and an @ later in the query: no password to hide
                "http://127.0.0.1:8088/ari/channels?endpoint=PJSIP/advisor-12@trunk",
                "http://127.0.0.1:8088/ari/channels?endpoint=PJSIP/advisor-12@trunk",
            ),
            ("http://ari:1234@127.0.0.1:8088/ari", "http://ari:***@127.0.0.1:8088/ari"),
        ],
    )
    def test_passwords_in_urls_are_hidden(self, value: str, expected: str) -> None:
        """A URL's password, in the authority or the query, becomes ***; the rest stays."""
        assert masked({"event": "connecting", "url": value}) == {
            "event": "connecting",
            "url": expected,
        }

    @pytest.mark.parametrize(
        "value",
        [
            "queue entered",
            "2026-01-12T08:00:00.123456Z",
            "2026-11-23T13:46:12.176+0000",
            "1795441572.3",
            "550e8400-e29b-41d4-a716-446655440000",
            "call-1",
            3,
            2.5,
            True,
            None,
        ],
    )
    def test_other_values_are_left_alone(self, value: Any) -> None:
        """Messages, timestamps, ids and plain numbers pass through unchanged."""
        assert masked({"event": "x", "value": value}) == {"event": "x", "value": value}


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestConfiguredLogging:
    def test_a_logged_number_is_masked_in_the_json_line(self) -> None:
        """number=+358401234567 comes out as a JSON line ending in 567, never whole."""
        stream = io.StringIO()
        configure_logging(json=True, stream=stream)
        structlog.get_logger().info("callback stored", number=NUMBER, callbacks_ahead=3)
        text = stream.getvalue()
        assert NUMBER not in text and "401234567" not in text
        (line,) = json_lines(stream)
        assert line["number"] == MASKED and line["number"].endswith("567")
        assert line["event"] == "callback stored"
        assert line["callbacks_ahead"] == 3
        assert line["level"] == "info"
        assert "timestamp" in line

    def test_an_exception_with_a_number_is_masked(self) -> None:
        """log.exception with a number in the error writes the traceback masked."""
        stream = io.StringIO()
        configure_logging(json=True, stream=stream)
        try:
            raise RuntimeError(f"dial PJSIP/{NUMBER}@trunk failed")
        except RuntimeError:
            structlog.get_logger().exception("dial failed")
        assert NUMBER not in stream.getvalue()
        (line,) = json_lines(stream)
        assert f"RuntimeError: dial PJSIP/{MASKED}@trunk failed" in line["exception"]

    def test_call_id_is_on_every_line_of_the_call(self) -> None:
        """Lines logged while a call is bound carry its call_id; lines after it do not."""
        stream = io.StringIO()
        configure_logging(json=True, stream=stream)
        log = structlog.get_logger()
        with structlog.contextvars.bound_contextvars(call_id="call-17"):
            log.info("call arrived")
            log.warning("input timeout", menu="language")
            log.info("callback stored", number=NUMBER)
        log.info("idle")
        lines = json_lines(stream)
        assert [line["event"] for line in lines] == [
            "call arrived",
            "input timeout",
            "callback stored",
            "idle",
        ]
        assert [line.get("call_id") for line in lines] == ["call-17"] * 3 + [None]

    def test_level_filters_lines(self) -> None:
        """At level warning, info lines are dropped."""
        stream = io.StringIO()
        configure_logging("warning", json=True, stream=stream)
        log = structlog.get_logger()
        log.info("chatty")
        log.warning("noteworthy")
        assert [line["event"] for line in json_lines(stream)] == ["noteworthy"]

    def test_console_lines_are_readable_and_masked(self) -> None:
        """json=False writes a human-readable line, not JSON, still masked."""
        stream = io.StringIO()
        configure_logging(json=False, stream=stream)
        with structlog.contextvars.bound_contextvars(call_id="call-17"):
            structlog.get_logger().info("callback stored", number=NUMBER)
        text = stream.getvalue()
        (line,) = text.splitlines()
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
        assert "callback stored" in line
        assert f"number={MASKED}" in line
        assert "call_id=call-17" in line
        assert NUMBER not in line
        assert "\x1b[" not in line  # no colour codes in a stream

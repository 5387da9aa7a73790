"""Logging: JSON lines in production, readable lines on a terminal, numbers always masked.

Masking is a processor in the chain, after exceptions are formatted, so no
code path can forget it: any phone-number-looking text in any value (nested
ones and tracebacks included) keeps only its last three digits, and the
password of any URL in it becomes ``***``. The call id
is bound with :func:`structlog.contextvars.bound_contextvars` while a call is
handled, so every line about a call carries it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from callflow.values.numbers import mask_numbers_in

LEVELS = ("debug", "info", "warning", "error")

HIDDEN = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^:/?#@\s]*:)(?!\d+(?:[/?#\s]|$))[^\s]*@")
"""``scheme://user:password@``; the password runs to the last ``@`` before a space, so a
password with an unescaped ``@`` (which no URL parser reads the same way) is hidden whole.
A port (``host:8088/…``) is no password, though an ``@`` comes later in the path or query
(``?endpoint=PJSIP/100@trunk``)."""
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#\s]*", re.IGNORECASE)


def hide_passwords_in(text: str) -> str:
    """*text* with the password of every URL in it (``user:password@`` or ``?password=``)
    replaced by ``***``; done on the text, so a URL no parser accepts is hidden too."""
    if "://" not in text:
        return text
    text = _URL_PASSWORD.sub(rf"\g<head>{HIDDEN}@", text)
    return _QUERY_PASSWORD.sub(rf"\g<head>{HIDDEN}", text)


def mask_phone_numbers(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace all but the last three digits of every phone number in the event, and every
    password in a URL."""
    return {key: _mask(value) for key, value in event_dict.items()}


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_numbers_in(hide_passwords_in(value))
    if isinstance(value, Mapping):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(v) for v in value]
    return value


def processors(*, json: bool) -> list[Processor]:
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_phone_numbers,
    ]
    if json:
        chain.append(structlog.processors.JSONRenderer())
    else:
        chain.append(structlog.dev.ConsoleRenderer(colors=False))
    return chain


def configure_logging(
    level: str = "info", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Set up structlog; *json* defaults to "not a terminal"."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    structlog.configure(
        processors=processors(json=json),
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )

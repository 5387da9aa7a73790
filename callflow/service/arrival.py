"""A call reaching the line: the caller ID as the carrier gives it, as the engine hears it.

Carriers write a withheld number in many ways (an empty field, ``anonymous``,
``restricted``, Twilio's ``+266696687`` that spells ANONYMOUS on a keypad).
One rule for every provider, so the event log (``call.arrived``) counts the
callers who withheld their number alike whichever provider carried the call;
such a caller, like one whose number cannot be called back, keys a number in
if they want a callback.
"""

from __future__ import annotations

from callflow.config.models import HotlineConfig
from callflow.engine.events import CallArrived
from callflow.values.numbers import check_callback_number

WITHHELD = frozenset(
    {"", "anonymous", "restricted", "unknown", "private", "blocked", "unavailable", "+266696687"}
)
"""Caller IDs that mean the number is withheld (compared without case, trimmed of blanks)."""


def call_arrived(caller_id: str, config: HotlineConfig) -> CallArrived:
    """The engine's event for a call from *caller_id*: its number if it can be called back
    (within the line's allowed regions), and whether the caller withheld it."""
    number = caller_id.strip()
    checked = check_callback_number(number, config.callbacks.allowed_regions)
    return CallArrived(checked.e164, withheld=number.lower() in WITHHELD)

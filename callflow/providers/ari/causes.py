"""Who ended a channel, by its Q.850 hang-up cause: a person, or the exchange.

A line the exchange lost is no person's choice: a caller's is a dropped call, not an
abandon, and a talk cut that way is never followed by the recommendation question. The
line's adapter and the callbacks' dialler both judge their channels by this one rule.
"""

from __future__ import annotations

import structlog

log = structlog.get_logger("callflow.ari")

EXCHANGE_FAULTS = frozenset({27, 34, 38, 41, 42, 44, 47, 102})
"""Q.850 hang-up causes that name a fault of the network or a carrier, not a person's choice
(102: a timer ran out, as when a trunk's media or session timer expires mid-call)."""
PERSON_CAUSES = frozenset({0, 16, 17, 18, 19, 21, 31})
"""Q.850 causes of a person hanging up (or of nobody known): nothing to remark on."""


def by_exchange(cause: int | None, soft: bool = False) -> bool:
    """Whether a hang-up names no person's choice: asked inside Asterisk (*soft*), or for a
    cause of the network or a carrier. An unfamiliar cause is logged, to be added here if
    it is a fault."""
    if soft or cause in EXCHANGE_FAULTS:
        return True
    if (cause or 0) not in PERSON_CAUSES:
        log.info("ari.hangup_cause_unfamiliar", cause=cause)
    return False

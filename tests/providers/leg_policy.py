"""The one rule for an advisor's leg that is over (:func:`callflow.store.advisors.
advisor_leg_ended`), as each provider's connector tests expect it: a refused or unanswered
phone puts the advisor on a break, a leg that ended without a talk frees them at once,
a talk starts their wrap-up."""

from __future__ import annotations

from datetime import datetime

from callflow.store.models import Advisor, AdvisorState
from callflow.store.session import Database

ON_A_BREAK = "on a break"
READY_NOW = "wrap-up over at once"
WRAPPING_UP = "wrapping up"

EXPECTED = {
    "refused": ON_A_BREAK,
    "busy": ON_A_BREAK,
    "not answered": ON_A_BREAK,
    "ended without a talk": READY_NOW,
    "provider out of reach": READY_NOW,
    "talked": WRAPPING_UP,
}
"""How each way a leg can end leaves the advisor, on every provider."""


def readiness(database: Database, advisor_id: int, now: datetime) -> str:
    """The advisor's state as the rule speaks of it, or the state's own name."""
    with database.reading() as session:
        advisor = session.get(Advisor, advisor_id)
        assert advisor is not None
        state, ready_at = advisor.state, advisor.ready_at
    if state is AdvisorState.BREAK:
        return ON_A_BREAK
    if state is AdvisorState.WRAP_UP and ready_at is not None:
        return READY_NOW if ready_at <= now else WRAPPING_UP
    return state.value

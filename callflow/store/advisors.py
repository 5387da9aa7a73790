"""Advisors in the store: who they are, which skills and languages they serve in.

The claim joins on these rows, so an advisor can only ever be given a
callback whose topic skill and language they have.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from callflow.store.models import Advisor, AdvisorLanguage, AdvisorSkill, AdvisorState


def register_advisor(
    session: Session,
    name: str,
    skills: Iterable[str],
    languages: Iterable[str],
    now: datetime,
    *,
    dial_string: str | None = None,
) -> int:
    """Add the advisor *name*, or bring an existing one's skills and languages up to date;
    returns the advisor's id."""
    advisor = session.scalars(select(Advisor).where(Advisor.name == name)).one_or_none()
    if advisor is None:
        advisor = Advisor(
            name=name,
            dial_string=dial_string,
            enabled=True,
            state=AdvisorState.OFFLINE,
            state_since=now,
            created_at=now,
        )
        session.add(advisor)
        session.flush()
    else:
        session.execute(delete(AdvisorSkill).where(AdvisorSkill.advisor_id == advisor.id))
        session.execute(delete(AdvisorLanguage).where(AdvisorLanguage.advisor_id == advisor.id))
    session.add_all(AdvisorSkill(advisor_id=advisor.id, skill=s) for s in sorted(set(skills)))
    session.add_all(
        AdvisorLanguage(advisor_id=advisor.id, language=code) for code in sorted(set(languages))
    )
    session.flush()
    return advisor.id

"""Event kinds for callback attempts and outcomes, and the advisor's outcome coding.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

The event log's ``kind`` is checked against a fixed list; this widens it.
SQLite cannot alter a CHECK constraint, so the table is rebuilt there
(Alembic's batch mode); PostgreSQL swaps the constraint in place.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BEFORE = (
    "call.arrived", "call.closed_hours", "call.language_chosen", "call.topic_chosen",
    "call.input_invalid", "call.input_timeout", "call.queue_entered", "call.queue_left",
    "call.position_announced", "call.callback_offered", "call.callback_withheld",
    "call.callback_declined", "call.callback_accepted", "call.number_rejected",
    "call.closing_time", "call.answered", "call.abandoned", "call.ended",
    "callback.requested", "callback.kept", "callback.cancelled", "callback.claimed",
)  # fmt: skip
ADDED = (
    "callback.dialled", "callback.attempt_ended", "callback.completed", "callback.failed",
    "callback.wrong_number", "callback.expired", "contact.coded",
)  # fmt: skip


def _replace_check(kinds: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("call_events") as batch:
        batch.drop_constraint(op.f("ck_call_events_event_kind"), type_="check")
        batch.create_check_constraint("event_kind", f"kind IN ({allowed})")


def upgrade() -> None:
    _replace_check(BEFORE + ADDED)


def downgrade() -> None:
    _replace_check(BEFORE)

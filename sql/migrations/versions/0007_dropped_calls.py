"""Calls the exchange or carrier dropped: their event kind, and their place in the roll-up.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

Self-contained like the earlier revisions. The event log's kinds widen by
``call.dropped`` (SQLite rebuilds the table to change the CHECK constraint).
The call facts learn when a call was dropped, the call cells count the dropped
calls and those of them that had entered a queue. The roll-up holds nothing
that cannot be derived again from the event log, so its call tables are
emptied before they widen (rows without the new counts would break NOT NULL)
and its watermark is forgotten: the next report rebuilds it. SQLite adds a
NOT NULL column without a default only by rebuilding the table. A downgrade
logs dropped calls as abandoned again, as they were before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BEFORE = (
    "call.arrived", "call.closed_hours", "call.language_chosen", "call.topic_chosen",
    "call.input_invalid", "call.input_timeout", "call.queue_entered", "call.queue_left",
    "call.position_announced", "call.callback_offered", "call.callback_withheld",
    "call.callback_declined", "call.callback_accepted", "call.number_rejected",
    "call.closing_time", "call.answered", "call.abandoned", "call.ended",
    "callback.requested", "callback.kept", "callback.cancelled", "callback.claimed",
    "callback.dialled", "callback.attempt_ended", "callback.completed", "callback.failed",
    "callback.wrong_number", "callback.expired", "contact.coded",
    "callback.lease_expired", "callback.at_risk", "callback.carried_over",
)  # fmt: skip
ADDED = ("call.dropped",)
CELL_COLUMNS = ("calls_dropped", "dropped_in_queue")


def _replace_check(kinds: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("call_events") as batch:
        batch.drop_constraint(op.f("ck_call_events_event_kind"), type_="check")
        batch.create_check_constraint("event_kind", f"kind IN ({allowed})")


def _forget_rollup() -> None:
    """The roll-up no longer matches the log: the next report rebuilds it from scratch."""
    op.execute("DELETE FROM report_state WHERE part = 'rollup'")


def _recreate() -> str:
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    _replace_check(BEFORE + ADDED)
    _forget_rollup()
    op.execute("DELETE FROM report_call_cells")  # rows without the new counts
    op.execute("DELETE FROM report_call_facts")
    with op.batch_alter_table("report_call_facts", recreate=_recreate()) as batch:
        batch.add_column(sa.Column("dropped_us", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("report_call_cells", recreate=_recreate()) as batch:
        for name in CELL_COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False))


def downgrade() -> None:
    # Before this revision a dropped call was logged as abandoned: so it becomes again.
    op.execute("UPDATE call_events SET kind = 'call.abandoned' WHERE kind = 'call.dropped'")
    _forget_rollup()
    with op.batch_alter_table("report_call_cells", recreate=_recreate()) as batch:
        for name in CELL_COLUMNS:
            batch.drop_column(name)
    with op.batch_alter_table("report_call_facts", recreate=_recreate()) as batch:
        batch.drop_column("dropped_us")
    _replace_check(BEFORE)

"""Dispatcher: advisor readiness and tokens, at-risk flags, the lease index, job runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Self-contained like the earlier revisions. The event log's kinds widen by the
dispatcher's own (a lease that ran out, a request at risk, one carried over
at closing); SQLite rebuilds the table to change the CHECK constraint.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
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
)  # fmt: skip
ADDED = ("callback.lease_expired", "callback.at_risk", "callback.carried_over")
UTC_DATETIME = sa.DateTime(timezone=True)


def _replace_check(kinds: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("call_events") as batch:
        batch.drop_constraint(op.f("ck_call_events_event_kind"), type_="check")
        batch.create_check_constraint("event_kind", f"kind IN ({allowed})")


def upgrade() -> None:
    op.add_column("advisors", sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("advisors", sa.Column("token_hash", sa.String(length=64), nullable=True))
    op.add_column("advisors", sa.Column("ready_at", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("advisors") as batch:
        batch.alter_column("admin", server_default=None)
    op.create_index("uq_advisors_token_hash", "advisors", ["token_hash"], unique=True)
    op.add_column("callback_requests", sa.Column("at_risk_at", UTC_DATETIME, nullable=True))
    op.create_index(
        "ix_callback_requests_lease_expiry",
        "callback_requests",
        ["lease_expires_at"],
        unique=False,
        sqlite_where=sa.text("status = 'in_progress'"),
        postgresql_where=sa.text("status = 'in_progress'"),
    )
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("ran_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("job", "period", name=op.f("pk_job_runs")),
    )
    _replace_check(BEFORE + ADDED)


def downgrade() -> None:
    _replace_check(BEFORE)
    op.drop_table("job_runs")
    op.drop_index("ix_callback_requests_lease_expiry", table_name="callback_requests")
    with op.batch_alter_table("callback_requests") as batch:
        batch.drop_column("at_risk_at")
    op.drop_index("uq_advisors_token_hash", table_name="advisors")
    with op.batch_alter_table("advisors") as batch:
        batch.drop_column("ready_at")
        batch.drop_column("token_hash")
        batch.drop_column("admin")

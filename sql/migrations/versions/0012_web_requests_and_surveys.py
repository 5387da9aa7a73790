"""Web contact requests and the recommendation question (NPS).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

A callback request learns where it was made (``channel``: ``phone``, or ``web``
for the contact page) and, for a web request, the resident's description. The
``surveys`` table keeps each recommendation question asked after a contact and
its answer (0–10), beside the call or callback it followed. The event log's
kinds widen by ``survey.asked`` and ``survey.answered`` (SQLite rebuilds the
table to change the CHECK constraint). Self-contained like the earlier
revisions.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CHANNELS = "channel IN ('phone', 'callback', 'web')"

BEFORE = (
    "call.arrived", "call.closed_hours", "call.language_chosen", "call.topic_chosen",
    "call.input_invalid", "call.input_timeout", "call.queue_entered", "call.queue_left",
    "call.position_announced", "call.callback_offered", "call.callback_withheld",
    "call.callback_declined", "call.callback_accepted", "call.number_rejected",
    "call.closing_time", "call.answered", "call.abandoned", "call.ended",
    "callback.requested", "callback.kept", "callback.cancelled", "callback.claimed",
    "callback.dialled", "callback.attempt_ended", "callback.completed", "callback.failed",
    "callback.wrong_number", "callback.expired", "contact.coded",
    "callback.lease_expired", "callback.at_risk", "callback.carried_over", "call.dropped",
)  # fmt: skip
ADDED = ("survey.asked", "survey.answered")


def _replace_check(kinds: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("call_events") as batch:
        batch.drop_constraint(op.f("ck_call_events_event_kind"), type_="check")
        batch.create_check_constraint("event_kind", f"kind IN ({allowed})")


def _recreate() -> str:
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    _replace_check(BEFORE + ADDED)
    with op.batch_alter_table("callback_requests", recreate=_recreate()) as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=8), server_default="phone", nullable=False)
        )
        batch.add_column(sa.Column("description", sa.String(length=1000), nullable=True))
        batch.create_check_constraint("channel", CHANNELS)
    op.create_table(
        "surveys",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=36), nullable=True),
        sa.Column("callback_id", BIG_ID, nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("number_e164", sa.String(length=16), nullable=True),
        sa.Column("asked_at", UTC_DATETIME, nullable=False),
        sa.Column("answered_at", UTC_DATETIME, nullable=True),
        sa.Column("score", sa.SmallInteger(), nullable=True),
        sa.CheckConstraint(CHANNELS, name=op.f("ck_surveys_channel")),
        sa.CheckConstraint("score BETWEEN 0 AND 10", name=op.f("ck_surveys_score_0_to_10")),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_surveys_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callback_requests.id"],
            name=op.f("fk_surveys_callback_id_callback_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    op.create_index(op.f("ix_surveys_asked_at"), "surveys", ["asked_at"])
    # One question a contact: a callback tried again another day is still one contact.
    op.create_index(op.f("ix_surveys_call_id"), "surveys", ["call_id"], unique=True)
    op.create_index(op.f("ix_surveys_callback_id"), "surveys", ["callback_id"], unique=True)
    op.create_index(
        op.f("ix_surveys_number_e164_asked_at"), "surveys", ["number_e164", "asked_at"]
    )


def downgrade() -> None:
    op.drop_table("surveys")
    with op.batch_alter_table("callback_requests", recreate=_recreate()) as batch:
        batch.drop_constraint(op.f("ck_callback_requests_channel"), type_="check")
        batch.drop_column("description")
        batch.drop_column("channel")
    op.execute("DELETE FROM call_events WHERE kind IN ('survey.asked', 'survey.answered')")
    _replace_check(BEFORE)

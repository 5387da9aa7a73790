"""Twilio: its calls (inbound and the legs the line places) and the webhook steps answered.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Self-contained like the earlier revisions. ``twilio_steps`` is what makes a
repeated webhook harmless: the first answer to a (CallSid, step) is kept and
given again, so a retried or doubled request never stores a second callback
or places a second call.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LEGS = ("inbound", "advisor", "resident", "connect")


def upgrade() -> None:
    op.create_table(
        "twilio_calls",
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("kind", sa.Enum(*LEGS, name="twilio_leg", native_enum=False, create_constraint=True, length=8), nullable=False),
        sa.Column("call_id", sa.String(length=36), nullable=True),
        sa.Column("callback_id", BIG_ID, nullable=True),
        sa.Column("attempt_no", sa.Integer(), nullable=True),
        sa.Column("advisor_id", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("queue_entered_at", UTC_DATETIME, nullable=True),
        sa.Column("queue_visit", sa.Integer(), nullable=False),
        sa.Column("next_step", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("answered_by", sa.String(length=32), nullable=True),
        sa.Column("ready_at", UTC_DATETIME, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["advisor_id"], ["advisors.id"], name=op.f("fk_twilio_calls_advisor_id_advisors")),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_twilio_calls_call_id_calls")),
        sa.ForeignKeyConstraint(["callback_id"], ["callback_requests.id"], name=op.f("fk_twilio_calls_callback_id_callback_requests")),
        sa.PrimaryKeyConstraint("call_sid", name=op.f("pk_twilio_calls")),
    )
    op.create_index("ix_twilio_calls_waiting", "twilio_calls", ["topic", "queue_entered_at"], unique=False)
    op.create_index("ix_twilio_calls_legs", "twilio_calls", ["kind", "topic", "updated_at"], unique=False)
    op.create_table(
        "twilio_steps",
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("step", sa.String(length=48), nullable=False),
        sa.Column("twiml", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["call_sid"], ["twilio_calls.call_sid"], name=op.f("fk_twilio_steps_call_sid_twilio_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_sid", "step", name=op.f("pk_twilio_steps")),
    )


def downgrade() -> None:
    op.drop_table("twilio_steps")
    op.drop_index("ix_twilio_calls_legs", table_name="twilio_calls")
    op.drop_index("ix_twilio_calls_waiting", table_name="twilio_calls")
    op.drop_table("twilio_calls")

"""Who waits in which queue, in the store for every provider: ``queue_places``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

Self-contained like the earlier revisions. Twilio's inbound calls kept their
place in ``twilio_calls.queue_entered_at``; that place moves to the new table
(the callers waiting during the upgrade keep theirs) and the column goes, with
its index. The Asterisk adapter kept its places in memory: it writes them on
its next start, when it takes over its calls. A downgrade gives the Twilio
callers their places back in ``twilio_calls``.

The column goes and comes back in place, never by rebuilding ``twilio_calls``
(Alembic's batch mode on SQLite): with foreign keys on, dropping the old table
would delete every row of ``twilio_steps`` with it (their key cascades), and
the pragma cannot be turned off inside the migration's transaction. SQLite
drops a column since 3.35, which the store already needs for ``RETURNING``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "queue_places",
        sa.Column("call_id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("entered_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["topic"], ["queues.name"], name=op.f("fk_queue_places_topic_queues")),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_queue_places")),
    )  # fmt: skip
    op.create_index(
        "ix_queue_places_topic_entered_at_call_id",
        "queue_places",
        ["topic", "entered_at", "call_id"],
        unique=False,
    )
    op.execute(
        "INSERT INTO queue_places (call_id, provider, topic, language, entered_at) "
        "SELECT call_id, 'twilio', topic, language, queue_entered_at FROM twilio_calls "
        "WHERE kind = 'inbound' AND queue_entered_at IS NOT NULL AND call_id IS NOT NULL "
        "AND topic IS NOT NULL AND language IS NOT NULL"
    )
    op.drop_index("ix_twilio_calls_waiting", table_name="twilio_calls")
    op.drop_column("twilio_calls", "queue_entered_at")  # ALTER TABLE … DROP COLUMN, in place


def downgrade() -> None:
    op.add_column("twilio_calls", sa.Column("queue_entered_at", UTC_DATETIME, nullable=True))
    op.create_index(
        "ix_twilio_calls_waiting", "twilio_calls", ["topic", "queue_entered_at"], unique=False
    )
    op.execute(
        "UPDATE twilio_calls SET "
        "queue_entered_at = (SELECT entered_at FROM queue_places "
        "WHERE queue_places.call_id = twilio_calls.call_id), "
        "topic = COALESCE((SELECT topic FROM queue_places "
        "WHERE queue_places.call_id = twilio_calls.call_id), topic), "
        "language = COALESCE((SELECT language FROM queue_places "
        "WHERE queue_places.call_id = twilio_calls.call_id), language) "
        "WHERE kind = 'inbound'"
    )
    op.drop_index("ix_queue_places_topic_entered_at_call_id", table_name="queue_places")
    op.drop_table("queue_places")

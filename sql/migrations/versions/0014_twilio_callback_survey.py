"""A callback's resident leg on Twilio keeps the recommendation question between webhooks.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-12

``twilio_calls.survey_state`` holds the engine's survey machine
(``SurveyState.to_dict()``) of a resident's leg while the question runs on it:
Twilio asks each next step in a webhook of its own, which any process may
answer. It holds the resident's number, so it is cleared when the question is
done or the leg ends, and by the retention purge. Self-contained like the
earlier revisions.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("twilio_calls", sa.Column("survey_state", JSON, nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN, in place: rebuilding the table (Alembic's batch mode on
    # SQLite) would delete every answered step with it, their key cascading (see 0008).
    op.drop_column("twilio_calls", "survey_state")

"""The web contact page's limits: submissions noted per hashed address and number.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10

``web_request_hits`` notes each submission of ``/contact`` under a hashed key
(an address, a number) with its time, so every process counts the same ones
against ``[web_requests]`` ``per_address_per_hour`` and ``per_number_per_day``
(see ``callflow/store/web_limits.py``); notes older than a day are purged as
new ones come. Self-contained like the earlier revisions.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_request_hits",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_request_hits")),
    )
    op.create_index(op.f("ix_web_request_hits_at"), "web_request_hits", ["at"])
    op.create_index(op.f("ix_web_request_hits_key_hash_at"), "web_request_hits", ["key_hash", "at"])


def downgrade() -> None:
    op.drop_table("web_request_hits")

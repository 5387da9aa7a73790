"""Advisors in the claim's order: longest idle first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

A claim walks ready advisors by ``(ready_at, id)`` and stops at the first
one with the skill and language; without this index it read and sorted
every ready advisor on every claim.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_advisors_claim_order",
        "advisors",
        ["ready_at", "id"],
        unique=False,
        sqlite_where=sa.text("ready_at IS NOT NULL"),
        postgresql_where=sa.text("ready_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_advisors_claim_order", table_name="advisors")

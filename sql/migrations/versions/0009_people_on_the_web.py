"""People on the web: passwords, sessions, roles, break reasons, the call in hand.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Advisors, supervisors and admins sign in to the pages with a password
(argon2id hash) set through a one-time link (``password_links``, stored as a
hash, 24 h); a signed-in browser holds a ``web_sessions`` row (its cookie's
hash, its CSRF token). Five failed passwords in a row lock a name:
``advisors.failed_sign_ins`` and ``locked_until``. A supervisor is a role of
its own; an advisor on a break says why (``break_reason``); an advisor rung
for a queued caller names that call (``serving_call_id``), so their desk
shows whom they talk to; an advisor picks their interface language
(``locale``). An attempt's outcome may carry a short note (numbers masked).
Columns are added in place (no table rebuild: see 0008 on why).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("advisors", recreate="never") as table:
        table.add_column(sa.Column("supervisor", sa.Boolean(), nullable=False, server_default=sa.false()))
        table.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        table.add_column(sa.Column("failed_sign_ins", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("locked_until", UTC_DATETIME, nullable=True))
        table.add_column(sa.Column("break_reason", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("locale", sa.String(length=8), nullable=True))
        table.add_column(sa.Column("serving_call_id", sa.String(length=36), nullable=True))
    with op.batch_alter_table("callback_attempts", recreate="never") as table:
        table.add_column(sa.Column("note", sa.String(length=500), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["advisor_id"], ["advisors.id"], name=op.f("fk_web_sessions_advisor_id_advisors"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )  # fmt: skip
    op.create_index("ix_web_sessions_advisor_id", "web_sessions", ["advisor_id"], unique=False)
    op.create_table(
        "password_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["advisor_id"], ["advisors.id"], name=op.f("fk_password_links_advisor_id_advisors"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_password_links")),
    )  # fmt: skip
    op.create_index("ix_password_links_advisor_id", "password_links", ["advisor_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_password_links_advisor_id", table_name="password_links")
    op.drop_table("password_links")
    op.drop_index("ix_web_sessions_advisor_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("callback_attempts", recreate="never") as table:
        table.drop_column("note")
    with op.batch_alter_table("advisors", recreate="never") as table:
        for column in (
            "serving_call_id",
            "locale",
            "break_reason",
            "locked_until",
            "failed_sign_ins",
            "password_hash",
            "supervisor",
        ):
            table.drop_column(column)

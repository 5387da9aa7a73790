"""Live settings: what admins change while the line runs, and every change kept.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09

``line_settings`` holds each setting in force (a key of the configuration
file and its value); ``line_changes`` every change, with who made it, when,
the old and the new value (see ``callflow/store/line_settings.py``). On
PostgreSQL a new change sends ``NOTIFY callflow_line_changes`` with its id,
so every ``serve`` and ``worker`` puts it in force at once; SQLite's
processes read the latest id instead.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "line_changes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("old_value", JSON, nullable=True),
        sa.Column("new_value", JSON, nullable=True),
        sa.Column("undoes", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_changes")),
    )  # fmt: skip
    op.create_index(op.f("ix_line_changes_key"), "line_changes", ["key"], unique=False)
    op.create_table(
        "line_settings",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("change_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(["change_id"], ["line_changes.id"], name=op.f("fk_line_settings_change_id_line_changes")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_line_settings")),
    )  # fmt: skip
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION callflow_notify_line_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('callflow_line_changes', NEW.id::text);
                RETURN NULL;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER callflow_notify_line_change AFTER INSERT ON line_changes "
            "FOR EACH ROW EXECUTE FUNCTION callflow_notify_line_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER callflow_notify_line_change ON line_changes")
        op.execute("DROP FUNCTION callflow_notify_line_change()")
    op.drop_table("line_settings")
    op.drop_index(op.f("ix_line_changes_key"), table_name="line_changes")
    op.drop_table("line_changes")

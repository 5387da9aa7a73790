"""Change notices: PostgreSQL tells the live pages when what they show changes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08

Each statement that writes to a table the advisors' desk or the supervisors'
board shows sends ``NOTIFY callflow_changes`` with the table's name (see
``callflow/store/changes.py``). A statement-level trigger sends one
notification per statement however many rows it touched, and PostgreSQL
folds identical notifications within a transaction into one and delivers
them only at commit. SQLite has no ``NOTIFY``; the pages watch its data
version instead, so there this revision does nothing.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

WATCHED_TABLES = (
    "advisors",
    "advisor_skills",
    "advisor_languages",
    "callback_requests",
    "callback_attempts",
    "queue_places",
    "calls",
    "call_events",
)  # as callflow.store.changes.WATCHED_TABLES was at this revision


def _on_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _on_postgresql():
        return
    op.execute(
        """
        CREATE FUNCTION callflow_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('callflow_changes', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table in WATCHED_TABLES:
        op.execute(
            f"CREATE TRIGGER callflow_notify_change "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION callflow_notify_change()"
        )


def downgrade() -> None:
    if not _on_postgresql():
        return
    for table in WATCHED_TABLES:
        op.execute(f"DROP TRIGGER callflow_notify_change ON {table}")
    op.execute("DROP FUNCTION callflow_notify_change()")

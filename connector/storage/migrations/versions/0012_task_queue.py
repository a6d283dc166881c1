"""Task queue: procrastinate's schema, on PostgreSQL only (connector.engine.queue).

SQLite runs the work in one process (connector.scheduler) and needs nothing here. The schema
is the one the installed procrastinate ships (`SchemaManager.get_schema`), applied as it is;
when a later procrastinate release changes it, that release's own migration scripts
(`procrastinate/sql/migrations`) are applied in a migration of ours, as the pyproject's
version range allows.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _run_script(sql: str) -> None:
    """Run SQL on the driver's cursor with no parameters at all, in the migration's
    transaction: procrastinate's script has PL/pgSQL bodies with `%` signs that are no
    placeholders."""
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    _run_script(SchemaManager.get_schema())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _run_script(
        """
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DO $$
        DECLARE name text;
        BEGIN
            FOR name IN
                SELECT p.oid::regprocedure::text FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
            LOOP
                EXECUTE 'DROP FUNCTION IF EXISTS ' || name || ' CASCADE';
            END LOOP;
        END;
        $$;
        DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
            procrastinate_job_status CASCADE;
        """
    )

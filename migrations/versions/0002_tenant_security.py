"""Tenant security on PostgreSQL: roles, grants, row-level security, metrics hypertable.

Superusers and table owners bypass RLS, so the web and bot paths run as `adpilot_app`
(no owner, no superuser, RLS forced); cross-org background jobs run as `adpilot_worker`
(BYPASSRLS). The migrating role is granted both so that it can `SET ROLE` into them. Both may log in
(no password is set here: an operator sets one, `ALTER ROLE adpilot_app PASSWORD ...`, and
points ADPILOT_DATABASE_APP_URL / ADPILOT_DATABASE_WORKER_URL at them); logged in as
themselves, not even `SET ROLE NONE` leads back to the owner.
SQLite has no roles: there this revision does nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

from core.config import get_settings

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a migration must not change when the live model list does.
TENANT_TABLES: dict[str, str] = {
    "organizations": "id",
    "users": "org_id",
    "channel_identities": "org_id",
    "link_codes": "org_id",
    "ad_accounts": "org_id",
    "oauth_states": "org_id",
    "campaigns": "org_id",
    "campaign_metrics": "org_id",
    "rules": "org_id",
    "alerts": "org_id",
    "pending_actions": "org_id",
    "audit_logs": "org_id",
    "destinations": "org_id",
    "notifications": "org_id",
    "conversations": "org_id",
    "ai_usage": "org_id",
    "dead_letter_jobs": "org_id",
    "slack_installations": "org_id",
}

POLICY = "tenant_isolation"
DML = "SELECT, INSERT, UPDATE, DELETE"


def _roles() -> tuple[str, str]:
    settings = get_settings()
    return settings.database_app_role, settings.database_worker_role


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _is_postgres():
        return
    app_role, worker_role = _roles()
    op.execute(
        f"""
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{app_role}') THEN
            CREATE ROLE {app_role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{worker_role}') THEN
            CREATE ROLE {worker_role} LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END
        $$;
        """
    )
    # Roles are cluster-wide and may predate this database: state their attributes anyway.
    op.execute(f"ALTER ROLE {app_role} LOGIN NOSUPERUSER NOBYPASSRLS")
    op.execute(f"ALTER ROLE {worker_role} LOGIN NOSUPERUSER BYPASSRLS")
    op.execute(f"GRANT {app_role}, {worker_role} TO CURRENT_USER")
    for role in (app_role, worker_role):
        op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        op.execute(f"GRANT {DML} ON ALL TABLES IN SCHEMA public TO {role}")
        op.execute(f"REVOKE ALL ON alembic_version FROM {role}")
        op.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {DML} ON TABLES TO {role}"
        )

    for table, column in TENANT_TABLES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        # current_setting(..., true) is NULL when unset, so a session without an org sees nothing.
        predicate = f"{column} = NULLIF(current_setting('app.org_id', true), '')::uuid"
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({predicate}) WITH CHECK ({predicate})"
        )

    # Re-syncs rewrite recent days: free space on each page lets those updates stay HOT
    # (no index writes), since they never touch an indexed column.
    op.execute("ALTER TABLE campaign_metrics SET (fillfactor = 90)")
    op.execute(
        """
        DO $$
        BEGIN
          IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
            PERFORM create_hypertable('campaign_metrics', 'recorded_at',
                                      chunk_time_interval => INTERVAL '7 days',
                                      migrate_data => true);
          ELSE
            -- Plain table: metrics arrive roughly in time order, so a BRIN index serves the
            -- cross-org window scans of rule evaluation at a fraction of a B-tree's size.
            CREATE INDEX IF NOT EXISTS ix_campaign_metrics_recorded_at_brin
              ON campaign_metrics USING brin (recorded_at);
          END IF;
        END
        $$;
        """
    )


def downgrade() -> None:
    if not _is_postgres():
        return
    app_role, worker_role = _roles()
    op.execute("DROP INDEX IF EXISTS ix_campaign_metrics_recorded_at_brin")
    op.execute("ALTER TABLE campaign_metrics RESET (fillfactor)")
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for role in (app_role, worker_role):
        op.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE {DML} ON TABLES FROM {role}"
        )
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
    # Roles are cluster-wide: another database may still use them, then they stay.
    op.execute(
        f"""
        DO $$
        BEGIN
          DROP ROLE IF EXISTS {app_role};
          DROP ROLE IF EXISTS {worker_role};
        EXCEPTION WHEN dependent_objects_still_exist OR object_in_use THEN
          RAISE NOTICE 'adpilot roles still used elsewhere; kept';
        END
        $$;
        """
    )

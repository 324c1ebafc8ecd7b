"""The org binding is signed; the app role loses the tables it has no business with.

Until 0002 the policies trusted `app.org_id`, a setting any session may change: SQL run as
the app role could `set_config('app.org_id', <other org>, false)` and read and write that
org's rows. Now every tenant policy compares against `app_current_org()`, a SECURITY DEFINER
function that returns the org only when `app.org_sig` is its HMAC-SHA256 under a key kept in
`app_binding_key`, a table only the owner can read. The app computes the signature
(`core.db.set_tenant`) from a key derived from ADPILOT_SECRET_KEY; this revision stores the
same key (as HMAC's inner and outer pads), and `adpilot migrate` stores it again on each run so
that a new ADPILOT_SECRET_KEY takes effect there. The policies call the function through a
sub-select, so PostgreSQL evaluates it once per statement (an InitPlan), not once per row.

The sandbox tables and `processed_events` carry no org and no RLS: the app role had full
access to every org's simulated platform state and to the webhook de-duplication record. The
sandbox adapter and pre-identity work use the worker login; the app role keeps no grant there.
SQLite has no roles and no RLS: there this revision does nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.config import get_settings
from core.db import binding_key_pads

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose, as in 0002: a migration must not change when the live list does.
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
# Tables without an org column that the app role never needs (the worker login serves them).
APP_REVOKED_TABLES = (
    "sandbox_accounts",
    "sandbox_campaigns",
    "sandbox_campaign_revisions",
    "processed_events",
)

POLICY = "tenant_isolation"
DML = "SELECT, INSERT, UPDATE, DELETE"
OLD_PREDICATE = "NULLIF(current_setting('app.org_id', true), '')::uuid"
NEW_PREDICATE = "(SELECT app_current_org())"

# plpgsql, not LANGUAGE sql: a SECURITY DEFINER SQL function is never inlined and is planned
# afresh for every outer statement (measured ~2x slower per statement); plpgsql caches its plan
# per session. The fixed search_path (pg_temp last) keeps objects a caller creates in its
# temporary schema from standing in for the key table, a type or a function.
APP_CURRENT_ORG = """
CREATE FUNCTION app_current_org() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  claimed_org text := current_setting('app.org_id', true);
  claimed_sig text := current_setting('app.org_sig', true);
  key_row record;
BEGIN
  IF claimed_org IS NULL OR claimed_org = '' OR claimed_sig IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT inner_pad, outer_pad INTO key_row FROM public.app_binding_key;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  -- HMAC-SHA256 (RFC 2104) from the stored pads: H(outer || H(inner || message)).
  IF claimed_sig = encode(
       sha256(key_row.outer_pad || sha256(key_row.inner_pad || convert_to(claimed_org, 'UTF8'))),
       'hex') THEN
    RETURN claimed_org::uuid;
  END IF;
  RETURN NULL;
END
$$
"""


def _roles() -> tuple[str, str]:
    settings = get_settings()
    return settings.database_app_role, settings.database_worker_role


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _set_policies(predicate_for: dict[str, str]) -> None:
    for table, predicate in predicate_for.items():
        op.execute(f"ALTER POLICY {POLICY} ON {table} USING ({predicate}) WITH CHECK ({predicate})")


def upgrade() -> None:
    if not _is_postgres():
        return
    app_role, worker_role = _roles()
    op.execute(
        """
        CREATE TABLE app_binding_key (
          id boolean PRIMARY KEY DEFAULT true CHECK (id),
          inner_pad bytea NOT NULL CHECK (octet_length(inner_pad) = 64),
          outer_pad bytea NOT NULL CHECK (octet_length(outer_pad) = 64)
        )
        """
    )
    # 0002's default privileges granted the new table to both roles: take that back at once.
    op.execute(f"REVOKE ALL ON app_binding_key FROM PUBLIC, {app_role}, {worker_role}")
    inner, outer = binding_key_pads(get_settings().org_binding_key())
    op.execute(
        sa.text(
            "INSERT INTO app_binding_key (inner_pad, outer_pad) VALUES (:inner, :outer)"
        ).bindparams(inner=inner, outer=outer)
    )
    op.execute(APP_CURRENT_ORG)
    op.execute("REVOKE ALL ON FUNCTION app_current_org() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_current_org() TO {app_role}")
    _set_policies({table: f"{column} = {NEW_PREDICATE}" for table, column in TENANT_TABLES.items()})
    for table in APP_REVOKED_TABLES:
        op.execute(f"REVOKE ALL ON {table} FROM {app_role}")


def downgrade() -> None:
    if not _is_postgres():
        return
    app_role, _ = _roles()
    for table in APP_REVOKED_TABLES:
        op.execute(f"GRANT {DML} ON {table} TO {app_role}")
    _set_policies({table: f"{column} = {OLD_PREDICATE}" for table, column in TENANT_TABLES.items()})
    op.execute("DROP FUNCTION app_current_org()")
    op.execute("DROP TABLE app_binding_key")

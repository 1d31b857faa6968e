"""Adoption 3/4: every legacy row has a tenant, or is an orphan (given to the system tenant or
archived).

`tenantgraph adopt` runs the backfill (`app.adopt.backfill`) before this revision, in batches
that commit one by one and resume after an interruption. This revision then sweeps once more,
in its transaction, for rows the legacy application wrote meanwhile, so that the next revision
finds no row without a tenant. Run without the batches (an upgrade straight through), it does the
whole backfill in one transaction.

Downgrade: the tenant ids and the bookkeeping are cleared; the legacy data was never changed.

Revision ID: adopt_0003
Revises: adopt_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

from app.adopt.backfill import SCHEMA, TENANT_TABLES, Options, final_sweep, read_options

revision: str = "adopt_0003"
down_revision: str | None = "adopt_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    stored = read_options(conn)
    if stored is None:
        raise RuntimeError("no adoption options recorded: run `tenantgraph adopt`")
    orphans, system_tenant, system_id = stored
    final_sweep(conn, Options(orphans=orphans, system_tenant=system_tenant), system_id)


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"UPDATE public.{table} SET tenant_id = NULL WHERE tenant_id IS NOT NULL")
    for table in ("progress", "user_home", "service_tenants", "orphans", "renamed_emails"):
        op.execute(f"DELETE FROM {SCHEMA}.{table}")

"""Adoption 2/4: a nullable `tenant_id` on every legacy table whose rows will belong to one tenant
(tasks, compliance records, audit logs, health logs, services), and the indexes the backfill
needs to follow relationships quickly. The legacy application keeps working: it never names the
new column.

Revision ID: adopt_0002
Revises: adopt_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

from app.adopt.backfill import TENANT_TABLES

revision: str = "adopt_0002"
down_revision: str | None = "adopt_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "tenantgraph_adopt_tasks_service": "public.tasks (service_id, tenant_id)",
    "tenantgraph_adopt_memberships_user": "public.tenant_memberships (user_id, tenant_id)",
}


def upgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE public.{table} ADD COLUMN tenant_id uuid")
    for name, target in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {target}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS public.{name}")
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE public.{table} DROP COLUMN IF EXISTS tenant_id")

"""Adoption 4/4: NOT NULL, composite keys, tenant-scoped uniques and row-level security — by
building the main chain's 0005 schema and copying the adopted rows into it.

The legacy tables (with their new tenant ids) move into the schema `tenantgraph_legacy`; the main
revisions 0001–0005 run their own upgrade in `public`, so an adopted database has exactly the
shape of a fresh one; the rows are copied in (`app.adopt.swap`), the counts are checked, and
`public.alembic_version` says 0005, from where `tenantgraph migrate` applies later revisions.

Downgrade: only from main revision 0005 (downgrade later main revisions first). It drops the
current schema and moves the legacy tables back; rows written through the product after the
adoption are lost with it, which is why it is meant for rolling back a failed rollout, not later.

Revision ID: adopt_0004
Revises: adopt_0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

from app.adopt import swap

revision: str = "adopt_0004"
down_revision: str | None = "adopt_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    swap.upgrade(op.get_bind())


def downgrade() -> None:
    swap.downgrade(op.get_bind())

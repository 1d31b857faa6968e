"""Adoption 1/4: the bookkeeping of an adoption, in its own schema `tenantgraph_adopt`.

Options, progress of the backfill, each user's home tenant, the tenants each service goes to,
orphans (archived rows are kept here as JSON), renamed emails, detached references and the moved
tables. Nothing in `public` changes. The schema itself is created by `tenantgraph adopt` before
this revision (alembic keeps this chain's version table in it).

Revision ID: adopt_0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

from app.adopt.backfill import SCHEMA, bookkeeping_ddl

revision: str = "adopt_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("adopt",)
depends_on: str | Sequence[str] | None = None

TABLES = (
    "options",
    "legacy_counts",
    "progress",
    "user_home",
    "service_tenants",
    "orphans",
    "renamed_emails",
    "detached",
    "moved_tables",
)


def upgrade() -> None:
    for statement in bookkeeping_ddl():
        op.execute(statement)


def downgrade() -> None:
    # the schema stays: it holds this chain's version table (`tenantgraph adopt --rollback`
    # drops it once the chain is back at its base)
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")

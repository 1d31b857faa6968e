"""Alembic environment of the adoption chain (`tenantgraph adopt`), separate from the main one.

The adoption revisions turn a legacy single-tenant database into the main chain's 0005 shape and
stamp it there; they live in their own script location and keep their version in
`tenantgraph_adopt.alembic_version`, so the main chain (fresh databases, `tenantgraph migrate`)
never sees them. Always called by `app.adopt.runner` with an open connection.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table="alembic_version",
        version_table_schema="tenantgraph_adopt",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: run `tenantgraph adopt`")
_shared = config.attributes.get("connection")
if _shared is None:
    raise SystemExit("the adoption revisions run through `tenantgraph adopt`")
_run(_shared)

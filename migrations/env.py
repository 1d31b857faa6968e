"""Alembic environment: runs the migrations over the async engine, as the owner role.

The runtime role that receives grants is passed in `config.attributes["app_role"]` by
`app.database.run_migrations`; the migrations never connect as it.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from repositories.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: run `tenantgraph migrate`")
_shared = config.attributes.get("connection")
if _shared is not None:
    # Called from `app.database.run_migrations` inside `AsyncConnection.run_sync`.
    _run(_shared)
else:
    asyncio.run(_run_async())

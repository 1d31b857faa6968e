"""Getting a database ready: the embedded server and its roles, or an external server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from app.database import (
    EMBEDDED_DATABASE,
    EMBEDDED_OWNER,
    DatabaseUrls,
    asyncpg_url,
    ensure_runtime_role,
    external_urls,
    platform_role_for,
    run_migrations,
)
from app.settings import Settings

_ROLE_OPTIONS = "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
# Serialises concurrent `migrate` runs against one database.
_MIGRATION_LOCK = 0x7465_6E61_6E74


@contextmanager
def provisioned(settings: Settings) -> Iterator[DatabaseUrls]:
    """Yield the owner and runtime URLs; with the embedded server, run it for the duration.

    Synchronous on purpose: `serve` hands the process to uvicorn's own event loop inside it."""
    if not settings.uses_embedded_database:
        yield external_urls(settings)
        return
    from app.embedded import running_server

    with running_server(settings.data_dir) as admin:
        yield asyncio.run(bootstrap_embedded(admin, settings.app_role))


async def bootstrap_embedded(admin: URL, app_role: str) -> DatabaseUrls:
    """Create the owner role, the runtime role and the database if they are missing."""
    engine = create_async_engine(
        asyncpg_url(admin), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with engine.connect() as conn:
            for role, options in (
                (EMBEDDED_OWNER, _ROLE_OPTIONS),
                (app_role, f"{_ROLE_OPTIONS} NOINHERIT"),
                (platform_role_for(app_role), f"{_ROLE_OPTIONS} NOINHERIT"),
            ):
                found = await conn.scalar(
                    text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                )
                if not found:
                    await conn.execute(text(f'CREATE ROLE "{role}" {options}'))
            found = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": EMBEDDED_DATABASE}
            )
            if not found:
                await conn.execute(
                    text(f'CREATE DATABASE "{EMBEDDED_DATABASE}" OWNER "{EMBEDDED_OWNER}"')
                )
    finally:
        await engine.dispose()
    base = asyncpg_url(admin).set(database=EMBEDDED_DATABASE, password=None)
    return DatabaseUrls(
        owner=base.set(username=EMBEDDED_OWNER), runtime=base.set(username=app_role)
    )


async def migrate(owner: AsyncConnection, runtime_role: str) -> None:
    """Bring the schema to head as the owner, granting the runtime role what it needs."""
    await owner.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
    await ensure_runtime_role(owner, runtime_role)
    await run_migrations(owner, runtime_role)

"""Fixtures of the security suite: the app as production runs it, and ways to count writes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import Database
from app.main import create_app
from app.settings import Environment, Settings
from tests.conftest import TEST_SECRET


def production_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "secret_key": TEST_SECRET,
        "env": Environment.PRODUCTION,
        "base_domain": "localhost",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def production(runtime_conn: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    """The app with TENANTGRAPH_ENV=production, over the same rolled-back connection."""
    app = create_app(settings=production_settings(), database=Database.bound_to(runtime_conn))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as http:
        yield http


async def count_rows(conn: AsyncConnection, table: str, tenant_id: uuid.UUID) -> int:
    """Rows of `table` in one tenant, seen on the test's runtime connection (where the app's
    uncommitted writes are)."""
    await conn.execute(
        text("SELECT set_config('app.current_tenant_id', :t, true)"), {"t": str(tenant_id)}
    )
    return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())

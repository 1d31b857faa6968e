"""Helpers for the job tests: the demo tenants as the runner sees them, writing test rows through
the runtime role in one tenant, and reading each tenant's rows back the same way."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import Database
from app.jobs.registry import Job
from app.jobs.runner import RunReport, run_job
from repositories.records import TenantRecord
from tests.helpers import DemoData

BIND = text(
    "SELECT set_config('app.current_tenant_id', :tenant, true),"
    " set_config('app.current_user_id', '', true)"
)


def demo_tenants(demo: DemoData, *slugs: str) -> list[TenantRecord]:
    """The demo tenants named, as `active_tenants` answers them."""
    return [TenantRecord(demo.tenants[slug], slug, slug) for slug in slugs]


async def as_tenant(conn: AsyncConnection, tenant_id: uuid.UUID) -> None:
    """Bind the runtime connection's transaction to one tenant (as the unit of work does)."""
    await conn.execute(BIND, {"tenant": str(tenant_id)})


async def rows_in(
    conn: AsyncConnection, tenant_id: uuid.UUID, sql: str, params: dict[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """`sql` run by the runtime role bound to one tenant: row-level security shows that
    tenant's rows, and every row a job wrote lands in exactly one tenant."""
    await as_tenant(conn, tenant_id)
    return (await conn.execute(text(sql), params or {})).all()


async def run(
    conn: AsyncConnection, job: Job, tenants: Sequence[TenantRecord], **kwargs: Any
) -> RunReport:
    """Run `job` through the real runner, its units of work in savepoints of `conn`."""
    return await run_job(Database.bound_to(conn), job, tenants, **kwargs)

"""EXPLAIN ANALYZE every statement of a cold `analytics` call on a 10,000-task tenant, under the
runtime role and the tenant's RLS, on the development database (`.pgdata`, or DATABASE_URL).

    .venv/bin/python scripts/explain_analytics.py            # timings (median and min of 15 runs)
    .venv/bin/python scripts/explain_analytics.py --plans    # and each plan

Creates the tenant `analytics-10k` (10,000 tasks over a year, Europe/Berlin) once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.context import Role, TenantContext
from app.database import DatabaseUrls
from app.provision import provisioned
from app.settings import Settings
from repositories import analytics as a
from repositories.session import apply_context

SLUG = "analytics-10k"


def main(plans: bool) -> None:
    with provisioned(Settings()) as urls:
        asyncio.run(run(urls, plans))


async def run(urls: DatabaseUrls, plans: bool) -> None:
    if True:
        owner = create_async_engine(urls.owner, poolclass=NullPool)
        runtime = create_async_engine(urls.runtime, poolclass=NullPool)
        async with owner.begin() as conn:
            tenant = await conn.scalar(text("SELECT id FROM tenants WHERE slug = :s"), {"s": SLUG})
            if tenant is None:
                tenant = await conn.scalar(
                    text("INSERT INTO tenants (slug, name) VALUES (:s, :s) RETURNING id"),
                    {"s": SLUG},
                )
                await conn.execute(
                    text(
                        "INSERT INTO organization_settings (tenant_id, timezone)"
                        " VALUES (:t, 'Europe/Berlin')"
                    ),
                    {"t": tenant},
                )
                await conn.execute(
                    text(
                        "INSERT INTO tasks (tenant_id, title, status, priority, created_at,"
                        " updated_at, due_at)"
                        " SELECT :t, 'task ' || i,"
                        " (ARRAY['TODO', 'IN_PROGRESS', 'BLOCKED', 'DONE'])[1 + i % 4],"
                        " (ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'])[1 + i % 3],"
                        " now() - (i % 365) * interval '1 day' - (i % 24) * interval '1 hour',"
                        " now() - (i % 365) * interval '1 day' + (i % 7) * interval '1 hour',"
                        " now() - (i % 200 - 100) * interval '1 day'"
                        " FROM generate_series(1, 10000) i"
                    ),
                    {"t": tenant},
                )
        async with owner.connect() as conn:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("VACUUM ANALYZE tasks"))
        ctx = TenantContext(request_id="explain", tenant_id=tenant, role=Role.ADMIN)
        end = date.today()
        params = {"tenant": tenant, "tz": "Europe/Berlin", "start": end - timedelta(89), "end": end}
        statements = {
            name: value
            for name, value in vars(a).items()
            if name.startswith("_") and name.isupper() and hasattr(value, "text")
        }
        async with runtime.connect() as conn:
            total = least_total = 0.0
            for name, statement in statements.items():
                async with conn.begin():
                    await apply_context(conn, ctx)  # type: ignore[arg-type]
                    samples = []
                    for _ in range(15):
                        started = time.perf_counter()
                        await conn.execute(statement, params)
                        samples.append((time.perf_counter() - started) * 1000)
                    median, least = statistics.median(samples), min(samples)
                    total += median
                    least_total += least
                    print(f"{name:20s} median {median:7.2f} ms, min {least:7.2f} ms")
                    if plans:
                        rows = await conn.execute(
                            text("EXPLAIN (ANALYZE, BUFFERS) " + statement.text), params
                        )
                        print("\n".join("    " + r[0] for r in rows))
            print(f"{'sum':20s} median {total:7.2f} ms, min {least_total:7.2f} ms")
        await owner.dispose()
        await runtime.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--plans", action="store_true")
    main(parser.parse_args().plans)

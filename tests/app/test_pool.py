"""A pooled connection the server dropped (a restart, a failover, an idle timeout) costs no
request an error: the pool does not ping before every checkout, the unit of work runs its
first statement once more on a fresh connection instead."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.database import Database
from app.main import create_app
from app.settings import Settings
from tests.conftest import SuiteDatabase

SERVICES = "{ publicServices(first: 50) { edges { node { slug } } } }"


async def _slugs(client: httpx.AsyncClient, host: str) -> set[str]:
    response = await client.post(f"http://{host}/graphql", json={"query": SERVICES})
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    return {e["node"]["slug"] for e in body["data"]["publicServices"]["edges"]}


async def _drop_pooled_connections(suite: SuiteDatabase) -> int:
    """Terminate the API's server connections, as a restarted server would have."""
    admin = create_async_engine(suite.admin, poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            dropped = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :db AND application_name = 'tenantgraph'"
                    " AND pid <> pg_backend_pid()"
                ),
                {"db": suite.urls.runtime.database},
            )
    finally:
        await admin.dispose()
    return int(dropped or 0)


async def test_a_dropped_pooled_connection_is_replaced_without_an_error(
    test_database: SuiteDatabase, settings: Settings
) -> None:
    database = Database.connect(test_database.urls.runtime, pool_size=2)
    app = create_app(settings=settings, database=database)
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40100))
        async with httpx.AsyncClient(transport=transport) as client:
            # given pooled connections that have served both tenants
            acme, globex = (
                await _slugs(client, "acme.localhost"),
                await _slugs(client, "globex.localhost"),
            )
            assert acme
            assert globex
            assert not acme & globex
            # when the server drops them
            assert await _drop_pooled_connections(test_database) >= 1
            # then the next requests are answered, each with its own tenant's rows only
            assert await _slugs(client, "globex.localhost") == globex
            assert await _slugs(client, "acme.localhost") == acme
    finally:
        await database.dispose()


async def _plans_of_begin(database: Database) -> list[int]:
    """How often each statement prepared on the (single) pooled connection that binds the
    context has been planned, i.e. executed: PostgreSQL's own count."""
    assert database.engine is not None
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT generic_plans + custom_plans AS runs FROM pg_prepared_statements"
                " WHERE statement LIKE '%tenantgraph_begin(%' AND statement NOT LIKE '%pg_prep%'"
            )
        )
        return [int(r.runs) for r in rows]


async def test_the_default_engine_reuses_prepared_statements(
    test_database: SuiteDatabase, settings: Settings
) -> None:
    # given the default engine (no PgBouncer) and the PgBouncer one, one connection each
    for pgbouncer in (False, True):
        database = Database.connect(test_database.urls.runtime, pool_size=1, pgbouncer=pgbouncer)
        app = create_app(settings=settings, database=database)
        try:
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40101))
            async with httpx.AsyncClient(transport=transport) as client:
                # when both tenants' catalogues are read a few times in turn
                for _ in range(3):
                    assert await _slugs(client, "acme.localhost")
                    assert await _slugs(client, "globex.localhost")
            runs = await _plans_of_begin(database)
        finally:
            await database.dispose()
        if pgbouncer:
            # then behind PgBouncer nothing prepared is run twice (unique names, no cache)
            assert all(n <= 1 for n in runs), runs
        else:
            # then by default the first statement is prepared once and run for every request
            assert runs == [6], runs

"""Thousands of interleaved requests from three tenants and anonymous callers through a real
connection pool of two: no 5xx, every answer in its caller's tenant, every row written in the
tenant (and by the user) of the request that wrote it, documents that fail after a first write
leave nothing behind, and one audit row per successful write."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from app.database import Database, DatabaseUrls
from app.main import create_app
from tests.security.stress import (
    dedicated_database,
    drive,
    errors_of,
    isolation_problems_after,
    plan,
    read_world,
    sign_in_everyone,
    stress_settings,
)

REQUESTS = 2500
CONCURRENCY = 50
POOL_SIZE = 2


@pytest.fixture(scope="module")
async def stress_urls(admin_url: URL) -> AsyncIterator[DatabaseUrls]:
    async with dedicated_database(admin_url, f"tenantgraph_stress_{os.getpid()}") as urls:
        yield urls


async def test_interleaved_load_stays_in_its_tenants(stress_urls: DatabaseUrls) -> None:
    # given the app on a pool of two connections, and members of three tenants signed in
    owner = create_async_engine(stress_urls.owner, pool_size=1)
    database = Database.connect(stress_urls.runtime, pool_size=POOL_SIZE)
    app = create_app(settings=stress_settings(), database=database)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40100))
    try:
        async with httpx.AsyncClient(transport=transport, timeout=30) as client:
            world = await read_world(owner)
            actors = await sign_in_everyone(client, world)
            calls = plan(actors, world, total=REQUESTS, seed=4, prefix="load")

            # when they all call at once, reads, writes and documents failing after a write
            outcomes = await drive(client, calls, concurrency=CONCURRENCY)

        # then nothing failed on the server, nothing crossed a tenant, nothing half-written stayed
        problems = await isolation_problems_after(owner, world, outcomes, "load")
    finally:
        await database.dispose()
        await owner.dispose()
    assert problems == [], "\n".join(problems[:30])
    kinds = Counter(o.call.kind for o in outcomes)
    succeeded = Counter(o.call.kind for o in outcomes if not errors_of(o))
    # the mix really had every kind of call, and the writes really happened
    assert min(kinds.values()) >= 30, kinds
    assert succeeded["createTask"] >= 50, succeeded
    assert succeeded["book"] >= 50, succeeded
    assert succeeded["submitPublic"] >= 30, succeeded
    assert max(o.seconds for o in outcomes) < 15, "a request waited too long for the pool"

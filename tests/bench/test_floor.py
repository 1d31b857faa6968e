"""The floor baseline (bench/floor.py) against the suite's database: two tenants' portal pages,
each the API's answer byte for byte after parsing, with exactly the API's round trips (so the
comparison of the two measures what the API adds, not what the floor does more)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

import bench.floor
from app.auth.tokens import TokenService
from app.settings import Settings
from bench.db import dsn
from bench.floor import create_app
from schema.ids import encode_id
from tests.conftest import SuiteDatabase
from tests.helpers import DemoData, gql, login

PAGE = (
    "query Portal { tasks(first: 100) { edges { cursor node { id title status priority dueAt "
    "createdAt assignee { id email displayName } createdBy { id email displayName } } } "
    "pageInfo { hasNextPage endCursor } } }"
)


@pytest.fixture
async def floor(
    test_database: SuiteDatabase, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    """The floor's app over ASGI, and every statement its connections send."""
    sent: list[str] = []
    create_pool = asyncpg.create_pool

    async def log(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda record: sent.append(record.query))

    def recording_pool(*args: Any, **kwargs: Any) -> Any:
        return create_pool(*args, init=log, **kwargs)

    monkeypatch.setattr(bench.floor.asyncpg, "create_pool", recording_pool)
    tokens = TokenService(
        settings.signing_secret(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=settings.token_ttl,
    )
    app = create_app(dsn(test_database.urls.runtime), tokens, pool_size=1)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as http:
            yield http, sent


async def test_the_floor_answers_the_apis_page_with_the_apis_round_trips(
    client: httpx.AsyncClient,
    floor: tuple[httpx.AsyncClient, list[str]],
    demo: DemoData,
) -> None:
    http, sent = floor
    pages = {}
    for slug, email in (("acme", "alice@acme.test"), ("globex", "bob@globex.test")):
        session = await login(client, email, host=f"{slug}.localhost")
        api = (await gql(client, PAGE, session=session)).json()
        headers = {"Authorization": f"Bearer {session.token}"}
        await http.post("/graphql", json={"query": PAGE}, headers=headers)  # warm the pool
        sent.clear()
        response = await http.post("/graphql", json={"query": PAGE}, headers=headers)
        # the API's answer, and per request the API's statements: the one that binds the
        # context and checks the session, the page, its people; nothing around the transaction
        assert response.status_code == 200
        assert response.json() == api
        queries = [q.strip().rstrip(";").upper() for q in sent]
        assert queries[0] == "BEGIN", sent
        assert queries[-1] == "COMMIT", sent
        assert len(queries) == 5, sent
        assert "TENANTGRAPH_BEGIN(" in queries[1]
        pages[slug] = {edge["node"]["id"] for edge in api["data"]["tasks"]["edges"]}
    # each tenant's page holds its own tasks, all of them, and none of the other's
    for slug in ("acme", "globex"):
        assert pages[slug] == {encode_id("Task", task) for task in demo.tasks[slug]}
    assert not pages["acme"] & pages["globex"]

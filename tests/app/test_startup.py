"""What a worker does once when it starts serving."""

from __future__ import annotations

import gc

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import Database
from app.main import create_app
from app.settings import Settings
from tests.helpers import gql, login

VIEWER = "query { viewer { role activeTenant { slug } } }"


async def test_the_objects_of_startup_are_frozen_out_of_the_collector(
    runtime_conn: AsyncConnection, settings: Settings
) -> None:
    """A full collection walked every object of the schema and the modules (~100 ms pauses
    under load); after the lifespan starts they are frozen, and the app still answers (two
    tenants, each its own)."""
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40301))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as http,
    ):
        assert gc.get_freeze_count() > 10_000
        for email, slug in (("alice@acme.test", "acme"), ("bob@globex.test", "globex")):
            session = await login(http, email, host=f"{slug}.localhost")
            body = (await gql(http, VIEWER, session=session)).json()
            assert body["data"]["viewer"]["activeTenant"]["slug"] == slug
            assert body["data"]["viewer"]["role"] == "ADMIN"

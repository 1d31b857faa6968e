"""The platform dashboard is never answered without its audit row.

`tenantgraph_platform_analytics` writes the audit row before it answers, in the platform
connection's own transaction, committed at once: the row stays whatever happens to the rest of
the request. A document whose other field fails is rolled back as a whole (all or nothing):
such an answer carries no cross-tenant figure either, and the read it did is still on record."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import DemoData, error_codes, gql
from tests.schema.platform.test_platform import ROOT, platform_login

# `task` is nullable and refused in a platform session: it fails alone, the rest of the
# document would still be answered
WITH_A_FAILING_FIELD = """
query { platformAnalytics { tenants { slug tasksTotal revenueCents } } task(id: "nope") { id } }
"""
ALONE = "query { platformAnalytics { tenants { slug tasksTotal revenueCents } } }"


async def audited(owner_engine: AsyncEngine, request_id: str) -> list[tuple[uuid.UUID, str]]:
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT actor_user_id, action FROM platform_audit_logs WHERE request_id = :r"),
            {"r": request_id},
        )
        return [(r.actor_user_id, r.action) for r in rows]


async def test_a_failing_sibling_field_never_returns_unaudited_platform_figures(
    committing: httpx.AsyncClient, owner_engine: AsyncEngine, demo: DemoData
) -> None:
    session = await platform_login(committing)
    failing, alone = uuid.uuid4().hex, uuid.uuid4().hex
    try:
        # given a document whose other field fails, then the whole answer is rolled back...
        response = await gql(
            committing, WITH_A_FAILING_FIELD, session=session, headers={"X-Request-Id": failing}
        )
        body = response.json()
        assert error_codes(body) == ["FORBIDDEN"]
        # (the function ran, so its audit row is kept: it was committed before it answered)
        assert await audited(owner_engine, failing) == [(demo.users[ROOT], "platform.analytics")]
        # ...and so it carries no figure of any tenant either
        assert (body.get("data") or {}).get("platformAnalytics") is None, body
        assert "globex" not in response.text

        # the control: alone, the same field answers, and its audit row names the super-admin
        response = await gql(committing, ALONE, session=session, headers={"X-Request-Id": alone})
        body = response.json()
        assert "errors" not in body, body
        slugs = {t["slug"] for t in body["data"]["platformAnalytics"]["tenants"]}
        assert {"acme", "globex", "initech"} <= slugs
        assert await audited(owner_engine, alone) == [(demo.users[ROOT], "platform.analytics")]
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM platform_audit_logs WHERE actor_user_id = :u"),
                {"u": demo.users[ROOT]},
            )

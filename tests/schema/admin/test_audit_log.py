"""The audit log and health logs: acme's history never shows globex's rows and vice versa."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from schema.ids import decode_id
from tests.helpers import DemoData, error_codes, gql, login
from tests.schema.admin.conftest import counting_statements

AUDIT = """
query Audit($first: Int, $after: String, $filter: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id action targetType targetId requestId changes createdAt actor { id email } } }
  }
}
"""
HEALTH = """
query Health($first: Int, $after: String) {
  healthLogs(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id checkName status details createdAt } }
  }
}
"""


async def walk(
    client: httpx.AsyncClient, session, query: str, field: str, **variables
) -> list[dict]:  # type: ignore[no-untyped-def]
    nodes, after = [], None
    while True:
        body = (
            await gql(client, query, {**variables, "first": 100, "after": after}, session=session)
        ).json()
        assert "errors" not in body, body
        page = body["data"][field]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def committed_audit_ids(owner_conn: AsyncConnection, tenant_id) -> set:  # type: ignore[no-untyped-def]
    rows = await owner_conn.execute(
        text("SELECT id FROM audit_logs WHERE tenant_id = :t"), {"t": tenant_id}
    )
    return {r.id for r in rows}


async def test_each_admin_sees_only_its_tenants_history(
    client: httpx.AsyncClient, owner_conn: AsyncConnection, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    acme_rows = await committed_audit_ids(owner_conn, demo.tenants["acme"])
    globex_rows = await committed_audit_ids(owner_conn, demo.tenants["globex"])
    assert acme_rows
    assert globex_rows

    acme = await walk(client, alice, AUDIT, "auditLog")
    globex = await walk(client, bob, AUDIT, "auditLog")

    acme_ids = {decode_id("AuditEntry", n["id"]) for n in acme}
    globex_ids = {decode_id("AuditEntry", n["id"]) for n in globex}
    assert acme_rows <= acme_ids
    assert globex_rows <= globex_ids
    assert not acme_ids & globex_ids
    assert not acme_ids & globex_rows
    assert len(acme_ids) == len(acme)  # each entry once across pages
    created = [n["createdAt"] for n in acme]
    assert created == sorted(created, reverse=True)  # newest first
    # the two logins above are recorded, each in its own tenant only
    assert acme[0]["action"] == "auth.login"
    assert acme[0]["actor"]["email"] == "alice@acme.test"
    assert all(n["actor"] is None or n["actor"]["email"] != "bob@globex.test" for n in acme)


async def test_task_targets_are_opaque_task_ids(client: httpx.AsyncClient, demo: DemoData) -> None:
    alice = await login(client, "alice@acme.test")

    entries = await walk(client, alice, AUDIT, "auditLog", filter={"targetType": "task"})

    assert entries
    assert {decode_id("Task", n["targetId"]) for n in entries} <= demo.tasks["acme"]
    assert {n["action"] for n in entries} <= {"task.create", "task.update", "task.delete"}


async def test_filters(
    client: httpx.AsyncClient, owner_conn: AsyncConnection, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    acme = demo.tenants["acme"]
    expected_creates = (
        await owner_conn.execute(
            text("SELECT count(*) FROM audit_logs WHERE tenant_id = :t AND action = 'task.create'"),
            {"t": acme},
        )
    ).scalar_one()
    expected_carol = (
        await owner_conn.execute(
            text("SELECT count(*) FROM audit_logs WHERE tenant_id = :t AND actor_id = :a"),
            {"t": acme, "a": demo.users["carol@acme.test"]},
        )
    ).scalar_one()

    async def entries(flt: dict) -> dict:
        body = (await gql(client, AUDIT, {"first": 100, "filter": flt}, session=alice)).json()
        assert "errors" not in body, body
        return body["data"]["auditLog"]

    creates = await entries({"action": "task.create"})
    by_carol = await entries({"actorId": demo.user_gid("carol@acme.test")})
    by_bob = await entries({"actorId": demo.user_gid("bob@globex.test")})
    since = datetime.now(UTC) - timedelta(days=20)
    recent = await entries({"from": since.isoformat()})
    older = await entries({"to": since.isoformat()})
    everything = await entries({})

    assert creates["totalCount"] == expected_creates > 0
    assert {e["node"]["action"] for e in creates["edges"]} == {"task.create"}
    assert by_carol["totalCount"] == expected_carol > 0
    assert {e["node"]["actor"]["email"] for e in by_carol["edges"]} == {"carol@acme.test"}
    assert by_bob["totalCount"] == 0
    assert all(datetime.fromisoformat(e["node"]["createdAt"]) >= since for e in recent["edges"])
    assert recent["totalCount"] + older["totalCount"] == everything["totalCount"]
    assert recent["totalCount"] > 0
    assert older["totalCount"] > 0
    backwards = (
        await gql(
            client,
            AUDIT,
            {"filter": {"from": since.isoformat(), "to": (since - timedelta(days=1)).isoformat()}},
            session=alice,
        )
    ).json()
    assert error_codes(backwards) == ["BAD_USER_INPUT"]


async def test_an_admin_call_is_recorded_with_its_request_id(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")

    await gql(
        client,
        'mutation { updateOrganizationSettings(input: {locale: "fr"}) { locale } }',
        session=alice,
        headers={"X-Request-ID": "req-admin-0042"},
    )
    # (every request of a test shares one outer transaction, so `now()` ties with the login's)
    body = (
        await gql(
            client,
            AUDIT,
            {"first": 1, "filter": {"action": "settings.organization.update"}},
            session=alice,
        )
    ).json()

    entry = body["data"]["auditLog"]["edges"][0]["node"]
    assert entry["action"] == "settings.organization.update"
    assert entry["requestId"] == "req-admin-0042"
    assert entry["changes"] == {"locale": {"from": "en-GB", "to": "fr"}}
    assert entry["targetType"] == "organization_settings"
    assert entry["actor"]["email"] == "alice@acme.test"


async def test_health_logs_per_tenant(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    dave = await login(client, "dave@initech.test", host="initech.localhost")

    acme = (await gql(client, HEALTH, {"first": 4}, session=alice)).json()["data"]["healthLogs"]
    rest = (
        await gql(
            client, HEALTH, {"first": 4, "after": acme["pageInfo"]["endCursor"]}, session=alice
        )
    ).json()["data"]["healthLogs"]
    globex = (await gql(client, HEALTH, {"first": 100}, session=bob)).json()["data"]["healthLogs"]
    initech = (await gql(client, HEALTH, {"first": 100}, session=dave)).json()["data"]["healthLogs"]

    assert (acme["totalCount"], globex["totalCount"], initech["totalCount"]) == (6, 4, 2)
    assert acme["pageInfo"]["hasNextPage"] is True
    assert len(rest["edges"]) == 2
    assert rest["pageInfo"]["hasNextPage"] is False
    acme_ids = {e["node"]["id"] for e in acme["edges"] + rest["edges"]}
    assert len(acme_ids) == 6
    assert not acme_ids & {e["node"]["id"] for e in globex["edges"]}
    assert {e["node"]["status"] for e in acme["edges"] + rest["edges"]} <= {"OK", "WARNING"}


@pytest.mark.parametrize("query", [AUDIT, HEALTH])
async def test_only_admins_read_the_logs(client: httpx.AsyncClient, query: str) -> None:
    carol = await login(client, "carol@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")

    for session in (carol, dave):
        body = (await gql(client, query, {"first": 5}, session=session)).json()
        assert error_codes(body) == ["FORBIDDEN"], body
        assert body["data"] is None


async def test_statement_count_does_not_grow_with_page_size(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    alice = await login(client, "alice@acme.test")
    costs = {}
    for first in (2, 30):
        with counting_statements(runtime_conn) as statements:
            body = (await gql(client, AUDIT, {"first": first}, session=alice)).json()
        edges = body["data"]["auditLog"]["edges"]
        assert len(edges) == first
        assert len({e["node"]["actor"]["email"] for e in edges if e["node"]["actor"]}) >= 1
        costs[first] = len(statements)
    assert costs[2] == costs[30]
    # the context and the session check (one statement), the page, the count, one batched user load
    assert costs[30] <= 4

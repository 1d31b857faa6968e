"""Compliance records over HTTP, with acme (9 records), globex (6) and initech (3) in play."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from repositories.compliance_records import ComplianceRecordRepository
from schema.ids import decode_id, encode_id
from tests.helpers import DemoData, error_codes, gql, login
from tests.schema.work.support import StatementCounter, rows, scalar

RECORDS = """
query Records($first: Int, $after: String, $filter: ComplianceRecordFilter) {
  complianceRecords(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id title status dueAt overdue task { id title } createdBy { email } } }
  }
}
"""
RECORD = "query Record($id: ID!) { complianceRecord(id: $id) { id title status } }"
CREATE = """
mutation Create($input: CreateComplianceRecordInput!) {
  createComplianceRecord(input: $input) {
    id title category status dueAt notes overdue task { id } createdBy { email }
  }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: UpdateComplianceRecordInput!) {
  updateComplianceRecord(id: $id, input: $input) { id title status notes task { id } }
}
"""
DELETE = "mutation Delete($id: ID!) { deleteComplianceRecord(id: $id) }"


async def record_ids(conn: AsyncConnection, tenant_id: uuid.UUID, where: str = "true") -> set:
    found = await rows(conn, tenant_id, f"SELECT id FROM compliance_records WHERE {where}")
    return {r.id for r in found}


async def a_record(conn: AsyncConnection, tenant_id: uuid.UUID, where: str = "true") -> str:
    found = sorted(await record_ids(conn, tenant_id, where))
    assert found, where
    return encode_id("ComplianceRecord", found[0])


def ids_of(body: dict) -> set:
    return {
        decode_id("ComplianceRecord", e["node"]["id"])
        for e in body["data"]["complianceRecords"]["edges"]
    }


async def test_staff_and_admins_list_their_tenants_records_only(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme_ids = await record_ids(runtime_conn, demo.tenants["acme"])
    globex_ids = await record_ids(runtime_conn, demo.tenants["globex"])
    assert (len(acme_ids), len(globex_ids)) == (9, 6)
    for email, tenant in (("alice@acme.test", None), ("dave@initech.test", "acme")):
        session = await login(client, email, tenant=tenant)
        body = (await gql(client, RECORDS, {"first": 100}, session=session)).json()
        assert body["data"]["complianceRecords"]["totalCount"] == 9
        assert ids_of(body) == acme_ids
        # a linked task is always one of acme's
        linked = {
            decode_id("Task", e["node"]["task"]["id"])
            for e in body["data"]["complianceRecords"]["edges"]
            if e["node"]["task"]
        }
        assert linked
        assert linked <= demo.tasks["acme"]
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, RECORDS, {"first": 100}, session=bob)).json()
    assert body["data"]["complianceRecords"]["totalCount"] == 6
    assert ids_of(body) == globex_ids
    assert not ids_of(body) & acme_ids


async def test_pagination_walks_every_record_once(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    seen: list = []
    after = None
    while True:
        body = (await gql(client, RECORDS, {"first": 4, "after": after}, session=alice)).json()
        seen += list(ids_of(body))
        info = body["data"]["complianceRecords"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert sorted(seen) == sorted(await record_ids(runtime_conn, demo.tenants["acme"]))


async def test_clients_and_visitors_cannot_read_or_write_records(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    target = await a_record(runtime_conn, acme, "status = 'PENDING'")
    carol = await login(client, "carol@acme.test")
    for session, code in ((carol, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        for query, variables in (
            (RECORDS, {"first": 5}),
            (RECORD, {"id": target}),
            (CREATE, {"input": {"title": "by a client"}}),
            (UPDATE, {"id": target, "input": {"status": "WAIVED"}}),
            (DELETE, {"id": target}),
        ):
            body = (await gql(client, query, variables, session=session)).json()
            assert error_codes(body) == [code], query
            assert not any((body["data"] or {}).values())
    after = await rows(
        runtime_conn,
        acme,
        "SELECT status FROM compliance_records WHERE id = :i",
        {"i": decode_id("ComplianceRecord", target)},
    )
    assert [r.status for r in after] == ["PENDING"]
    assert len(await record_ids(runtime_conn, acme)) == 9
    assert not await record_ids(runtime_conn, acme, "title = 'by a client'")


async def test_another_tenants_record_is_null_and_not_writable(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    target = await a_record(runtime_conn, acme, "status = 'PENDING'")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, RECORD, {"id": target}, session=bob)).json()
    assert body == {"data": {"complianceRecord": None}}
    for query, variables in (
        (UPDATE, {"id": target, "input": {"status": "WAIVED"}}),
        (DELETE, {"id": target}),
    ):
        body = (await gql(client, query, variables, session=bob)).json()
        assert error_codes(body) == ["NOT_FOUND"]
        assert str(acme) not in str(body)
    stored = await rows(
        runtime_conn,
        acme,
        "SELECT status FROM compliance_records WHERE id = :i",
        {"i": decode_id("ComplianceRecord", target)},
    )
    assert [r.status for r in stored] == ["PENDING"]


async def test_filters(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    alice = await login(client, "alice@acme.test")

    async def found(flt: dict) -> set:
        body = (await gql(client, RECORDS, {"first": 100, "filter": flt}, session=alice)).json()
        assert "errors" not in body, body
        return ids_of(body)

    assert await found({"status": ["PENDING"]}) == await record_ids(
        runtime_conn, acme, "status = 'PENDING'"
    )
    overdue = await record_ids(
        runtime_conn,
        acme,
        "due_at < now() AND status NOT IN ('COMPLIANT', 'WAIVED')",
    )
    assert overdue
    assert await found({"overdue": True}) == overdue
    assert await found({"overdue": False}) == await record_ids(runtime_conn, acme) - overdue
    body = (
        await gql(client, RECORDS, {"first": 100, "filter": {"overdue": True}}, session=alice)
    ).json()
    assert all(e["node"]["overdue"] for e in body["data"]["complianceRecords"]["edges"])
    assert await found({"dueBefore": "2000-01-01T00:00:00Z"}) == set()
    assert await found({"dueBefore": "2999-01-01T00:00:00Z"}) == await record_ids(
        runtime_conn, acme, "due_at IS NOT NULL"
    )
    linked = (
        await rows(
            runtime_conn, acme, "SELECT task_id FROM compliance_records WHERE task_id IS NOT NULL"
        )
    )[0].task_id
    assert await found({"taskId": encode_id("Task", linked)}) == await record_ids(
        runtime_conn, acme, f"task_id = '{linked}'"
    )
    # another tenant's task matches nothing
    assert await found({"taskId": demo.task_gid("globex")}) == set()


async def test_staff_create_update_delete_with_audit(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    task = demo.task_gid("acme")
    dave = await login(client, "dave@initech.test", tenant="acme")  # acme STAFF
    created = (
        await gql(
            client,
            CREATE,
            {
                "input": {
                    "title": " Fire safety inspection ",
                    "category": "Facilities",
                    "dueAt": "2001-02-03T04:05:06Z",
                    "notes": "Annual.",
                    "taskId": task,
                }
            },
            session=dave,
        )
    ).json()["data"]["createComplianceRecord"]
    assert created["title"] == "Fire safety inspection"
    assert (created["status"], created["overdue"]) == ("PENDING", True)
    assert created["task"] == {"id": task}
    assert created["createdBy"] == {"email": "dave@initech.test"}

    alice = await login(client, "alice@acme.test")
    updated = (
        await gql(
            client,
            UPDATE,
            {"id": created["id"], "input": {"status": "COMPLIANT", "taskId": None, "notes": None}},
            session=alice,
        )
    ).json()["data"]["updateComplianceRecord"]
    assert (updated["status"], updated["task"], updated["notes"]) == ("COMPLIANT", None, None)
    assert (await gql(client, DELETE, {"id": created["id"]}, session=dave)).json() == {
        "data": {"deleteComplianceRecord": True}
    }
    assert (await gql(client, RECORD, {"id": created["id"]}, session=alice)).json() == {
        "data": {"complianceRecord": None}
    }
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT actor_id, action, changes FROM audit_logs WHERE target_id = :i",
        {"i": decode_id("ComplianceRecord", created["id"])},
    )
    by_action = {r.action: r for r in audit}
    assert set(by_action) == {
        "compliance_record.create",
        "compliance_record.update",
        "compliance_record.delete",
    }
    assert by_action["compliance_record.create"].actor_id == demo.users["dave@initech.test"]
    assert by_action["compliance_record.update"].actor_id == demo.users["alice@acme.test"]
    assert by_action["compliance_record.update"].changes["status"] == {
        "from": "PENDING",
        "to": "COMPLIANT",
    }


async def test_a_task_of_another_tenant_cannot_be_linked(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    foreign = demo.task_gid("globex")
    alice = await login(client, "alice@acme.test")
    body = (
        await gql(client, CREATE, {"input": {"title": "cross", "taskId": foreign}}, session=alice)
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert str(decode_id("Task", foreign)) not in str(body)
    target = await a_record(runtime_conn, acme)
    body = (
        await gql(client, UPDATE, {"id": target, "input": {"taskId": foreign}}, session=alice)
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert not await record_ids(
        runtime_conn, acme, f"title = 'cross' OR task_id = '{decode_id('Task', foreign)}'"
    )


async def test_the_composite_key_refuses_a_foreign_task_when_the_check_is_skipped(
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    demo: DemoData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_check(self: object, task_id: object) -> None:
        return None

    # given a repository whose own check is broken
    monkeypatch.setattr(ComplianceRecordRepository, "_check_task", no_check)
    alice = await login(client, "alice@acme.test")
    body = (
        await gql(
            client,
            CREATE,
            {"input": {"title": "past the check", "taskId": demo.task_gid("globex")}},
            session=alice,
        )
    ).json()
    # then the database refuses, and the answer names nothing of globex
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert str(demo.tenants["globex"]) not in str(body)
    assert not await record_ids(runtime_conn, demo.tenants["acme"], "title = 'past the check'")


async def test_the_composite_key_alone_refuses_a_foreign_task(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    globex_task = sorted(demo.tasks["globex"])[0]
    await scalar(runtime_conn, acme, "SELECT 1")  # bind the runtime role to acme
    for sql in (
        "INSERT INTO compliance_records (tenant_id, title, task_id) VALUES (:t, 'raw', :task)",
        "INSERT INTO service_requests (tenant_id, contact_email, description, task_id) "
        "VALUES (:t, 'v@example.org', 'raw', :task)",
    ):
        nested = await runtime_conn.begin_nested()
        with pytest.raises(DBAPIError, match="foreign key"):
            await runtime_conn.execute(text(sql), {"t": acme, "task": globex_task})
        await nested.rollback()


async def test_record_input_is_validated(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    for given in (
        {"title": "  "},
        {"title": "t" * 201},
        {"title": "ok", "category": "c" * 101},
        {"title": "ok", "taskId": "not-an-id"},
        {"title": "ok", "taskId": encode_id("Task", uuid.uuid4())},
    ):
        body = (await gql(client, CREATE, {"input": given}, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], given
    target = await a_record(runtime_conn, demo.tenants["acme"])
    for change in ({}, {"title": None}, {"status": None}):
        body = (await gql(client, UPDATE, {"id": target, "input": change}, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], change
    assert len(await record_ids(runtime_conn, demo.tenants["acme"])) == 9


async def test_statement_count_does_not_grow_with_page_size(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    alice = await login(client, "alice@acme.test")
    costs = {}
    for first in (4, 9):
        with StatementCounter(runtime_conn) as count:
            body = (await gql(client, RECORDS, {"first": first}, session=alice)).json()
            costs[first] = count()
        nodes = [e["node"] for e in body["data"]["complianceRecords"]["edges"]]
        assert len(nodes) == first
        assert any(n["task"] for n in nodes)
        assert all(n["createdBy"] for n in nodes)
    assert costs[4] == costs[9]
    # the context and the session check (one statement), the page, the count, users, tasks
    assert costs[9] <= 5

"""Bulk task operations and assignment: all or nothing, one audit row per task changed, with
acme (37 tasks), globex (23) and initech (11) in play."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from schema.ids import decode_id, encode_id
from tests.helpers import DemoData, error_codes, gql, login
from tests.schema.work.support import rows

BULK_UPDATE = """
mutation Bulk($ids: [ID!]!, $input: BulkUpdateTasksInput!) {
  bulkUpdateTasks(ids: $ids, input: $input) { id status priority assignee { email } }
}
"""
BULK_DELETE = "mutation BulkDelete($ids: [ID!]!) { bulkDeleteTasks(ids: $ids) }"
ASSIGN = """
mutation Assign($id: ID!, $assigneeId: ID) {
  assignTask(id: $id, assigneeId: $assigneeId) { id assignee { email } }
}
"""
TASK_COUNT = "query { tasks(first: 1) { totalCount } }"


def gids(ids: list[uuid.UUID]) -> list[str]:
    return [encode_id("Task", i) for i in ids]


async def task_state(conn: AsyncConnection, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> dict:
    found = await rows(
        conn,
        tenant_id,
        "SELECT id, status, priority, assignee_id, updated_at FROM tasks WHERE id = ANY(:ids)",
        {"ids": ids},
    )
    return {r.id: tuple(r) for r in found}


async def audit_count(conn: AsyncConnection, tenant_id: uuid.UUID, action: str) -> int:
    found = await rows(
        conn,
        tenant_id,
        "SELECT count(*) AS n FROM audit_logs WHERE action = :a AND request_id <> 'demo-seed'",
        {"a": action},
    )
    return int(found[0].n)


async def test_staff_update_many_tasks_with_one_audit_row_each(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    ids = sorted(demo.tasks["acme"])[:5]
    before = await task_state(runtime_conn, acme, ids)
    dave = await login(client, "dave@initech.test", tenant="acme")  # acme STAFF
    body = (
        await gql(
            client,
            BULK_UPDATE,
            {
                "ids": gids(ids),
                "input": {"priority": "URGENT", "assigneeId": demo.user_gid("alice@acme.test")},
            },
            session=dave,
        )
    ).json()
    updated = body["data"]["bulkUpdateTasks"]
    assert [decode_id("Task", t["id"]) for t in updated] == ids  # in the order given
    assert {t["priority"] for t in updated} == {"URGENT"}
    assert {t["assignee"]["email"] for t in updated} == {"alice@acme.test"}
    changed = [
        i for i in ids if before[i][2] != "URGENT" or before[i][3] != demo.users["alice@acme.test"]
    ]
    assert changed
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT target_id, actor_id FROM audit_logs WHERE action = 'task.update' "
        "AND target_id = ANY(:ids)",
        {"ids": ids},
    )
    assert sorted(r.target_id for r in audit) == sorted(changed)
    assert {r.actor_id for r in audit} == {demo.users["dave@initech.test"]}


async def test_admins_delete_many_tasks_with_one_audit_row_each(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    ids = sorted(demo.tasks["acme"])[:3]
    alice = await login(client, "alice@acme.test")
    # duplicates count once
    body = (
        await gql(client, BULK_DELETE, {"ids": gids(ids) + gids(ids[:1])}, session=alice)
    ).json()
    assert body == {"data": {"bulkDeleteTasks": 3}}
    assert await task_state(runtime_conn, acme, ids) == {}
    assert (await gql(client, TASK_COUNT, session=alice)).json()["data"]["tasks"][
        "totalCount"
    ] == 34
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT target_id FROM audit_logs WHERE action = 'task.delete' AND target_id = ANY(:ids)",
        {"ids": ids},
    )
    assert sorted(r.target_id for r in audit) == ids
    # globex is untouched
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    assert (await gql(client, TASK_COUNT, session=bob)).json()["data"]["tasks"]["totalCount"] == 23
    assert await audit_count(runtime_conn, globex, "task.delete") == 0


async def test_a_list_mixing_in_another_tenants_task_changes_nothing(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    own = sorted(demo.tasks["acme"])[:4]
    foreign = sorted(demo.tasks["globex"])[0]
    before = await task_state(runtime_conn, acme, own)
    foreign_before = await task_state(runtime_conn, globex, [foreign])
    alice = await login(client, "alice@acme.test")
    for query, variables in (
        (BULK_UPDATE, {"ids": gids([*own, foreign]), "input": {"status": "DONE"}}),
        (BULK_UPDATE, {"ids": gids([foreign, *own]), "input": {"assigneeId": None}}),
        (BULK_DELETE, {"ids": gids([*own, foreign])}),
        (BULK_DELETE, {"ids": gids([*own, uuid.uuid4()])}),  # unknown anywhere
    ):
        body = (await gql(client, query, variables, session=alice)).json()
        assert error_codes(body) == ["NOT_FOUND"], variables
        assert body["data"] is None
        assert str(foreign) not in str(body)
        assert str(globex) not in str(body)
    # then a follow-up read shows every task as it was, in both tenants
    assert await task_state(runtime_conn, acme, own) == before
    assert await task_state(runtime_conn, globex, [foreign]) == foreign_before
    assert (await gql(client, TASK_COUNT, session=alice)).json()["data"]["tasks"][
        "totalCount"
    ] == 37
    assert await audit_count(runtime_conn, acme, "task.update") == 0
    assert await audit_count(runtime_conn, acme, "task.delete") == 0


async def test_another_tenants_member_sees_only_not_found(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    ids = sorted(demo.tasks["acme"])[:2]
    before = await task_state(runtime_conn, acme, ids)
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    for query, variables in (
        (BULK_UPDATE, {"ids": gids(ids), "input": {"priority": "LOW"}}),
        (BULK_DELETE, {"ids": gids(ids)}),
        (ASSIGN, {"id": gids(ids)[0], "assigneeId": demo.user_gid("bob@globex.test")}),
    ):
        body = (await gql(client, query, variables, session=bob)).json()
        assert error_codes(body) == ["NOT_FOUND"], query
    assert await task_state(runtime_conn, acme, ids) == before


async def test_clients_and_visitors_cannot_use_bulk_operations(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    own = sorted(demo.created_by["carol@acme.test"])
    before = await task_state(runtime_conn, acme, own)
    carol = await login(client, "carol@acme.test")
    for session, code in ((carol, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        for query, variables in (
            (BULK_UPDATE, {"ids": gids(own), "input": {"status": "DONE"}}),
            (BULK_DELETE, {"ids": gids(own)}),
            (ASSIGN, {"id": gids(own)[0], "assigneeId": None}),
        ):
            body = (await gql(client, query, variables, session=session)).json()
            assert error_codes(body) == [code], query
    assert await task_state(runtime_conn, acme, own) == before


async def test_bulk_input_is_validated(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    ids = sorted(demo.tasks["acme"])
    before = await task_state(runtime_conn, acme, ids)
    alice = await login(client, "alice@acme.test")
    too_many = gids([*ids, *(uuid.uuid4() for _ in range(101 - len(ids)))])
    for query, variables in (
        (BULK_UPDATE, {"ids": [], "input": {"status": "DONE"}}),
        (BULK_UPDATE, {"ids": too_many, "input": {"status": "DONE"}}),
        (BULK_UPDATE, {"ids": gids(ids[:2]), "input": {}}),
        (BULK_UPDATE, {"ids": ["garbage"], "input": {"status": "DONE"}}),
        (
            BULK_UPDATE,
            {"ids": gids(ids[:2]), "input": {"assigneeId": demo.user_gid("bob@globex.test")}},
        ),
        (BULK_DELETE, {"ids": []}),
        (BULK_DELETE, {"ids": too_many}),
        (BULK_DELETE, {"ids": [demo.user_gid("alice@acme.test")]}),
    ):
        body = (await gql(client, query, variables, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], variables
    assert await task_state(runtime_conn, acme, ids) == before


async def test_a_hundred_ids_are_accepted(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    real = sorted(demo.tasks["acme"])
    before = await task_state(runtime_conn, acme, real)
    alice = await login(client, "alice@acme.test")
    # 37 real ids and 63 unknown: a hundred is not too many, but the unknown ones fail the call
    ids = [*real, *(uuid.uuid4() for _ in range(63))]
    body = (await gql(client, BULK_DELETE, {"ids": gids(ids)}, session=alice)).json()
    assert error_codes(body) == ["NOT_FOUND"]
    assert await task_state(runtime_conn, acme, real) == before
    body = (
        await gql(
            client, BULK_UPDATE, {"ids": gids(real), "input": {"status": "BLOCKED"}}, session=alice
        )
    ).json()
    assert [t["status"] for t in body["data"]["bulkUpdateTasks"]] == ["BLOCKED"] * 37
    # one audit row per task that actually changed
    changed = [i for i in real if before[i][1] != "BLOCKED"]
    assert 0 < len(changed) < 37
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT target_id FROM audit_logs WHERE action = 'task.update' AND request_id <> 'demo-seed'",
    )
    assert sorted(r.target_id for r in audit) == sorted(changed)


async def test_assign_and_unassign(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    task = sorted(demo.tasks["acme"])[0]
    assigned_before = (await task_state(runtime_conn, acme, [task]))[task][3]
    dave = await login(client, "dave@initech.test", tenant="acme")
    body = (
        await gql(
            client,
            ASSIGN,
            {"id": encode_id("Task", task), "assigneeId": demo.user_gid("dave@initech.test")},
            session=dave,
        )
    ).json()
    assert body["data"]["assignTask"]["assignee"] == {"email": "dave@initech.test"}
    body = (
        await gql(
            client,
            ASSIGN,
            {"id": encode_id("Task", task), "assigneeId": demo.user_gid("bob@globex.test")},
            session=dave,
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = (
        await gql(client, ASSIGN, {"id": encode_id("Task", task), "assigneeId": None}, session=dave)
    ).json()
    assert body["data"]["assignTask"]["assignee"] is None
    state = await task_state(runtime_conn, acme, [task])
    assert state[task][3] is None
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT changes FROM audit_logs WHERE action = 'task.update' AND target_id = :i "
        "ORDER BY created_at",
        {"i": task},
    )
    dave_id = demo.users["dave@initech.test"]
    expected = ([] if assigned_before == dave_id else [str(dave_id)]) + [None]
    moves = [r.changes["assignee_id"]["to"] for r in audit if "assignee_id" in r.changes]
    assert moves == expected

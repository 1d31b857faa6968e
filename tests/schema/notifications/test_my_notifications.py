"""A member reads and marks only their own notifications, in the active organization only; row-
level security says so too, without the repository's filter."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.jobs import registry
from schema.ids import decode_id, encode_id
from tests.helpers import DemoData, error_codes, gql, login
from tests.jobs.support import as_tenant, demo_tenants, rows_in, run

MY_NOTIFICATIONS = """
query($first: Int, $after: String, $unreadOnly: Boolean! = false) {
  myNotifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
    totalCount
    edges { node { id kind message subjectId dueAt readAt createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MARK_READ = "mutation($id: ID!) { markNotificationRead(id: $id) { id readAt } }"


async def remind(runtime_conn: AsyncConnection, demo: DemoData) -> None:
    """Reminders in every demo tenant: overdue tasks (an extra one for alice in globex, where she
    is STAFF) and compliance dates."""
    await as_tenant(runtime_conn, demo.tenants["globex"])
    await runtime_conn.execute(
        text(
            "INSERT INTO tasks (tenant_id, title, due_at, assignee_id) "
            "VALUES (:t, 'Late in globex for alice', :due, :alice)"
        ),
        {
            "t": demo.tenants["globex"],
            "due": datetime.now(UTC) - timedelta(days=1),
            "alice": demo.users["alice@acme.test"],
        },
    )
    tenants = demo_tenants(demo, "acme", "globex", "initech")
    for name in ("overdue-task-reminders", "compliance-due-dates"):
        report = await run(runtime_conn, registry.get(name), tenants)
        assert report.succeeded


async def own_ids(
    conn: AsyncConnection, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> set[uuid.UUID]:
    rows = await rows_in(
        conn, tenant_id, "SELECT id FROM notifications WHERE user_id = :u", {"u": user_id}
    )
    return {r.id for r in rows}


async def all_pages(client: httpx.AsyncClient, session: object, **variables: object) -> set[str]:
    seen: set[str] = set()
    after = None
    while True:
        body = (
            await gql(
                client,
                MY_NOTIFICATIONS,
                {"first": 7, "after": after, **variables},
                session=session,  # type: ignore[arg-type]
            )
        ).json()
        assert "errors" not in body, body
        page = body["data"]["myNotifications"]
        seen |= {edge["node"]["id"] for edge in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_each_member_reads_their_own_notifications_in_the_active_tenant(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    await remind(runtime_conn, demo)
    alice, bob = demo.users["alice@acme.test"], demo.users["bob@globex.test"]
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    expected = {
        ("alice", "acme"): await own_ids(runtime_conn, acme, alice),
        ("alice", "globex"): await own_ids(runtime_conn, globex, alice),
        ("bob", "globex"): await own_ids(runtime_conn, globex, bob),
    }
    # alice has some in both of her tenants, and bob has some in globex
    assert all(expected.values())
    assert len(expected[("alice", "acme")]) != len(expected[("alice", "globex")])

    sessions = {
        ("alice", "acme"): await login(client, "alice@acme.test"),
        ("alice", "globex"): await login(client, "alice@acme.test", host="globex.localhost"),
        ("bob", "globex"): await login(client, "bob@globex.test", host="globex.localhost"),
    }
    for key, session in sessions.items():
        seen = await all_pages(client, session)
        assert {decode_id("Notification", gid) for gid in seen} == expected[key], key
        body = (await gql(client, MY_NOTIFICATIONS, {"first": 1}, session=session)).json()
        assert body["data"]["myNotifications"]["totalCount"] == len(expected[key])
    # a node names what it is about, by the id the API uses for it
    body = (
        await gql(client, MY_NOTIFICATIONS, {"first": 100}, session=sessions[("bob", "globex")])
    ).json()
    kinds = {edge["node"]["kind"] for edge in body["data"]["myNotifications"]["edges"]}
    assert kinds <= {"TASK_OVERDUE", "COMPLIANCE_DUE", "COMPLIANCE_OVERDUE"}
    task_nodes = [
        e["node"]
        for e in body["data"]["myNotifications"]["edges"]
        if e["node"]["kind"] == "TASK_OVERDUE"
    ]
    globex_tasks = {encode_id("Task", t) for t in demo.tasks["globex"]}
    assert task_nodes
    assert all(node["subjectId"] in globex_tasks for node in task_nodes)
    # carol (a client of acme with no reminders) has none
    carol = await login(client, "carol@acme.test")
    body = (await gql(client, MY_NOTIFICATIONS, {}, session=carol)).json()
    assert body["data"]["myNotifications"] == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }
    anonymous = (await gql(client, MY_NOTIFICATIONS, {})).json()
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]


async def test_marking_read_is_for_the_recipient_only(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    await remind(runtime_conn, demo)
    acme = demo.tenants["acme"]
    alice_id = demo.users["alice@acme.test"]
    target = sorted(await own_ids(runtime_conn, acme, alice_id))[0]
    gid = encode_id("Notification", target)
    alice = await login(client, "alice@acme.test")
    unread_before = (
        await gql(client, MY_NOTIFICATIONS, {"first": 1, "unreadOnly": True}, session=alice)
    ).json()["data"]["myNotifications"]["totalCount"]

    # Another member of acme, and a member of globex, cannot mark it: NOT_FOUND, as if missing
    for session in (
        await login(client, "dave@initech.test", tenant="acme"),
        await login(client, "bob@globex.test", host="globex.localhost"),
    ):
        body = (await gql(client, MARK_READ, {"id": gid}, session=session)).json()
        assert error_codes(body) == ["NOT_FOUND"]
    read_at = await rows_in(
        runtime_conn, acme, "SELECT read_at FROM notifications WHERE id = :n", {"n": target}
    )
    assert read_at[0].read_at is None

    # alice can; marking again keeps the first time
    first = (await gql(client, MARK_READ, {"id": gid}, session=alice)).json()
    assert "errors" not in first, first
    assert first["data"]["markNotificationRead"]["readAt"] is not None
    second = (await gql(client, MARK_READ, {"id": gid}, session=alice)).json()
    assert (
        second["data"]["markNotificationRead"]["readAt"]
        == (first["data"]["markNotificationRead"]["readAt"])
    )
    unread_after = (
        await gql(client, MY_NOTIFICATIONS, {"first": 1, "unreadOnly": True}, session=alice)
    ).json()["data"]["myNotifications"]["totalCount"]
    assert unread_after == unread_before - 1
    audit = await rows_in(
        runtime_conn,
        acme,
        "SELECT actor_id FROM audit_logs WHERE action = 'notification.read' AND target_id = :n",
        {"n": target},
    )
    assert [r.actor_id for r in audit] == [alice_id]  # once: the second call changed nothing


async def test_row_level_security_keeps_a_member_to_their_own_notifications(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    await remind(runtime_conn, demo)
    acme = demo.tenants["acme"]
    alice, dave = demo.users["alice@acme.test"], demo.users["dave@initech.test"]
    everyone = await rows_in(runtime_conn, acme, "SELECT user_id FROM notifications")
    assert {r.user_id for r in everyone} >= {alice, dave}

    # bound to acme as dave, with no filter in the query: only dave's rows
    await runtime_conn.execute(
        text(
            "SELECT set_config('app.current_tenant_id', :t, true),"
            " set_config('app.current_user_id', :u, true)"
        ),
        {"t": str(acme), "u": str(dave)},
    )
    seen = (await runtime_conn.execute(text("SELECT user_id FROM notifications"))).all()
    assert seen
    assert {r.user_id for r in seen} == {dave}
    changed = await runtime_conn.execute(
        text("UPDATE notifications SET read_at = now() WHERE user_id = :alice"), {"alice": alice}
    )
    assert changed.rowcount == 0


async def test_deleting_the_subject_deletes_its_notifications(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    await remind(runtime_conn, demo)
    acme = demo.tenants["acme"]
    reminded = await rows_in(
        runtime_conn, acme, "SELECT task_id FROM notifications WHERE task_id IS NOT NULL"
    )
    task = sorted({r.task_id for r in reminded})[0]
    alice = await login(client, "alice@acme.test")

    # the runtime role may not delete notifications, but deleting a task takes its reminders
    deleted = (
        await gql(
            client,
            "mutation($id: ID!) { deleteTask(id: $id) }",
            {"id": encode_id("Task", task)},
            session=alice,
        )
    ).json()
    assert deleted == {"data": {"deleteTask": True}}
    left = await rows_in(
        runtime_conn, acme, "SELECT id FROM notifications WHERE task_id = :t", {"t": task}
    )
    assert left == []

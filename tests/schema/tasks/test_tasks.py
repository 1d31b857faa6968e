"""Tasks over HTTP, always with two or more tenants of different sizes in play."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from schema.ids import decode_id, encode_id
from schema.pagination import encode_cursor
from tests.helpers import DemoData, Session, error_codes, gql, login, set_cookie_value
from tests.schema.admin.conftest import counting_statements

TASKS = """
query Tasks($first: Int, $after: String, $filter: TaskFilter) {
  tasks(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id title status priority dueAt assignee { id email } createdBy { email } } }
  }
}
"""
TASK = "query Task($id: ID!) { task(id: $id) { id title } }"
CREATE = """
mutation Create($input: CreateTaskInput!) {
  createTask(input: $input) { id title status priority assignee { email } createdBy { email } }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: UpdateTaskInput!) {
  updateTask(id: $id, input: $input) { id title status assignee { email } }
}
"""
DELETE = "mutation Delete($id: ID!) { deleteTask(id: $id) }"


def ids_of(body: dict) -> set:
    return {decode_id("Task", e["node"]["id"]) for e in body["data"]["tasks"]["edges"]}


async def all_task_ids(client: httpx.AsyncClient, session) -> set:
    seen, after = set(), None
    while True:
        body = (await gql(client, TASKS, {"first": 10, "after": after}, session=session)).json()
        assert "errors" not in body, body
        seen |= ids_of(body)
        info = body["data"]["tasks"]["pageInfo"]
        if not info["hasNextPage"]:
            return seen
        after = info["endCursor"]


async def test_alice_sees_only_acme_then_only_globex_after_switching(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, TASKS, {"first": 100}, session=alice)).json()
    assert body["data"]["tasks"]["totalCount"] == 37
    assert ids_of(body) == demo.tasks["acme"]
    assert not ids_of(body) & (demo.tasks["globex"] | demo.tasks["initech"])

    response = await gql(
        client,
        "mutation($t: ID!) { switchTenant(tenantId: $t) { token viewer { activeTenant { slug } role } } }",
        {"t": demo.tenant_gid("globex")},
        session=alice,
    )
    switched = response.json()["data"]["switchTenant"]
    assert switched["viewer"] == {"activeTenant": {"slug": "globex"}, "role": "STAFF"}
    globex = Session(switched["token"], set_cookie_value(response) or "", "globex.localhost")
    body = (await gql(client, TASKS, {"first": 100}, session=globex)).json()
    assert body["data"]["tasks"]["totalCount"] == 23
    assert ids_of(body) == demo.tasks["globex"]
    assert not ids_of(body) & demo.tasks["acme"]


async def test_pagination_walks_every_task_once(client: httpx.AsyncClient, demo: DemoData) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    assert await all_task_ids(client, bob) == demo.tasks["globex"]


async def test_client_sees_only_the_tasks_it_created(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    carol = await login(client, "carol@acme.test")
    body = (await gql(client, TASKS, {"first": 100}, session=carol)).json()
    own = demo.created_by["carol@acme.test"]
    assert own, "the demo data gives carol some tasks"
    assert ids_of(body) == own
    assert body["data"]["tasks"]["totalCount"] == len(own) < 37
    someone_elses = sorted(demo.tasks["acme"] - own)[0]
    body = (await gql(client, TASK, {"id": encode_id("Task", someone_elses)}, session=carol)).json()
    assert body == {"data": {"task": None}}


async def test_client_cannot_create_update_or_delete(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    carol = await login(client, "carol@acme.test")
    own = encode_id("Task", sorted(demo.created_by["carol@acme.test"])[0])
    for query, variables in (
        (CREATE, {"input": {"title": "from a client"}}),
        (UPDATE, {"id": own, "input": {"title": "edited by a client"}}),
        (DELETE, {"id": own}),
    ):
        body = (await gql(client, query, variables, session=carol)).json()
        assert error_codes(body) == ["FORBIDDEN"], body
        assert body["data"] is None
    alice = await login(client, "alice@acme.test")
    titles = {
        e["node"]["title"]
        for e in (await gql(client, TASKS, {"first": 100}, session=alice)).json()["data"]["tasks"][
            "edges"
        ]
    }
    assert "from a client" not in titles
    assert "edited by a client" not in titles


async def test_another_tenants_task_is_null_not_forbidden(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    acme_task = demo.task_gid("acme")
    body = (await gql(client, TASK, {"id": acme_task}, session=bob)).json()
    assert body == {"data": {"task": None}}
    own = demo.task_gid("globex")
    body = (await gql(client, TASK, {"id": own}, session=bob)).json()
    assert body["data"]["task"]["id"] == own
    # writes answer NOT_FOUND, exactly like a task that never existed
    for query, variables in (
        (UPDATE, {"id": acme_task, "input": {"title": "x"}}),
        (DELETE, {"id": acme_task}),
    ):
        body = (await gql(client, query, variables, session=bob)).json()
        assert error_codes(body) == ["NOT_FOUND"]
        assert str(demo.tenants["acme"]) not in str(body)


async def test_staff_create_update_delete_with_audit(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    dave = await login(client, "dave@initech.test", tenant="acme")
    response = await gql(
        client,
        CREATE,
        {
            "input": {
                "title": "  File the March return  ",
                "priority": "HIGH",
                "assigneeId": demo.user_gid("alice@acme.test"),
            }
        },
        session=dave,
        headers={"X-Request-ID": "req-create-0001"},
    )
    created = response.json()["data"]["createTask"]
    assert created["title"] == "File the March return"
    assert created["status"] == "TODO"
    assert created["assignee"] == {"email": "alice@acme.test"}
    assert created["createdBy"] == {"email": "dave@initech.test"}

    updated = (
        await gql(
            client,
            UPDATE,
            {"id": created["id"], "input": {"status": "DONE", "assigneeId": None}},
            session=dave,
        )
    ).json()["data"]["updateTask"]
    assert updated["status"] == "DONE"
    assert updated["assignee"] is None
    assert (await gql(client, DELETE, {"id": created["id"]}, session=dave)).json() == {
        "data": {"deleteTask": True}
    }
    assert (await gql(client, TASK, {"id": created["id"]}, session=dave)).json() == {
        "data": {"task": None}
    }

    task_id = decode_id("Task", created["id"])
    await runtime_conn.execute(
        text("SELECT set_config('app.current_tenant_id', :t, true)"),
        {"t": str(demo.tenants["acme"])},
    )
    rows = (
        await runtime_conn.execute(
            text(
                "SELECT tenant_id, actor_id, action, request_id, changes FROM audit_logs "
                "WHERE target_id = :i ORDER BY created_at, action"
            ),
            {"i": task_id},
        )
    ).all()
    assert [r.action for r in rows] == ["task.create", "task.delete", "task.update"] or [
        r.action for r in rows
    ] == ["task.create", "task.update", "task.delete"]
    assert {r.tenant_id for r in rows} == {demo.tenants["acme"]}
    assert {r.actor_id for r in rows} == {demo.users["dave@initech.test"]}
    assert rows[0].request_id == "req-create-0001"
    update_row = next(r for r in rows if r.action == "task.update")
    assert update_row.changes["status"] == {"from": "TODO", "to": "DONE"}


async def test_assignee_from_another_tenant_is_rejected(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    body = (
        await gql(
            client,
            CREATE,
            {"input": {"title": "cross", "assigneeId": demo.user_gid("bob@globex.test")}},
            session=alice,
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert str(demo.users["bob@globex.test"]) not in str(body)
    assert (await gql(client, TASKS, {"first": 1}, session=alice)).json()["data"]["tasks"][
        "totalCount"
    ] == 37


async def test_failed_mutation_writes_nothing(client: httpx.AsyncClient, demo: DemoData) -> None:
    alice = await login(client, "alice@acme.test")
    document = """
    mutation($other: ID!) {
      a: createTask(input: {title: "first write"}) { id }
      b: updateTask(id: $other, input: {title: "x"}) { id }
    }
    """
    body = (await gql(client, document, {"other": demo.task_gid("globex")}, session=alice)).json()
    assert error_codes(body) == ["NOT_FOUND"]
    tasks = (
        await gql(client, TASKS, {"first": 100, "filter": {"search": "first write"}}, session=alice)
    ).json()
    assert tasks["data"]["tasks"]["totalCount"] == 0


@pytest.mark.parametrize("first", [0, -1, 101, 1000])
async def test_page_size_is_bounded(client: httpx.AsyncClient, first: int) -> None:
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, TASKS, {"first": first}, session=alice)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_bad_ids_and_cursors_are_bad_input(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    for query, variables in (
        (TASK, {"id": "not-an-id"}),
        (TASK, {"id": encode_id("User", uuid.uuid4())}),
        (TASKS, {"after": "garbage"}),
    ):
        body = (await gql(client, query, variables, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], body


async def test_filters(client: httpx.AsyncClient, demo: DemoData) -> None:
    alice = await login(client, "alice@acme.test")

    async def count(flt: dict) -> int:
        body = (await gql(client, TASKS, {"first": 1, "filter": flt}, session=alice)).json()
        return body["data"]["tasks"]["totalCount"]

    by_status = [await count({"status": [s]}) for s in ("TODO", "IN_PROGRESS", "BLOCKED", "DONE")]
    assert sum(by_status) == 37
    assert all(n > 0 for n in by_status)
    assert await count({"overdue": True}) > 0
    assert await count({"overdue": True}) + await count({"overdue": False}) == 37
    assert await count({"unassigned": True}) + await count({"unassigned": False}) == 37
    assert await count({"assigneeId": demo.user_gid("alice@acme.test")}) > 0
    assert await count({"search": "%"}) == 0  # LIKE wildcards are literal


async def test_statement_count_does_not_grow_with_page_size(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    alice = await login(client, "alice@acme.test")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sync_conn = runtime_conn.sync_connection
    assert sync_conn is not None
    event.listen(sync_conn, "before_cursor_execute", count)
    try:
        costs = {}
        for first in (5, 50):
            statements.clear()
            body = (await gql(client, TASKS, {"first": first}, session=alice)).json()
            assert len(body["data"]["tasks"]["edges"]) == min(first, 37)
            costs[first] = len(statements)
    finally:
        event.remove(sync_conn, "before_cursor_execute", count)
    assert costs[5] == costs[50]
    # the context with the session check (one statement), the page, the count (asked for by
    # `totalCount`), one batched user load (the host's tenant is cached after the login)
    assert costs[50] <= 4


async def test_unstorable_values_are_bad_input_not_internal(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    far_past = datetime(1, 1, 1, tzinfo=UTC)
    bad = [
        (CREATE, {"input": {"title": "nul \u0000 byte"}}),
        (CREATE, {"input": {"title": "ok", "description": "nul \u0000"}}),
        (CREATE, {"input": {"title": "ok", "dueAt": "0001-01-01T00:00:00+14:00"}}),
        (CREATE, {"input": {"title": "ok", "dueAt": "9999-12-31T23:59:59-14:00"}}),
        (TASKS, {"filter": {"search": "\u0000"}}),
    ]
    for query, variables in bad:
        body = (await gql(client, query, variables, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], (variables, body)
    # a cursor from the year 1 is merely past every row
    body = (
        await gql(client, TASKS, {"after": encode_cursor(far_past, uuid.uuid4())}, session=alice)
    ).json()
    assert body["data"]["tasks"]["edges"] == []
    huge = (
        await gql(client, TASKS, {"filter": {"status": ["TODO"] * 40_000}}, session=alice)
    ).json()
    assert "errors" not in huge
    assert huge["data"]["tasks"]["totalCount"] > 0


DIRECT_USERS = """
query { tasks(first: 50) { edges { node { id assignee { email } createdBy { email } } } } }
"""
FRAGMENT_USERS = """
query {
  tasks(first: 50) { edges { node { id ...People ... on Task { createdBy { email } } } } }
}
fragment People on Task { assignee { email } }
"""
NO_USERS = "query { tasks(first: 50) { edges { node { id title } } } }"


async def test_a_page_loads_its_people_in_one_batch_whatever_the_document_shape(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    # given two tenants' admins, each asking for their page's people directly and through
    # fragments, and a page that asks for no people at all
    for email, host, slug in (
        ("alice@acme.test", "acme.localhost", "acme"),
        ("bob@globex.test", "globex.localhost", "globex"),
    ):
        session = await login(client, email, host=host)
        answers, costs = {}, {}
        for name, query in (
            ("direct", DIRECT_USERS),
            ("fragments", FRAGMENT_USERS),
            ("none", NO_USERS),
        ):
            with counting_statements(runtime_conn) as statements:
                body = (await gql(client, query, session=session)).json()
            assert "errors" not in body, body
            answers[name] = body["data"]["tasks"]["edges"]
            costs[name] = statements
        # then both shapes answer the same people, in one users statement
        assert answers["direct"] == answers["fragments"]
        for name in ("direct", "fragments"):
            assert sum("SELECT users.id, users.email" in s for s in costs[name]) == 1, costs[name]
            assert len(costs[name]) == 3
        # and a page without people reads no user at all
        assert not any("SELECT users.id, users.email" in s for s in costs["none"])
        assert len(costs["none"]) == 2
        # only that tenant's tasks, and someone assigned among them
        ids = {decode_id("Task", e["node"]["id"]) for e in answers["direct"]}
        assert ids <= demo.tasks[slug]
        assert not ids & demo.tasks["initech"]
        assert any(e["node"]["assignee"] for e in answers["direct"])

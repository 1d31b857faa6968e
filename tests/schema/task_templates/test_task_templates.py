"""Task templates over HTTP, with acme (4 templates), globex (3) and initech (2) in play."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from schema.ids import decode_id, encode_id
from tests.helpers import DemoData, error_codes, gql, login
from tests.schema.work.support import rows, scalar

TEMPLATES = """
query Templates($first: Int, $after: String) {
  taskTemplates(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name title priority dueInDays } }
  }
}
"""
TEMPLATE = "query Template($id: ID!) { taskTemplate(id: $id) { id name } }"
CREATE = """
mutation Create($input: CreateTaskTemplateInput!) {
  createTaskTemplate(input: $input) { id name title description priority dueInDays }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: UpdateTaskTemplateInput!) {
  updateTaskTemplate(id: $id, input: $input) { id name title description priority dueInDays }
}
"""
DELETE = "mutation Delete($id: ID!) { deleteTaskTemplate(id: $id) }"
FROM_TEMPLATE = """
mutation FromTemplate($templateId: ID!, $input: CreateTaskFromTemplateInput) {
  createTaskFromTemplate(templateId: $templateId, input: $input) {
    id title description priority status dueAt assignee { email } createdBy { email }
  }
}
"""
TASK_COUNT = "query { tasks(first: 1) { totalCount } }"


async def template_ids(conn: AsyncConnection, tenant_id: uuid.UUID) -> set:
    return {r.id for r in await rows(conn, tenant_id, "SELECT id FROM task_templates")}


async def a_template(conn: AsyncConnection, tenant_id: uuid.UUID, name: str) -> str:
    found = await rows(
        conn, tenant_id, "SELECT id FROM task_templates WHERE name = :n", {"n": name}
    )
    return encode_id("TaskTemplate", found[0].id)


def ids_of(body: dict) -> set:
    return {
        decode_id("TaskTemplate", e["node"]["id"]) for e in body["data"]["taskTemplates"]["edges"]
    }


async def test_staff_and_admins_list_their_tenants_templates_only(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme_ids = await template_ids(runtime_conn, demo.tenants["acme"])
    globex_ids = await template_ids(runtime_conn, demo.tenants["globex"])
    assert (len(acme_ids), len(globex_ids)) == (4, 3)
    for email, tenant in (("alice@acme.test", None), ("dave@initech.test", "acme")):
        session = await login(client, email, tenant=tenant)
        body = (await gql(client, TEMPLATES, {"first": 100}, session=session)).json()
        assert body["data"]["taskTemplates"]["totalCount"] == 4
        assert ids_of(body) == acme_ids
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, TEMPLATES, {"first": 100}, session=bob)).json()
    assert body["data"]["taskTemplates"]["totalCount"] == 3
    assert ids_of(body) == globex_ids
    assert not ids_of(body) & acme_ids
    # pages of two walk all four once
    alice = await login(client, "alice@acme.test")
    first = (await gql(client, TEMPLATES, {"first": 2}, session=alice)).json()
    cursor = first["data"]["taskTemplates"]["pageInfo"]["endCursor"]
    second = (await gql(client, TEMPLATES, {"first": 2, "after": cursor}, session=alice)).json()
    assert ids_of(first) | ids_of(second) == acme_ids
    assert not second["data"]["taskTemplates"]["pageInfo"]["hasNextPage"]


async def test_clients_and_visitors_cannot_read_templates(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    template = await a_template(runtime_conn, demo.tenants["acme"], "Monthly close")
    carol = await login(client, "carol@acme.test")
    for session, code in ((carol, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        for query, variables in ((TEMPLATES, {"first": 5}), (TEMPLATE, {"id": template})):
            body = (await gql(client, query, variables, session=session)).json()
            assert error_codes(body) == [code]
            assert "Monthly close" not in str(body)


async def test_another_tenants_template_is_null_and_not_writable(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    template = await a_template(runtime_conn, acme, "Client onboarding")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, TEMPLATE, {"id": template}, session=bob)).json()
    assert body == {"data": {"taskTemplate": None}}
    for query, variables in (
        (UPDATE, {"id": template, "input": {"name": "mine now"}}),
        (DELETE, {"id": template}),
        (FROM_TEMPLATE, {"templateId": template}),
    ):
        body = (await gql(client, query, variables, session=bob)).json()
        assert error_codes(body) == ["NOT_FOUND"], query
        assert str(acme) not in str(body)
    names = {r.name for r in await rows(runtime_conn, acme, "SELECT name FROM task_templates")}
    assert names == {"Client onboarding", "Monthly close", "VAT filing", "Annual review"}
    assert (await gql(client, TASK_COUNT, session=bob)).json()["data"]["tasks"]["totalCount"] == 23


async def test_admins_manage_templates_with_audit(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    alice = await login(client, "alice@acme.test")
    created = (
        await gql(
            client,
            CREATE,
            {
                "input": {
                    "name": " Quarterly review ",
                    "title": "Quarterly client review",
                    "priority": "HIGH",
                    "dueInDays": 10,
                }
            },
            session=alice,
        )
    ).json()["data"]["createTaskTemplate"]
    assert created["name"] == "Quarterly review"
    assert (created["priority"], created["dueInDays"]) == ("HIGH", 10)
    updated = (
        await gql(
            client,
            UPDATE,
            {"id": created["id"], "input": {"description": "Agenda first.", "dueInDays": None}},
            session=alice,
        )
    ).json()["data"]["updateTaskTemplate"]
    assert (updated["description"], updated["dueInDays"], updated["name"]) == (
        "Agenda first.",
        None,
        "Quarterly review",
    )
    assert (await gql(client, DELETE, {"id": created["id"]}, session=alice)).json() == {
        "data": {"deleteTaskTemplate": True}
    }
    assert (await gql(client, TEMPLATE, {"id": created["id"]}, session=alice)).json() == {
        "data": {"taskTemplate": None}
    }
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT actor_id, action FROM audit_logs WHERE target_id = :i ORDER BY created_at, action",
        {"i": decode_id("TaskTemplate", created["id"])},
    )
    assert {r.action for r in audit} == {
        "task_template.create",
        "task_template.update",
        "task_template.delete",
    }
    assert {r.actor_id for r in audit} == {demo.users["alice@acme.test"]}


async def test_only_admins_write_templates(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    template = await a_template(runtime_conn, demo.tenants["acme"], "VAT filing")
    dave = await login(client, "dave@initech.test", tenant="acme")  # acme STAFF
    carol = await login(client, "carol@acme.test")
    for session in (dave, carol):
        for query, variables in (
            (CREATE, {"input": {"name": "n", "title": "t"}}),
            (UPDATE, {"id": template, "input": {"title": "changed"}}),
            (DELETE, {"id": template}),
        ):
            body = (await gql(client, query, variables, session=session)).json()
            assert error_codes(body) == ["FORBIDDEN"]
    stored = await rows(
        runtime_conn, demo.tenants["acme"], "SELECT name, title FROM task_templates ORDER BY name"
    )
    assert len(stored) == 4
    assert ("VAT filing", "Prepare VAT filing") in [tuple(r) for r in stored]


async def test_names_are_unique_per_tenant(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    body = (
        await gql(client, CREATE, {"input": {"name": "VAT filing", "title": "x"}}, session=alice)
    ).json()
    assert error_codes(body) == ["CONFLICT"]
    other = await a_template(runtime_conn, demo.tenants["acme"], "Monthly close")
    body = (
        await gql(client, UPDATE, {"id": other, "input": {"name": "VAT filing"}}, session=alice)
    ).json()
    assert error_codes(body) == ["CONFLICT"]
    # initech has no "VAT filing" template (it has two): its admin may use the name
    dave = await login(client, "dave@initech.test", host="initech.localhost")
    body = (
        await gql(client, CREATE, {"input": {"name": "VAT filing", "title": "x"}}, session=dave)
    ).json()
    assert body["data"]["createTaskTemplate"]["name"] == "VAT filing"
    assert (
        await scalar(
            runtime_conn,
            demo.tenants["acme"],
            "SELECT count(*) FROM task_templates WHERE name = 'VAT filing'",
        )
        == 1
    )


async def test_template_input_is_validated(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    for given in (
        {"name": " ", "title": "t"},
        {"name": "n" * 201, "title": "t"},
        {"name": "n", "title": ""},
        {"name": "n", "title": "t", "dueInDays": -1},
        {"name": "n", "title": "t", "dueInDays": 3651},
    ):
        body = (await gql(client, CREATE, {"input": given}, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], given
    count = (await gql(client, TEMPLATES, {"first": 1}, session=alice)).json()
    assert count["data"]["taskTemplates"]["totalCount"] == 4


async def test_staff_create_tasks_from_templates(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    template = await a_template(runtime_conn, acme, "VAT filing")  # HIGH, due in 14 days
    dave = await login(client, "dave@initech.test", tenant="acme")
    before = datetime.now(UTC)
    task = (
        await gql(
            client,
            FROM_TEMPLATE,
            {"templateId": template, "input": {"assigneeId": demo.user_gid("alice@acme.test")}},
            session=dave,
        )
    ).json()["data"]["createTaskFromTemplate"]
    assert (task["title"], task["priority"], task["status"]) == (
        "Prepare VAT filing",
        "HIGH",
        "TODO",
    )
    assert task["assignee"] == {"email": "alice@acme.test"}
    assert task["createdBy"] == {"email": "dave@initech.test"}
    due = datetime.fromisoformat(task["dueAt"])
    assert before + timedelta(days=14) <= due <= datetime.now(UTC) + timedelta(days=14)

    explicit = (
        await gql(
            client,
            FROM_TEMPLATE,
            {"templateId": template, "input": {"dueAt": "2027-01-31T12:00:00+00:00"}},
            session=dave,
        )
    ).json()["data"]["createTaskFromTemplate"]
    assert explicit["dueAt"].startswith("2027-01-31T12:00:00")
    assert explicit["assignee"] is None
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT action, changes FROM audit_logs WHERE target_id = :i",
        {"i": decode_id("Task", task["id"])},
    )
    assert [r.action for r in audit] == ["task.create"]
    assert audit[0].changes["template_id"] == str(decode_id("TaskTemplate", template))
    alice = await login(client, "alice@acme.test")
    assert (await gql(client, TASK_COUNT, session=alice)).json()["data"]["tasks"][
        "totalCount"
    ] == 39


async def test_tasks_from_templates_refuse_clients_and_foreign_assignees(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    template = await a_template(runtime_conn, demo.tenants["acme"], "Annual review")
    carol = await login(client, "carol@acme.test")
    body = (await gql(client, FROM_TEMPLATE, {"templateId": template}, session=carol)).json()
    assert error_codes(body) == ["FORBIDDEN"]
    alice = await login(client, "alice@acme.test")
    body = (
        await gql(
            client,
            FROM_TEMPLATE,
            {"templateId": template, "input": {"assigneeId": demo.user_gid("bob@globex.test")}},
            session=alice,
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = (
        await gql(
            client,
            FROM_TEMPLATE,
            {"templateId": encode_id("TaskTemplate", uuid.uuid4())},
            session=alice,
        )
    ).json()
    assert error_codes(body) == ["NOT_FOUND"]
    assert (await gql(client, TASK_COUNT, session=alice)).json()["data"]["tasks"][
        "totalCount"
    ] == 37

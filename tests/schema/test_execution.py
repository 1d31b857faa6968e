"""The executor's short paths answer exactly what graphql-core's own execution answers.

Three parts: a purpose-built schema whose fields misbehave in every way a short path must hand
back to graphql-core (None for non-null fields, values a type refuses, awaitables, resolvers that
raise, nulls that propagate); the product schema, where no field guarded by a permission or an
extension may take a short path and the portal page's fields must; and the product over HTTP,
where two tenants' pages come out byte for byte the same with and without the short paths.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLObjectType, Undefined
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema import build_schema
from schema.execution import FastPathExecutor, Kind, plan_field
from schema.ids import encode_id
from tests.helpers import DemoData, gql, login


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Never(BasePermission):
    message = "never"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


class Later:
    """An awaitable left in an attribute (a coroutine would warn when no document asks)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Any:
        yield from asyncio.sleep(0).__await__()
        return self.value


@strawberry.type
class Leafy:
    name: str
    maybe: str | None
    color: Color
    count: int
    # values these annotations do not promise, as a bug in a resolver would hand over
    broken_name: str
    broken_color: Color
    broken_count: int
    pending: str
    failure: str | None
    secret: str = strawberry.field(permission_classes=[Never], default="hidden")

    @strawberry.field
    def computed(self) -> str:
        return self.name.upper()

    @strawberry.field
    def with_info(self, info: strawberry.Info) -> str:
        return f"{info.field_name}:{self.name}"

    @strawberry.field
    def raising(self) -> str:
        raise ValueError("resolver failed")

    @strawberry.field
    def raising_nullable(self) -> str | None:
        raise ValueError("nullable resolver failed")

    @strawberry.field
    async def slow(self) -> str:
        await asyncio.sleep(0)
        return self.name

    @strawberry.field
    async def slow_raising(self) -> str:
        await asyncio.sleep(0)
        raise ValueError("async resolver failed")

    @strawberry.field
    def child(self) -> Leafy | None:
        return leafy("child") if self.name != "child" else None

    @strawberry.field
    def gone(self) -> Leafy:
        # graphql-core reads Undefined as null: a non-null field that must fail
        return Undefined  # type: ignore[return-value]


def leafy(name: str, **overrides: Any) -> Leafy:
    values: dict[str, Any] = {
        "name": name,
        "maybe": None,
        "color": Color.RED,
        "count": 3,
        "broken_name": None,
        "broken_color": "green",
        "broken_count": "many",
        "pending": Later("done"),
        "failure": RuntimeError("stored error"),
    }
    values.update(overrides)
    return Leafy(**values)


@strawberry.type
class Holder:
    items: list[Leafy]
    nullable_items: list[Leafy | None] | None
    maybe_items: list[Leafy | None]
    strict_items: list[Leafy]
    one: Leafy
    maybe_one: Leafy | None
    absent: Leafy | None
    tags: list[str]


@strawberry.type
class Query:
    @strawberry.field
    def holder(self) -> Holder:
        # strict_items holds a None a bug put there: the non-null list of non-null items fails
        return Holder(
            items=[leafy("a"), leafy("b", color=Color.BLUE)],
            nullable_items=[leafy("c"), None],
            maybe_items=[leafy("f"), leafy("g")],
            strict_items=[leafy("d"), None],  # type: ignore[list-item]
            one=leafy("e"),
            maybe_one=None,
            absent=Undefined,  # type: ignore[arg-type]
            tags=["x", "y"],
        )

    @strawberry.field
    def fragile(self) -> Holder | None:
        # its `one` is None: the non-null field nulls its nullable parent
        return Holder(
            items=[], nullable_items=None, maybe_items=[], strict_items=[], one=None,  # type: ignore[arg-type]
            maybe_one=None, absent=None, tags=[],
        )  # fmt: skip


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    fast = strawberry.Schema(query=Query, execution_context_class=FastPathExecutor)
    stock = strawberry.Schema(
        query=Query, execution_context_class=StrawberryGraphQLCoreExecutionContext
    )
    return fast, stock


DOCUMENTS = {
    "plain": "{ holder { items { name maybe color count computed withInfo slow } tags } }",
    "aliases and fragments": """
        { holder { first: items { ...F n: name } one { ...F } maybeOne { name } } }
        fragment F on Leafy { name color c2: color __typename }
    """,
    "directives": """
        query($yes: Boolean!) { holder { items { name @include(if: $yes) color @skip(if: $yes) } } }
    """,
    "non-null leaf is None": "{ holder { items { name brokenName } } }",
    "enum refuses value": "{ holder { items { name brokenColor } } }",
    "int refuses value": "{ holder { one { brokenCount } tags } }",
    "awaitable attribute": "{ holder { items { pending name } } }",
    "exception attribute": "{ holder { items { failure name } } }",
    "resolver raises": "{ holder { items { name raising } } }",
    "nullable resolver raises": "{ holder { items { name raisingNullable } } }",
    "permission refuses": "{ holder { one { name secret } } }",
    "None in non-null list": "{ holder { strictItems { name } tags } }",
    "None in nullable list": "{ holder { nullableItems { name color } } }",
    "null propagates to parent": "{ fragile { one { name } tags } holder { tags } }",
    "nested resolvers": "{ holder { one { child { name child { name } } } } }",
    "error nulls a nullable item": "{ holder { maybeItems { name raising } tags } }",
    "error in a non-null item": "{ holder { items { name raising } } }",
    "async error in items": "{ holder { items { name slowRaising } } }",
    "async error nulls a nullable item": "{ holder { maybeItems { name slowRaising } } }",
    "Undefined object attribute": "{ holder { absent { name } tags } }",
    "Undefined for a non-null object": "{ holder { maybeItems { name gone { name } } tags } }",
}


FAILING = {
    "non-null leaf is None",
    "enum refuses value",
    "int refuses value",
    "exception attribute",
    "resolver raises",
    "nullable resolver raises",
    "permission refuses",
    "None in non-null list",
    "null propagates to parent",
    "error nulls a nullable item",
    "error in a non-null item",
    "async error in items",
    "async error nulls a nullable item",
    "Undefined for a non-null object",
}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
async def test_short_paths_answer_what_graphql_core_answers(name: str) -> None:
    fast, stock = _schemas()
    document = DOCUMENTS[name]
    fast_result = await fast.execute(document, variable_values={"yes": True})
    stock_result = await stock.execute(document, variable_values={"yes": True})
    assert fast_result.data == stock_result.data
    fast_errors = [(e.message, e.path, e.locations) for e in fast_result.errors or []]
    stock_errors = [(e.message, e.path, e.locations) for e in stock_result.errors or []]
    assert fast_errors == stock_errors
    # each misbehaving document does exercise an error (the others answer in full)
    assert bool(fast_errors) == (name in FAILING)


def test_short_paths_are_chosen_only_for_plain_fields() -> None:
    fast, _ = _schemas()
    graphql_schema = fast._schema
    leafy_type = graphql_schema.get_type("Leafy")
    holder_type = graphql_schema.get_type("Holder")
    assert isinstance(leafy_type, GraphQLObjectType)
    assert isinstance(holder_type, GraphQLObjectType)

    def kind(parent: GraphQLObjectType, name: str) -> Kind | None:
        plan = plan_field(graphql_schema, parent, name)
        return plan.kind if plan else None

    assert kind(leafy_type, "name") is Kind.LEAF
    assert kind(leafy_type, "color") is Kind.LEAF
    assert kind(leafy_type, "computed") is Kind.RESOLVER
    assert kind(leafy_type, "withInfo") is Kind.RESOLVER
    assert kind(holder_type, "items") is Kind.ATTRIBUTE
    assert kind(holder_type, "maybeOne") is Kind.ATTRIBUTE
    # a permission class is a field extension: always graphql-core's path
    assert kind(leafy_type, "secret") is None


def test_no_guarded_product_field_takes_a_short_path() -> None:
    """Every field of the product schema with a permission class or any field extension is
    resolved by strawberry's own resolver chain, so its checks always run."""
    graphql_schema = build_schema()._schema
    guarded = 0
    for type_name, graphql_type in graphql_schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, field_def in graphql_type.fields.items():
            definition = (field_def.extensions or {}).get("strawberry-definition")
            if definition is not None and (definition.extensions or definition.permission_classes):
                guarded += 1
                assert plan_field(graphql_schema, graphql_type, field_name) is None, (
                    f"{type_name}.{field_name}"
                )
    assert guarded > 50  # the schema's queries and mutations carry permissions


def test_the_portal_page_takes_the_short_paths() -> None:
    """If a strawberry upgrade changed what the plans recognise, the page would silently lose
    its speed: this names the fields that must keep their short path."""
    graphql_schema = build_schema()._schema

    def kind(type_name: str, field_name: str) -> Kind | None:
        parent = graphql_schema.get_type(type_name)
        assert isinstance(parent, GraphQLObjectType)
        plan = plan_field(graphql_schema, parent, field_name)
        return plan.kind if plan else None

    for field_name in ("id", "title", "status", "priority", "dueAt", "createdAt"):
        assert kind("Task", field_name) is Kind.LEAF
    assert kind("Task", "assignee") is Kind.RESOLVER
    assert kind("Task", "createdBy") is Kind.RESOLVER
    assert kind("TaskEdge", "node") is Kind.ATTRIBUTE
    assert kind("TaskEdge", "cursor") is Kind.LEAF
    assert kind("TaskConnection", "edges") is Kind.ATTRIBUTE
    assert kind("User", "email") is Kind.LEAF
    # the root field checks the caller: never a short path
    assert kind("Query", "tasks") is None


PAGE = """
query Page($first: Int) {
  tasks(first: $first) {
    edges { cursor node { id title description status priority dueAt createdAt
      assignee { id email displayName } createdBy { ...Person } } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
  viewer { user { id email } role activeTenant { slug } memberships { role tenant { slug } } }
  task(id: "not-an-id") { id }
}
fragment Person on User { id email displayName }
"""


async def test_two_tenants_pages_are_the_same_without_the_short_paths(
    client: httpx.AsyncClient, demo: DemoData, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = await login(client, "alice@acme.test")
    globex = await login(client, "bob@globex.test", host="globex.localhost")
    fast = {}
    for name, session in (("acme", acme), ("globex", globex)):
        response = await gql(client, PAGE, {"first": 100}, session=session)
        fast[name] = response.content
    for method in ("execute_fields", "complete_value"):
        monkeypatch.setattr(
            FastPathExecutor, method, getattr(StrawberryGraphQLCoreExecutionContext, method)
        )
    for name, session in (("acme", acme), ("globex", globex)):
        response = await gql(client, PAGE, {"first": 100}, session=session)
        assert response.content == fast[name]
    acme_body = httpx.Response(200, content=fast["acme"]).json()
    globex_body = httpx.Response(200, content=fast["globex"]).json()
    acme_ids = {e["node"]["id"] for e in acme_body["data"]["tasks"]["edges"]}
    globex_ids = {e["node"]["id"] for e in globex_body["data"]["tasks"]["edges"]}
    # each tenant sees its own tasks, all of them, and none of the other's
    assert acme_ids == {encode_id("Task", task) for task in demo.tasks["acme"]}
    assert globex_ids == {encode_id("Task", task) for task in demo.tasks["globex"]}
    assert not acme_ids & globex_ids
    # the malformed id is the caller's mistake, reported the same way on both paths
    assert acme_body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


DOCUMENTS_OVER_HTTP = {
    "portal page with fragments, aliases and directives": """
        query($yes: Boolean!) {
          t: tasks(first: 100) { __typename edges { cursor node { ...T
            again: assignee @include(if: $yes) { __typename id } createdBy @skip(if: $yes) { id }
          } } pageInfo { ...on PageInfo { hasNextPage } endCursor } }
        }
        fragment T on Task { id title status priority dueAt assignee { ...P } createdBy { ...P } }
        fragment P on User { id email displayName }
    """,
    "bookings, own and all (staff only)": """
        query { myBookings(first: 100) { totalCount edges { node { id status startsAt
                  service { id name active } client { email } staff { email } } } }
                bookings(first: 100) { edges { node { id client { email } staff { email } } } } }
    """,
    "admin lists (refused to others)": """
        query { members(first: 100) { edges { node { role user { id email } } } }
                auditLog(first: 20) { edges { node { action actor { email } } } }
                serviceRequests(first: 100) { edges { node { id serviceName
                  client { email } task { id assignee { email } createdBy { email } } } } } }
    """,
    "viewer, errors and introspection": """
        query { viewer { __typename user { id email } role activeTenant { slug }
                         memberships { role tenant { slug } } }
                bad: task(id: "not-an-id") { id }
                __type(name: "Task") { name fields { name type { kind ofType { name } } } } }
    """,
}


async def test_product_documents_answer_the_same_on_graphql_cores_own_path(
    client: httpx.AsyncClient, demo: DemoData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each session (an acme ADMIN, an acme CLIENT, a globex ADMIN) gets byte for byte the same
    answer, guarded fields refused alike, with the short paths and without any of them."""
    sessions = {
        "alice": await login(client, "alice@acme.test"),
        "carol": await login(client, "carol@acme.test"),
        "bob": await login(client, "bob@globex.test", host="globex.localhost"),
    }
    fast = {}
    for who, session in sessions.items():
        for name, document in DOCUMENTS_OVER_HTTP.items():
            response = await gql(client, document, {"yes": True}, session=session)
            fast[(who, name)] = response.content
    for method in ("execute_fields", "complete_value"):
        monkeypatch.setattr(
            FastPathExecutor, method, getattr(StrawberryGraphQLCoreExecutionContext, method)
        )
    for who, session in sessions.items():
        for name, document in DOCUMENTS_OVER_HTTP.items():
            response = await gql(client, document, {"yes": True}, session=session)
            assert response.content == fast[(who, name)], (who, name)

    def body(who: str, name: str) -> dict[str, Any]:
        return httpx.Response(200, content=fast[(who, name)]).json()  # type: ignore[no-any-return]

    # what each may see: the CLIENT only the tasks it created and its own bookings, refused the
    # staff and admin lists; globex none of acme's tasks
    page = "portal page with fragments, aliases and directives"
    ids = {
        who: {e["node"]["id"] for e in body(who, page)["data"]["t"]["edges"]} for who in sessions
    }
    assert ids["alice"] == {encode_id("Task", t) for t in demo.tasks["acme"]}
    assert ids["carol"] == {encode_id("Task", t) for t in demo.created_by["carol@acme.test"]}
    assert ids["bob"] == {encode_id("Task", t) for t in demo.tasks["globex"]}
    assert not ids["bob"] & ids["alice"]
    carol = body("carol", "bookings, own and all (staff only)")
    assert carol["data"] is None or carol["data"].get("bookings") is None
    assert {e["extensions"]["code"] for e in carol["errors"]} == {"FORBIDDEN"}
    admin = body("carol", "admin lists (refused to others)")
    assert {e["extensions"]["code"] for e in admin["errors"]} == {"FORBIDDEN"}
    assert body("alice", "admin lists (refused to others)").get("errors") is None

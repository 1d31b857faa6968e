"""Every list field costs the same number of SQL statements whatever its page size: each
relationship goes through a per-request loader (one batched statement), never a query per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers import gql, login

TASK = "id title assignee { email } createdBy { email }"


@dataclass(frozen=True)
class ListField:
    who: str
    field: str
    selection: str
    arguments: str = ""
    # a small page that already reaches every relationship (one no row of the page has costs
    # nothing, which is no N+1 but would make the two counts differ)
    small: int = 2


LISTS = [
    ListField("alice@acme.test", "tasks", TASK),
    ListField("alice@acme.test", "services", "id slug name"),
    ListField(
        "alice@acme.test", "bookings", "id service { slug } client { email } staff { email }"
    ),
    ListField(
        "carol@acme.test", "myBookings", "id service { slug } client { email } staff { email }"
    ),
    ListField(
        "alice@acme.test",
        "availability",
        "id staff { email } service { slug }",
        "from: $from, to: $to, ",
    ),
    ListField(
        "alice@acme.test",
        "serviceRequests",
        f"id service {{ slug }} serviceName client {{ email }} task {{ {TASK} }}",
        small=6,
    ),
    ListField(
        "carol@acme.test",
        "myServiceRequests",
        "id service { slug } client { email } task { id }",
        small=5,
    ),
    ListField("alice@acme.test", "taskTemplates", "id name"),
    ListField(
        "alice@acme.test", "complianceRecords", f"id task {{ {TASK} }} createdBy {{ email }}"
    ),
    ListField("alice@acme.test", "members", "role user { email }"),
    ListField("alice@acme.test", "auditLog", "id action actor { email }"),
    ListField("alice@acme.test", "healthLogs", "id checkName"),
]


@pytest.mark.parametrize("case", LISTS, ids=[case.field for case in LISTS])
async def test_list_cost_is_constant_in_page_size(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, case: ListField
) -> None:
    session = await login(client, case.who)
    now = datetime.now(UTC)
    variables = {
        "from": (now - timedelta(days=30)).isoformat(),
        "to": (now + timedelta(days=60)).isoformat(),
    }
    declared = (
        "$first: Int, $from: DateTime!, $to: DateTime!"
        if "$from" in case.arguments
        else "$first: Int"
    )
    query = (
        f"query({declared}) {{ {case.field}({case.arguments}first: $first) "
        f"{{ totalCount edges {{ node {{ {case.selection} }} }} }} }}"
    )
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sync_conn = runtime_conn.sync_connection
    assert sync_conn is not None
    costs: dict[int, int] = {}
    sizes: dict[int, int] = {}
    event.listen(sync_conn, "before_cursor_execute", count)
    try:
        for first in (case.small, 40):
            statements.clear()
            body = (await gql(client, query, {**variables, "first": first}, session=session)).json()
            assert "errors" not in body, body
            sizes[first] = len(body["data"][case.field]["edges"])
            costs[first] = len(statements)
    finally:
        event.remove(sync_conn, "before_cursor_execute", count)
    # the larger page really holds more rows (else the comparison proves nothing)
    assert sizes[40] > sizes[case.small] == case.small, sizes
    assert costs[case.small] == costs[40], (costs, statements)


PORTAL_PAGE = (
    "query($first: Int) { tasks(first: $first) "
    "{ edges { node { id title assignee { email } createdBy { email } } } } }"
)


async def test_portal_task_page_costs_three_statements(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    """The portal's task page: the statement that binds the context and checks the session,
    the page, one batched user load; no count unless `totalCount` is asked for. The texts do
    not depend on the page size either, so each is prepared once per connection and reused."""
    session = await login(client, "alice@acme.test")
    other = await login(client, "dave@initech.test", host="initech.localhost")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sync_conn = runtime_conn.sync_connection
    assert sync_conn is not None
    event.listen(sync_conn, "before_cursor_execute", count)
    try:
        seen: dict[tuple[str, int], tuple[tuple[str, ...], set[str]]] = {}
        for who in (session, other):
            for first in (5, 50):
                statements.clear()
                body = (await gql(client, PORTAL_PAGE, {"first": first}, session=who)).json()
                assert "errors" not in body, body
                edges = body["data"]["tasks"]["edges"]
                seen[(who.host, first)] = (tuple(statements), {e["node"]["id"] for e in edges})
                assert "tenantgraph_begin" in statements[0]
                assert not any("count(" in s.lower() for s in statements), statements
    finally:
        event.remove(sync_conn, "before_cursor_execute", count)
    for who in (session, other):
        small, large = seen[(who.host, 5)], seen[(who.host, 50)]
        assert len(small[1]) == 5 < len(large[1])
        assert len(small[0]) <= 3, small[0]
        assert small[0] == large[0]
    # each tenant's page is its own: no task of one appears in the other's
    assert not seen[(session.host, 50)][1] & seen[(other.host, 50)][1]

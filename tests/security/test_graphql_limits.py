"""Document limits (depth, aliases through fragments, tokens, size, operations, page size),
introspection and suggestions, error masking: each refused before any resolver runs."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from repositories.auth import AuthRepository
from schema.limits import MAX_ALIASES, MAX_DEPTH, MAX_OPERATIONS, MAX_QUERY_CHARS, MAX_TOKENS
from tests.helpers import DemoData, Session, error_codes, gql, login
from tests.security.conftest import count_rows

CREATE = 'createTask(input: {title: "written despite the limit"}) { id }'


def nested(depth: int) -> str:
    """A selection `depth` levels deep (field names need not exist: limits are checked first)."""
    return "{ " + " { ".join(f"f{i}" for i in range(depth)) + " }" * depth


async def assert_refused_before_execution(
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    session: Session,
    document: str,
    demo: DemoData,
    message: str,
) -> None:
    tasks_before = await count_rows(runtime_conn, "tasks", demo.tenants["acme"])
    audit_before = await count_rows(runtime_conn, "audit_logs", demo.tenants["acme"])
    response = await gql(client, document, session=session)
    body = response.json()
    assert response.status_code in (200, 413), body
    assert body.get("data") is None, body
    assert set(error_codes(body)) == {"BAD_USER_INPUT"}, body
    assert any(message in e["message"] for e in body["errors"]), body
    # the createTask in the document never ran
    assert await count_rows(runtime_conn, "tasks", demo.tenants["acme"]) == tasks_before
    assert await count_rows(runtime_conn, "audit_logs", demo.tenants["acme"]) == audit_before


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Session:
    return await login(client, "alice@acme.test")


async def test_a_mutation_within_the_limits_writes(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, alice: Session, demo: DemoData
) -> None:
    # the control case: the same mutation, alone, is written
    before = await count_rows(runtime_conn, "tasks", demo.tenants["acme"])
    body = (await gql(client, f"mutation {{ {CREATE} }}", session=alice)).json()
    assert "errors" not in body, body
    assert await count_rows(runtime_conn, "tasks", demo.tenants["acme"]) == before + 1


async def test_depth_over_the_limit_is_refused(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, alice: Session, demo: DemoData
) -> None:
    document = (
        f'mutation {{ {CREATE} deep: createTask(input: {{title: "x"}}) {nested(MAX_DEPTH)} }}'
    )
    await assert_refused_before_execution(
        client, runtime_conn, alice, document, demo, "deeper than"
    )


async def test_depth_through_fragments_is_counted(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, alice: Session, demo: DemoData
) -> None:
    # ten levels split over three fragments, below a mutation field: eleven in all
    document = f"""
    mutation {{ {CREATE} t: createTask(input: {{title: "x"}}) {{ ...A }} }}
    fragment A on Task {{ a1 {{ a2 {{ ...B }} }} }}
    fragment B on Task {{ b1 {{ b2 {{ b3 {{ ...C }} }} }} }}
    fragment C on Task {{ c1 {{ c2 {{ c3 {{ c4 {{ c5 }} }} }} }} }}
    """
    await assert_refused_before_execution(
        client, runtime_conn, alice, document, demo, "deeper than"
    )


async def test_aliases_over_the_limit_are_refused(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, alice: Session, demo: DemoData
) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES))
    document = f"mutation {{ t: {CREATE} {aliases} }}"
    await assert_refused_before_execution(client, runtime_conn, alice, document, demo, "aliases")


async def test_aliases_are_counted_through_every_spread_of_a_fragment(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, alice: Session, demo: DemoData
) -> None:
    # 4 aliases in a fragment, spread under 8 aliased fields: 8 + 8 * 4 = 40 > 30
    spreads = " ".join(f"v{i}: viewer {{ ...Four }}" for i in range(8))
    document = f"""
    mutation {{ {CREATE} }}
    query Q {{ {spreads} }}
    fragment Four on Viewer {{ a: role b: role c: role d: role }}
    """
    await assert_refused_before_execution(client, runtime_conn, alice, document, demo, "aliases")


async def test_fragments_that_double_at_every_level_are_refused_at_once(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, alice: Session, demo: DemoData
) -> None:
    # F59 expands to 2**59 aliases; walking each spread (as strawberry's limiters do) never ends
    chain = "".join(
        f"fragment F{i} on Mutation {{ ...F{i - 1} ...F{i - 1} }}\n" for i in range(1, 60)
    )
    document = (
        f"mutation {{ {CREATE} ...F59 }}\nfragment F0 on Mutation {{ x: __typename }}\n{chain}"
    )
    await assert_refused_before_execution(client, runtime_conn, alice, document, demo, "aliases")


@pytest.mark.parametrize(
    ("fragments", "message"),
    [
        (
            "fragment A on Mutation { ...B } fragment B on Mutation { ...A }",
            "Cannot spread fragment",
        ),
        ("", "Unknown fragment"),
    ],
    ids=["cycle", "unknown"],
)
async def test_broken_fragments_are_bad_input_not_a_crash(
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    alice: Session,
    fragments: str,
    message: str,
    demo: DemoData,
) -> None:
    document = f"mutation {{ {CREATE} ...A }} {fragments}"
    await assert_refused_before_execution(client, runtime_conn, alice, document, demo, message)


async def test_too_many_tokens_are_refused(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, alice: Session, demo: DemoData
) -> None:
    document = f"mutation {{ {CREATE} {' '.join(['__typename'] * MAX_TOKENS)} }}"
    await assert_refused_before_execution(client, runtime_conn, alice, document, demo, "token")


async def test_too_many_operations_are_refused(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, alice: Session, demo: DemoData
) -> None:
    others = " ".join(f"query Q{i} {{ __typename }}" for i in range(MAX_OPERATIONS))
    document = f"mutation Write {{ {CREATE} }} {others}"
    response = await client.post(
        "http://acme.localhost/graphql",
        json={"query": document, "operationName": "Write"},
        headers=alice.headers(),
    )
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert "at most" in response.json()["errors"][0]["message"]
    # and exactly the limit is fine
    fine = " ".join(f"query Q{i} {{ __typename }}" for i in range(MAX_OPERATIONS - 1))
    response = await client.post(
        "http://acme.localhost/graphql",
        json={
            "query": f"{fine} query Count {{ tasks(first: 1) {{ totalCount }} }}",
            "operationName": "Count",
        },
        headers=alice.headers(),
    )
    assert response.json()["data"]["tasks"]["totalCount"] == 37


async def test_a_query_text_over_the_limit_is_413(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, alice: Session, demo: DemoData
) -> None:
    padding = "#" + "x" * MAX_QUERY_CHARS + "\n"  # a comment: few tokens, many characters
    await assert_refused_before_execution(
        client, runtime_conn, alice, f"{padding}mutation {{ {CREATE} }}", demo, "too large"
    )


async def test_a_body_over_one_megabyte_is_413(client: httpx.AsyncClient, alice: Session) -> None:
    response = await client.post(
        "http://acme.localhost/graphql",
        json={"query": f"mutation {{ {CREATE} }}", "variables": {"pad": "x" * 1_000_001}},
        headers=alice.headers(),
    )
    assert response.status_code == 413
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_page_size_over_100_is_bad_input(client: httpx.AsyncClient, alice: Session) -> None:
    body = (await gql(client, "{ tasks(first: 101) { totalCount } }", session=alice)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] is None
    ok = (await gql(client, "{ tasks(first: 100) { edges { cursor } } }", session=alice)).json()
    assert len(ok["data"]["tasks"]["edges"]) == 37


INTROSPECTION = "{ __schema { queryType { fields { name } } } }"
TYPO = "{ taks(first: 1) { totalCount } }"
BAD_ENUM = "query($s: [TaskStatus!]) { tasks(filter: {status: $s}) { totalCount } }"


async def test_introspection_is_off_in_production(
    production: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    refused = (await gql(production, INTROSPECTION)).json()
    assert set(error_codes(refused)) == {"BAD_USER_INPUT"}
    assert refused["data"] is None
    assert "tasks" not in str(refused)
    typename = (await gql(production, "{ __typename }")).json()
    assert typename == {"data": {"__typename": "Query"}}
    # development keeps it for tools
    allowed = (await gql(client, INTROSPECTION)).json()
    assert "tasks" in {f["name"] for f in allowed["data"]["__schema"]["queryType"]["fields"]}


async def test_no_suggestions_in_production(
    production: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    alice = await login(production, "alice@acme.test")
    for document, variables in ((TYPO, None), (BAD_ENUM, {"s": ["DON"]})):
        body = (await gql(production, document, variables, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        text = str(body)
        assert "Did you mean" not in text
        assert "'tasks'" not in text
        assert "DONE" not in text
    # development helps the developer
    dev = await login(client, "alice@acme.test")
    body = (await gql(client, TYPO, session=dev)).json()
    assert "Did you mean" in body["errors"][0]["message"]


async def test_unexpected_errors_are_masked_with_the_request_id(
    client: httpx.AsyncClient, alice: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: AuthRepository) -> list[object]:
        raise RuntimeError("SELECT password_hash FROM users WHERE tenant_id = 'secret-tenant'")

    monkeypatch.setattr(AuthRepository, "memberships", broken)
    response = await gql(
        client,
        "{ viewer { memberships { role } } }",
        session=alice,
        headers={"X-Request-ID": "trace-masked-0001"},
    )
    body = response.json()
    assert response.status_code == 200
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "trace-masked-0001"}
    assert response.headers["x-request-id"] == "trace-masked-0001"
    assert "secret-tenant" not in response.text
    assert "SELECT" not in response.text

"""The super-admin's platform session and `platformAnalytics`: the one path that crosses
tenants, with its own key, its own session kind and its own database function."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app.auth.tokens import InvalidToken, TokenService
from app.seed import DEMO_PASSWORD
from tests.conftest import SuiteDatabase
from tests.helpers import DemoData, Session, error_codes, gql, login, set_cookie_value

ROOT = "root@platform.test"
BASE = "localhost"

PLATFORM_LOGIN = """
mutation PlatformLogin($email: String!, $password: String!) {
  platformLogin(email: $email, password: $password) { token expiresAt user { id email } }
}
"""
COUNTERS = (
    "membersActive tasksTotal tasksOpen tasksOverdue tasksCreated tasksCompleted bookings "
    "revenueCents serviceRequests serviceRequestsConverted complianceOverdue"
)
PLATFORM_ANALYTICS = f"""
query Platform($from: Date, $to: Date) {{
  platformAnalytics(from: $from, to: $to) {{
    from to
    tenants {{ tenantId slug name status {COUNTERS} }}
    totals {{ {COUNTERS} }}
  }}
}}
"""
TASKS = "query { tasks(first: 5) { edges { node { id title } } } }"
VIEWER = "query { viewer { user { email } } }"
REVOKE = "mutation { revokeAllSessions }"


async def platform_login(
    client: httpx.AsyncClient, email: str = ROOT, password: str = DEMO_PASSWORD
) -> Session:
    response = await gql(client, PLATFORM_LOGIN, {"email": email, "password": password}, host=BASE)
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    cookie = set_cookie_value(response)
    assert cookie, "platformLogin must set the tenant_sig cookie"
    assert cookie.startswith("platform."), cookie
    return Session(token=body["data"]["platformLogin"]["token"], cookie=cookie, host=BASE)


def _names(counters: str) -> list[str]:
    return counters.split()


async def expected_rows(conn: AsyncConnection, start: date, end: date) -> dict[str, dict[str, int]]:
    """Every tenant's counters, computed row by row in Python from the rows the owner reads."""
    lo = datetime.combine(start, time.min, UTC)
    hi = datetime.combine(end + timedelta(days=1), time.min, UTC)
    now = (await conn.execute(text("SELECT now()"))).scalar_one()

    async def rows(sql: str) -> list[Any]:
        return list((await conn.execute(text(sql))).all())

    tenants = {r.id: r.slug for r in await rows("SELECT id, slug FROM tenants")}
    result = {slug: dict.fromkeys(_names(COUNTERS), 0) for slug in tenants.values()}
    for m in await rows("SELECT tenant_id, status FROM tenant_memberships"):
        result[tenants[m.tenant_id]]["membersActive"] += m.status == "active"
    for t in await rows("SELECT tenant_id, status, due_at, created_at, completed_at FROM tasks"):
        row = result[tenants[t.tenant_id]]
        row["tasksTotal"] += 1
        row["tasksOpen"] += t.status != "DONE"
        row["tasksOverdue"] += t.status != "DONE" and t.due_at is not None and t.due_at < now
        row["tasksCreated"] += lo <= t.created_at < hi
        row["tasksCompleted"] += t.status == "DONE" and lo <= t.completed_at < hi
    prices = {
        (s.tenant_id, s.id): s.price_cents
        for s in await rows("SELECT tenant_id, id, price_cents FROM services")
    }
    for b in await rows("SELECT tenant_id, service_id, status, starts_at FROM bookings"):
        if lo <= b.starts_at < hi:
            row = result[tenants[b.tenant_id]]
            row["bookings"] += 1
            if b.status in ("CONFIRMED", "COMPLETED"):
                row["revenueCents"] += prices[(b.tenant_id, b.service_id)]
    for r in await rows("SELECT tenant_id, status, task_id, created_at FROM service_requests"):
        if lo <= r.created_at < hi:
            row = result[tenants[r.tenant_id]]
            row["serviceRequests"] += 1
            row["serviceRequestsConverted"] += r.status == "CONVERTED" or r.task_id is not None
    for c in await rows("SELECT tenant_id, status, due_at FROM compliance_records"):
        open_ = c.status in ("PENDING", "NON_COMPLIANT")
        overdue = open_ and c.due_at is not None and c.due_at < now
        result[tenants[c.tenant_id]]["complianceOverdue"] += overdue
    return result


# --- signing in ---------------------------------------------------------------------------------


async def test_a_super_admin_signs_in_to_the_platform_on_the_base_domain(
    client: httpx.AsyncClient,
) -> None:
    session = await platform_login(client)
    # a platform session has no organization: no viewer, and no organization's data
    body = (await gql(client, VIEWER, session=session)).json()
    assert body == {"data": {"viewer": None}}
    body = (await gql(client, TASKS, session=session)).json()
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None


@pytest.mark.parametrize(
    ("email", "password", "host", "code"),
    [
        (ROOT, DEMO_PASSWORD, "acme.localhost", "BAD_USER_INPUT"),  # an organization's host
        (ROOT, "wrong-password", BASE, "UNAUTHENTICATED"),
        ("alice@acme.test", DEMO_PASSWORD, BASE, "UNAUTHENTICATED"),  # an ADMIN, not super
        ("nobody@nowhere.test", DEMO_PASSWORD, BASE, "UNAUTHENTICATED"),
    ],
)
async def test_platform_sign_in_is_refused_to_everyone_else(
    client: httpx.AsyncClient, email: str, password: str, host: str, code: str
) -> None:
    response = await gql(client, PLATFORM_LOGIN, {"email": email, "password": password}, host=host)
    body = response.json()
    assert error_codes(body) == [code]
    assert body["data"] is None
    assert set_cookie_value(response) is None


async def test_an_organization_login_still_refuses_the_super_admin(
    client: httpx.AsyncClient,
) -> None:
    # root has no membership: the organization `login` gives it nothing
    body = (
        await gql(
            client,
            'mutation { login(email: "root@platform.test", password: "demo-password") { token } }',
            host=BASE,
        )
    ).json()
    assert error_codes(body) == ["UNAUTHENTICATED"]


# --- the platform dashboard --------------------------------------------------------------------


async def test_platform_analytics_equals_a_row_by_row_count_for_every_tenant(
    client: httpx.AsyncClient, owner_conn: AsyncConnection, demo: DemoData
) -> None:
    session = await platform_login(client)
    today = datetime.now(UTC).date()
    for start, end in ((today - timedelta(days=29), today), (date(2020, 1, 1), date(2020, 12, 31))):
        body = (
            await gql(
                client,
                PLATFORM_ANALYTICS,
                {"from": start.isoformat(), "to": end.isoformat()},
                session=session,
            )
        ).json()
        assert "errors" not in body, body
        answer = body["data"]["platformAnalytics"]
        expected = await expected_rows(owner_conn, start, end)
        got = {row["slug"]: {k: row[k] for k in _names(COUNTERS)} for row in answer["tenants"]}
        assert got == expected
        # the demo organizations differ, so a mixed-up row could not pass
        assert {"acme", "globex", "initech"} <= set(got)
        assert got["acme"]["tasksTotal"] != got["initech"]["tasksTotal"]
        assert answer["totals"] == {
            k: sum(row[k] for row in expected.values()) for k in _names(COUNTERS)
        }
        assert (answer["from"], answer["to"]) == (start.isoformat(), end.isoformat())


async def test_platform_revenue_beyond_32_bits_is_answered_exactly(
    client: httpx.AsyncClient, owner_engine: AsyncEngine
) -> None:
    # given two organizations (committed: the platform reads on a connection of its own), one
    # whose June bookings add up to more than an Int holds (2^31 - 1 cents), one with little
    suffix = uuid.uuid4().hex[:10]
    email = f"client-{suffix}@platform.test"
    prices = {f"big-{suffix}": 2_000_000_000, f"small-{suffix}": 12_500}
    try:
        async with owner_engine.begin() as conn:
            user = (
                await conn.execute(
                    text("INSERT INTO users (email) VALUES (:e) RETURNING id"), {"e": email}
                )
            ).scalar_one()
            for slug, price in prices.items():
                await conn.execute(
                    text(
                        "WITH t AS (INSERT INTO tenants (slug, name) VALUES (:slug, :slug)"
                        "  RETURNING id),"
                        " m AS (INSERT INTO tenant_memberships (tenant_id, user_id, role)"
                        "  SELECT id, :u, 'CLIENT' FROM t RETURNING tenant_id),"
                        " s AS (INSERT INTO services (tenant_id, slug, name, price_cents)"
                        "  SELECT tenant_id, 'audit', 'Audit', :price FROM m"
                        "  RETURNING tenant_id, id)"
                        " INSERT INTO bookings"
                        "  (tenant_id, service_id, client_id, starts_at, ends_at, status)"
                        " SELECT s.tenant_id, s.id, :u, d + time '10:00', d + time '11:00',"
                        "  'CONFIRMED' FROM s, (VALUES (date '2026-06-01'), (date '2026-06-02'))"
                        "  AS days (d)"
                    ),
                    {"slug": slug, "u": user, "price": price},
                )
        session = await platform_login(client)
        # when the super-admin reads June
        body = (
            await gql(
                client,
                PLATFORM_ANALYTICS,
                {"from": "2026-06-01", "to": "2026-06-30"},
                session=session,
            )
        ).json()
        # then each organization has its own exact revenue, and so do the totals
        assert "errors" not in body, body
        answer = body["data"]["platformAnalytics"]
        rows = {row["slug"]: row for row in answer["tenants"]}
        assert rows[f"big-{suffix}"]["revenueCents"] == 4_000_000_000
        assert rows[f"small-{suffix}"]["revenueCents"] == 25_000
        assert (rows[f"big-{suffix}"]["bookings"], rows[f"small-{suffix}"]["bookings"]) == (2, 2)
        assert answer["totals"]["revenueCents"] == sum(r["revenueCents"] for r in rows.values())
        assert answer["totals"]["revenueCents"] >= 4_000_025_000
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM tenants WHERE slug = ANY(:slugs)"), {"slugs": list(prices)}
            )
            await conn.execute(text("DELETE FROM users WHERE email = :e"), {"e": email})
            await conn.execute(text("DELETE FROM platform_audit_logs"))


@pytest.mark.parametrize(
    "variables",
    [{"from": "2026-02-01", "to": "2026-01-01"}, {"from": "2020-01-01", "to": "2022-01-01"}],
)
async def test_platform_analytics_rejects_a_bad_period(
    client: httpx.AsyncClient, variables: dict[str, str]
) -> None:
    session = await platform_login(client)
    body = (await gql(client, PLATFORM_ANALYTICS, variables, session=session)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_platform_analytics_is_forbidden_to_everyone_else(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    # anonymous, on the base domain and on an organization's host
    for host in (BASE, "acme.localhost"):
        body = (await gql(client, PLATFORM_ANALYTICS, host=host)).json()
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None
    # an organization's ADMIN, on its own host and on the base domain
    alice = await login(client, "alice@acme.test")
    for host in ("acme.localhost", BASE):
        body = (await gql(client, PLATFORM_ANALYTICS, session=alice, host=host)).json()
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None


async def test_a_platform_token_does_not_open_an_organization_host(
    client: httpx.AsyncClient,
) -> None:
    session = await platform_login(client)
    response = await gql(client, TASKS, session=session, host="acme.localhost")
    assert response.status_code == 403
    assert error_codes(response.json()) == ["TENANT_MISMATCH"]


async def test_a_platform_token_needs_its_own_cookie(client: httpx.AsyncClient) -> None:
    session = await platform_login(client)
    alice = await login(client, "alice@acme.test")
    crossed = Session(token=session.token, cookie=alice.cookie, host=BASE)
    response = await gql(client, PLATFORM_ANALYTICS, session=crossed)
    assert response.status_code == 403
    assert error_codes(response.json()) == ["TENANT_MISMATCH"]
    # and an organization token does not accept the platform cookie either
    crossed = Session(token=alice.token, cookie=session.cookie, host="acme.localhost")
    response = await gql(client, TASKS, session=crossed)
    assert response.status_code == 403


async def test_revoking_all_sessions_ends_the_platform_session(client: httpx.AsyncClient) -> None:
    session = await platform_login(client)
    body = (await gql(client, REVOKE, session=session)).json()
    assert body == {"data": {"revokeAllSessions": True}}
    response = await gql(client, PLATFORM_ANALYTICS, session=session)
    assert response.status_code == 401


# --- the token kinds ----------------------------------------------------------------------------


def test_platform_and_organization_tokens_cannot_pass_as_each_other() -> None:
    from joserfc import jwt

    service = TokenService(b"s" * 32, issuer="tenantgraph", audience="tenantgraph", ttl=600)
    user = uuid.uuid4()
    token, _ = service.issue_platform(user_id=user, token_version=1)
    verified = service.verify(token)
    assert verified.platform
    assert verified.tenant_id is None
    assert verified.role is None
    now = int(datetime.now(UTC).timestamp())
    base = {"iss": "tenantgraph", "aud": "tenantgraph", "sub": str(user), "ver": 1, "iat": now}
    base |= {"exp": now + 60, "jti": uuid.uuid4().hex}
    platform_key, tenant_key = service._current_platform, service._current
    forged = [
        # the platform key signing an organization's claims
        (platform_key, {**base, "tid": str(uuid.uuid4()), "role": "ADMIN"}),
        (platform_key, {**base, "scp": "platform", "tid": str(uuid.uuid4())}),
        # the organization key signing a platform scope
        (tenant_key, {**base, "scp": "platform", "tid": str(uuid.uuid4()), "role": "ADMIN"}),
    ]
    for key, payload in forged:
        encoded = jwt.encode({"alg": "HS256", "kid": key.kid}, payload, key.jwt_key)
        with pytest.raises(InvalidToken):
            service.verify(encoded)


# --- the database function, on its own ----------------------------------------------------------

CALL = text("SELECT * FROM tenantgraph_platform_analytics(now() - interval '30 days', now(), 'x')")


async def _bind(
    conn: AsyncConnection, *, user: uuid.UUID | None, tenant: uuid.UUID | None, superadmin: bool
) -> None:
    await conn.execute(
        text(
            "SELECT set_config('app.current_user_id', :u, true),"
            " set_config('app.current_tenant_id', :t, true),"
            " set_config('app.is_superadmin', :s, true)"
        ),
        {"u": str(user or ""), "t": str(tenant or ""), "s": "true" if superadmin else "false"},
    )


@pytest.fixture
async def platform_conn(test_database: SuiteDatabase) -> AsyncIterator[AsyncConnection]:
    """A connection of the platform role, in a transaction rolled back after the test."""
    engine = create_async_engine(test_database.urls.platform, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            yield conn
            await transaction.rollback()
    finally:
        await engine.dispose()


async def _refused(conn: AsyncConnection, statement: Any) -> str:
    with pytest.raises(DBAPIError) as refused:
        async with conn.begin_nested():
            await conn.execute(statement)
    return refused.value.orig.sqlstate  # type: ignore[union-attr,no-any-return]


async def test_the_runtime_role_cannot_reach_the_platform_functions_whatever_it_forges(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    # given SQL on a request's connection that forges a super-admin's platform session (the
    # super-admin's id is even findable through the login lookup)
    root = (
        await runtime_conn.execute(text("SELECT id FROM tenantgraph_login_lookup(:e)"), {"e": ROOT})
    ).scalar_one()
    await _bind(runtime_conn, user=root, tenant=None, superadmin=True)
    # then neither platform function may even be executed by the runtime role
    assert await _refused(runtime_conn, CALL) == "42501"
    audit = text("SELECT tenantgraph_platform_audit('platform.login', 'forged')")
    assert await _refused(runtime_conn, audit) == "42501"
    # and with that context the runtime role reads no tenant's row
    for table in ("tasks", "bookings", "services", "service_requests", "compliance_records"):
        count = (await runtime_conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        assert count == 0, table


@pytest.mark.parametrize(
    ("who", "tenant", "superadmin"),
    [
        (None, None, True),  # nobody
        ("alice@acme.test", None, True),  # claims the flag, is not a super-admin
        (ROOT, "acme", True),  # a super-admin, but bound to an organization
        (ROOT, None, False),  # a super-admin, but not in a platform session
    ],
)
async def test_the_function_refuses_every_context_but_a_platform_session(
    platform_conn: AsyncConnection,
    demo: DemoData,
    who: str | None,
    tenant: str | None,
    superadmin: bool,
) -> None:
    await _bind(
        platform_conn,
        user=demo.users[who] if who else None,
        tenant=demo.tenants[tenant] if tenant else None,
        superadmin=superadmin,
    )
    assert await _refused(platform_conn, CALL) == "42501"


async def test_the_platform_role_reads_aggregates_only_through_the_function(
    platform_conn: AsyncConnection, demo: DemoData
) -> None:
    await _bind(platform_conn, user=demo.users[ROOT], tenant=None, superadmin=True)
    # the function answers aggregates of every tenant
    rows = {r.slug: r.tasks_total for r in await platform_conn.execute(CALL)}
    assert rows["acme"] == len(demo.tasks["acme"])
    assert rows["globex"] == len(demo.tasks["globex"])
    # but the role itself holds no privilege on any table: no row of its own to read, and the
    # platform audit log is the functions' to write
    for sql in (
        "SELECT count(*) FROM tasks",
        "SELECT count(*) FROM users",
        "SELECT count(*) FROM platform_audit_logs",
        f"INSERT INTO platform_audit_logs (actor_user_id, action) VALUES ('{demo.users[ROOT]}', 'x')",
    ):
        assert await _refused(platform_conn, text(sql)) == "42501", sql


async def test_the_runtime_role_can_neither_read_nor_write_the_platform_audit_log(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    for sql in (
        "SELECT count(*) FROM platform_audit_logs",
        "INSERT INTO platform_audit_logs (actor_user_id, action) "
        f"VALUES ('{demo.users[ROOT]}', 'forged')",
    ):
        assert await _refused(runtime_conn, text(sql)) == "42501", sql


async def test_the_platform_functions_are_pinned_and_the_platform_roles_alone(
    owner_conn: AsyncConnection, test_database: SuiteDatabase
) -> None:
    rows = (
        await owner_conn.execute(
            text(
                "SELECT p.proname, p.prosecdef, p.proconfig,"
                " has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,"
                " has_function_privilege(:runtime, p.oid, 'EXECUTE') AS runtime_execute,"
                " has_function_privilege(:platform, p.oid, 'EXECUTE') AS platform_execute"
                " FROM pg_proc p WHERE p.proname LIKE 'tenantgraph_platform_%'"
            ),
            {
                "runtime": test_database.urls.runtime_role,
                "platform": test_database.urls.platform.username,
            },
        )
    ).all()
    assert {r.proname for r in rows} == {
        "tenantgraph_platform_analytics",
        "tenantgraph_platform_audit",
    }
    for r in rows:
        assert r.prosecdef
        assert "search_path=pg_catalog, pg_temp" in r.proconfig
        assert not r.public_execute
        assert not r.runtime_execute
        assert r.platform_execute


# --- the audit trail (committed, so it is read back the way an operator would) --------------------


async def test_every_platform_call_is_audited_naming_the_super_admin(
    committing: httpx.AsyncClient, owner_engine: AsyncEngine, demo: DemoData
) -> None:
    client = committing
    request_id = uuid.uuid4().hex
    try:
        session = await platform_login(client)
        response = await gql(
            client, PLATFORM_ANALYTICS, session=session, headers={"X-Request-Id": request_id}
        )
        assert "errors" not in response.json()
        # an ADMIN's refused attempt writes nothing to the platform log
        alice = await login(client, "alice@acme.test")
        await gql(client, PLATFORM_ANALYTICS, session=alice)
        async with owner_engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT actor_user_id, action, request_id FROM platform_audit_logs"
                        " WHERE created_at > now() - interval '5 minutes' ORDER BY id"
                    )
                )
            ).all()
        actions = [(r.actor_user_id, r.action) for r in rows]
        assert (demo.users[ROOT], "platform.login") in actions
        assert (demo.users[ROOT], "platform.analytics") in actions
        assert any(r.request_id == request_id for r in rows if r.action == "platform.analytics")
        assert {r.actor_user_id for r in rows} == {demo.users[ROOT]}
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(text("DELETE FROM platform_audit_logs"))


async def test_a_demoted_super_admin_loses_the_platform_session_at_once(
    committing: httpx.AsyncClient, owner_engine: AsyncEngine, demo: DemoData
) -> None:
    client = committing
    try:
        session = await platform_login(client)
        async with owner_engine.begin() as conn:
            await conn.execute(
                text("UPDATE users SET is_superadmin = false WHERE id = :u"),
                {"u": demo.users[ROOT]},
            )
        response = await gql(client, PLATFORM_ANALYTICS, session=session)
        assert response.status_code == 403
        assert error_codes(response.json()) == ["FORBIDDEN"]
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(
                text("UPDATE users SET is_superadmin = true WHERE id = :u"),
                {"u": demo.users[ROOT]},
            )
            await conn.execute(text("DELETE FROM platform_audit_logs"))

"""Every refusal at a tenant boundary is a security event: a log line, a counter, and an audit row
in the tenant a verified credential names, written in a transaction of its own (the refused
request's is rolled back) under that tenant's context, so row-level security applies. The row
never lands in the other tenant involved, and a forged credential names no tenant at all."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import insert, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import metrics
from app.auth.tokens import TokenService
from app.context import Role, TenantContext
from app.database import Database
from app.logging import capture_logs
from app.main import create_app
from app.security_events import SUPERADMIN_BYPASS, SecurityEventRecorder
from app.settings import Settings
from repositories.models import Task
from repositories.tasks import TaskRepository
from tests.conftest import TEST_SECRET
from tests.helpers import DemoData, Session, error_codes, gql, login

VIEWER = "query Viewer { viewer { activeTenant { slug } } }"
CREATE = 'mutation { createTask(input: {title: "security event probe"}) { id } }'
SUSPEND = "UPDATE tenant_memberships SET status = :s WHERE tenant_id = :t AND user_id = :u"


async def security_rows(conn: AsyncConnection, tenant_id: uuid.UUID, request_id: str) -> list[Row]:
    """The security rows of one request in one tenant, read like the app reads: on the runtime
    connection (where the app's uncommitted writes are), bound to that tenant."""
    await conn.execute(
        text("SELECT set_config('app.current_tenant_id', :t, true)"), {"t": str(tenant_id)}
    )
    result = await conn.execute(
        text(
            "SELECT tenant_id, actor_id, action, request_id, changes FROM audit_logs "
            "WHERE request_id = :r AND action LIKE 'security.%'"
        ),
        {"r": request_id},
    )
    return list(result)


async def rows_by_tenant(
    conn: AsyncConnection, demo: DemoData, request_id: str
) -> dict[str, list[Row]]:
    return {slug: await security_rows(conn, tid, request_id) for slug, tid in demo.tenants.items()}


def events(buffer: io.StringIO, request_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in buffer.getvalue().splitlines() if x.strip()]
    return [r for r in lines if r["event"] == "security event" and r["request_id"] == request_id]


def issue(settings: Settings, demo: DemoData, email: str, slug: str, version: int) -> Session:
    tokens = TokenService(
        settings.signing_secret(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=3600,
    )
    token, claims = tokens.issue(
        user_id=demo.users[email],
        tenant_id=demo.tenants[slug],
        role=Role.ADMIN,
        token_version=version,
    )
    return Session(token, tokens.sign_cookie(claims), f"{slug}.localhost")


async def test_a_valid_token_on_another_tenants_host_is_audited_in_its_own_tenant(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    # given alice's genuine acme session
    alice = await login(client, "alice@acme.test")
    buffer = io.StringIO()

    # when it is presented on globex's host
    with capture_logs(buffer):
        response = await gql(
            client,
            VIEWER,
            session=alice,
            host="globex.localhost",
            headers={"X-Request-ID": "sec-host-0001"},
        )

    # then it is refused, and the event is in acme's audit log (the tenant of the token), with
    # the reason and the request id, and in no other tenant's
    assert response.status_code == 403
    assert error_codes(response.json()) == ["TENANT_MISMATCH"]
    found = await rows_by_tenant(runtime_conn, demo, "sec-host-0001")
    assert found["globex"] == []
    assert found["initech"] == []
    (row,) = found["acme"]
    assert row.tenant_id == demo.tenants["acme"]
    assert row.actor_id == demo.users["alice@acme.test"]
    assert row.action == "security.tenant_mismatch"
    assert row.changes == {"reason": "host and token disagree", "status": 403}
    (line,) = events(buffer, "sec-host-0001")
    assert line["security_event"] == "TENANT_MISMATCH"
    assert line["tenant_id"] == str(demo.tenants["acme"])
    assert line["audit"] == "written"
    assert line["level"] == "warning"


async def test_the_audit_line_of_a_security_event_names_the_tenant_it_was_written_in(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    # given alice's genuine acme session and bob's genuine globex session
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    buffer = io.StringIO()

    # when each is presented on the other's host
    with capture_logs(buffer):
        await gql(
            client,
            VIEWER,
            session=alice,
            host="globex.localhost",
            headers={"X-Request-ID": "sec-line-acme1"},
        )
        await gql(
            client,
            VIEWER,
            session=bob,
            host="acme.localhost",
            headers={"X-Request-ID": "sec-line-globex1"},
        )

    # then the line the audit repository writes for each row names the tenant and user the row
    # was written for (the token's), never the host's
    lines = [json.loads(x) for x in buffer.getvalue().splitlines() if x.strip()]
    for request_id, slug, email in (
        ("sec-line-acme1", "acme", "alice@acme.test"),
        ("sec-line-globex1", "globex", "bob@globex.test"),
    ):
        (audit,) = [r for r in lines if r["event"] == "audit row" and r["request_id"] == request_id]
        assert audit["action"] == "security.tenant_mismatch"
        assert audit["tenant_id"] == str(demo.tenants[slug])
        assert audit["user_id"] == str(demo.users[email])
    # and nothing of either stays bound afterwards
    assert "tenant_id" not in structlog.contextvars.get_contextvars()


async def test_a_missing_cookie_is_audited_in_the_tokens_tenant(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    response = await gql(
        client,
        VIEWER,
        host="globex.localhost",
        headers={"Authorization": f"Bearer {bob.token}", "X-Request-ID": "sec-cookie-001"},
    )
    assert response.status_code == 403
    found = await rows_by_tenant(runtime_conn, demo, "sec-cookie-001")
    assert found["acme"] == []
    assert [(r.action, r.changes["reason"]) for r in found["globex"]] == [
        ("security.tenant_mismatch", "tenant cookie missing")
    ]


async def test_a_forged_token_is_logged_but_charged_to_no_tenant(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    forged = Session(alice.token[:-4] + "AAAA", alice.cookie, alice.host)
    buffer = io.StringIO()
    with capture_logs(buffer):
        response = await gql(
            client, VIEWER, session=forged, headers={"X-Request-ID": "sec-forged-01"}
        )
    assert response.status_code == 401
    assert all(
        rows == [] for rows in (await rows_by_tenant(runtime_conn, demo, "sec-forged-01")).values()
    )
    (line,) = events(buffer, "sec-forged-01")
    assert line["security_event"] == "UNAUTHENTICATED"
    assert line["audit"] == "no_tenant"
    assert line["tenant_id"] is None


async def test_refusal_reasons_stay_readable_in_the_log(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    """The redaction hides secrets written as `token: …` or `cookie: …`; the product's own
    reasons for a refusal must not read like that, or the operator sees only [REDACTED]."""
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    forged_token = Session(alice.token[:-4] + "AAAA", alice.cookie, alice.host)
    foreign_cookie = Session(alice.token, bob.cookie, alice.host)  # signed for another token
    buffer = io.StringIO()
    with capture_logs(buffer):
        for request_id, session in (
            ("sec-reason-01", forged_token),
            ("sec-reason-02", foreign_cookie),
        ):
            await gql(client, VIEWER, session=session, headers={"X-Request-ID": request_id})
    reasons = {
        r["request_id"]: r["reason"]
        for r in map(json.loads, buffer.getvalue().splitlines())
        if r.get("event") == "request refused"
    }
    assert reasons.keys() == {"sec-reason-01", "sec-reason-02"}
    assert all("REDACTED" not in reason for reason in reasons.values()), reasons
    assert reasons["sec-reason-01"].startswith("token refused")
    assert reasons["sec-reason-02"].startswith("tenant cookie refused")
    # and neither names the credentials themselves
    assert alice.token not in buffer.getvalue()
    assert bob.cookie not in buffer.getvalue()


async def test_a_revoked_token_is_audited_although_its_transaction_rolled_back(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData, settings: Settings
) -> None:
    # a genuine signature with a token version the user no longer has
    stale = issue(settings, demo, "alice@acme.test", "acme", version=99)
    response = await gql(client, VIEWER, session=stale, headers={"X-Request-ID": "sec-revoked-1"})
    assert response.status_code == 401
    found = await rows_by_tenant(runtime_conn, demo, "sec-revoked-1")
    assert found["globex"] == []
    assert [(r.action, r.changes["reason"]) for r in found["acme"]] == [
        ("security.unauthenticated", "token revoked")
    ]


async def test_an_ended_membership_is_audited_in_that_tenant(
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    owner_engine: AsyncEngine,
    demo: DemoData,
) -> None:
    dave = await login(client, "dave@initech.test", tenant="acme")
    params = {"t": demo.tenants["acme"], "u": demo.users["dave@initech.test"]}
    async with owner_engine.begin() as owner:
        await owner.execute(text(SUSPEND), {**params, "s": "suspended"})
    try:
        response = await gql(
            client, VIEWER, session=dave, headers={"X-Request-ID": "sec-ended-001"}
        )
    finally:
        async with owner_engine.begin() as owner:
            await owner.execute(text(SUSPEND), {**params, "s": "active"})
    assert response.status_code == 403
    found = await rows_by_tenant(runtime_conn, demo, "sec-ended-001")
    assert found["initech"] == []  # dave's own tenant is not the one he was refused in
    assert [(r.action, r.actor_id) for r in found["acme"]] == [
        ("security.forbidden", demo.users["dave@initech.test"])
    ]


async def _count_tasks(conn: AsyncConnection, tenant_id: uuid.UUID) -> int:
    await conn.execute(
        text("SELECT set_config('app.current_tenant_id', :t, true)"), {"t": str(tenant_id)}
    )
    return int((await conn.execute(text("SELECT count(*) FROM tasks"))).scalar_one())


@pytest.mark.parametrize(
    ("through", "action"),
    [("orm", "security.cross_tenant_write"), ("sql", "security.rls_violation")],
)
async def test_a_refused_cross_tenant_write_is_audited_in_the_writers_tenant(
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    demo: DemoData,
    monkeypatch: pytest.MonkeyPatch,
    through: str,
    action: str,
) -> None:
    # given a repository bug: task creation writes into globex whatever the context says,
    # through the ORM (the flush guard refuses) or plain SQL (row-level security refuses)
    globex = demo.tenants["globex"]

    async def buggy_create(self: TaskRepository, *, title: str, **_: Any) -> Task:
        values = {
            "tenant_id": globex,
            "id": uuid.uuid4(),
            "title": title,
            "priority": "MEDIUM",
            "status": "TODO",
            "created_by_id": self.user_id,
        }
        if through == "orm":
            self.session.add(Task(**values))
            await self._flush()
        else:
            await self._execute(insert(Task).values(**values))
        raise AssertionError("the write went through")

    monkeypatch.setattr(TaskRepository, "create", buggy_create)
    alice = await login(client, "alice@acme.test")
    before = await _count_tasks(runtime_conn, globex)

    # when alice (a member of globex too, but acting in acme) creates a task
    request_id = f"sec-write-{through}"
    response = await gql(client, CREATE, session=alice, headers={"X-Request-ID": request_id})

    # then nothing reached globex, and the refusal is in acme's audit log, not globex's
    assert error_codes(response.json()) == ["INTERNAL"]
    assert await _count_tasks(runtime_conn, globex) == before
    found = await rows_by_tenant(runtime_conn, demo, request_id)
    assert found["globex"] == []
    assert [(r.action, r.actor_id) for r in found["acme"]] == [
        (action, demo.users["alice@acme.test"])
    ]


@pytest.fixture
async def limited(runtime_conn: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(secret_key=TEST_SECRET, security_events_per_minute=2)
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40300))
    async with httpx.AsyncClient(transport=transport) as http:
        yield http


async def test_audit_rows_of_security_events_are_rate_limited(
    limited: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    alice = await login(limited, "alice@acme.test")
    suppressed = (
        metrics.REGISTRY.get_sample_value(
            "tenantgraph_security_events_total", {"kind": "TENANT_MISMATCH", "audit": "suppressed"}
        )
        or 0.0
    )
    buffer = io.StringIO()
    with capture_logs(buffer):
        for _ in range(5):
            await gql(
                limited,
                VIEWER,
                session=alice,
                host="globex.localhost",
                headers={"X-Request-ID": "sec-flood-0001"},
            )
    # a holder of one valid token gets two rows a minute into its tenant's audit log, no more;
    # every attempt is still logged and counted
    assert len(await security_rows(runtime_conn, demo.tenants["acme"], "sec-flood-0001")) == 2
    assert [e["audit"] for e in events(buffer, "sec-flood-0001")] == [
        "written",
        "written",
        "suppressed",
        "suppressed",
        "suppressed",
    ]
    after = metrics.REGISTRY.get_sample_value(
        "tenantgraph_security_events_total", {"kind": "TENANT_MISMATCH", "audit": "suppressed"}
    )
    assert after == suppressed + 3


async def test_a_superadmin_context_is_a_security_event(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    database = Database.bound_to(runtime_conn)
    root = TenantContext(
        request_id="sec-super-0001",
        tenant_id=demo.tenants["globex"],
        user_id=demo.users["root@platform.test"],
        is_superadmin=True,
    )
    stats, token = metrics.start_request("sec-super-0001")
    try:
        async with database.unit_of_work(root):
            pass
    finally:
        metrics.end_request(token)
    (event,) = stats.security_events
    assert event.kind == SUPERADMIN_BYPASS
    await SecurityEventRecorder(database).record(event)
    found = await rows_by_tenant(runtime_conn, demo, "sec-super-0001")
    assert found["acme"] == []
    assert [(r.action, r.actor_id) for r in found["globex"]] == [
        ("security.superadmin_bypass", demo.users["root@platform.test"])
    ]

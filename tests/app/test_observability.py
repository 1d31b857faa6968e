"""Logs, metrics, spans and error reports name the tenant, user and request they belong to, and
carry no secret. Everything is read from what the real pipeline produced: the captured log
output, the metrics registry, an in-memory span exporter, a Sentry transport that keeps events."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import metrics
from app.auth.tokens import TokenService
from app.context import Role
from app.database import Database
from app.errortracking import close_sentry, init_sentry
from app.logging import capture_logs
from app.main import create_app
from app.seed import DEMO_PASSWORD
from app.settings import Settings
from app.tracing import create_tracer_provider, tracer_of
from tests.conftest import TEST_SECRET, SuiteDatabase
from tests.helpers import DemoData, Session, error_codes, gql, login

VIEWER = "query Viewer { viewer { activeTenant { slug } } tasks(first: 2) { totalCount } }"
# the first field writes (and logs its audit row from inside the repository), the second fails:
# the document is rolled back, so these requests leave nothing in the shared database
WRITE_THEN_FAIL = """
mutation WriteThenFail($title: String!) {
  first: createTask(input: {title: $title}) { id }
  second: createTask(input: {title: "   "}) { id }
}
"""


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def issue(settings: Settings, demo: DemoData, email: str, slug: str, role: Role) -> Session:
    """A genuine session issued directly (no sign-in, so nothing is committed)."""
    tokens = TokenService(
        settings.signing_secret(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=3600,
    )
    token, claims = tokens.issue(
        user_id=demo.users[email], tenant_id=demo.tenants[slug], role=role, token_version=1
    )
    return Session(token, tokens.sign_cookie(claims), f"{slug}.localhost")


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def pooled(
    test_database: SuiteDatabase, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a real pool of its own: requests run concurrently, each in its transaction."""
    database = Database.connect(test_database.urls.runtime, pool_size=2)
    app = create_app(settings=settings, database=database)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40200))
    try:
        async with httpx.AsyncClient(transport=transport, timeout=30) as http:
            yield http
    finally:
        await database.dispose()


# --- logs ----------------------------------------------------------------------------------------


async def test_concurrent_requests_of_two_tenants_log_their_own_tenant(
    pooled: httpx.AsyncClient, demo: DemoData, settings: Settings, owner_engine: AsyncEngine
) -> None:
    # given an admin of acme and an admin of globex
    callers = {
        "acme": (issue(settings, demo, "alice@acme.test", "acme", Role.ADMIN), "alice@acme.test"),
        "globex": (
            issue(settings, demo, "bob@globex.test", "globex", Role.ADMIN),
            "bob@globex.test",
        ),
    }
    marker = uuid.uuid4().hex[:8]
    plan = [("acme" if i % 2 == 0 else "globex", f"obs-{marker}-{i:03d}") for i in range(16)]

    async def call(slug: str, request_id: str) -> httpx.Response:
        session, _ = callers[slug]
        return await pooled.post(
            f"http://{session.host}/graphql",
            json={"query": WRITE_THEN_FAIL, "variables": {"title": request_id}},
            headers={**session.headers(), "X-Request-ID": request_id},
        )

    # when their requests interleave
    buffer = io.StringIO()
    with capture_logs(buffer):
        responses = await asyncio.gather(*(call(slug, rid) for slug, rid in plan))

    # then every line of each request, the audit line deep in the repository included, names
    # the request's own tenant and user, and never the other's
    for response in responses:
        assert response.status_code == 200
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    lines = records(buffer)
    for slug, request_id in plan:
        _, email = callers[slug]
        own = [r for r in lines if r.get("request_id") == request_id]
        audit = [r for r in own if r["event"] == "audit row"]
        access = [r for r in own if r["event"] == "graphql request"]
        assert len(audit) == 1, own
        assert len(access) == 1, own
        for line in (*audit, *access):
            assert line["tenant_id"] == str(demo.tenants[slug]), line
            assert line["user_id"] == str(demo.users[email]), line
        assert audit[0]["action"] == "task.create"
        assert access[0]["operation"] == "WriteThenFail"
        assert access[0]["status"] == 200
        assert access[0]["statements"] >= 3
    # and the failing documents wrote nothing
    async with owner_engine.connect() as conn:
        written = await conn.execute(
            text("SELECT count(*) FROM tasks WHERE title LIKE :m"), {"m": f"obs-{marker}-%"}
        )
        assert written.scalar_one() == 0
    # nothing is left bound once the requests are over
    assert "tenant_id" not in structlog.contextvars.get_contextvars()


async def test_the_audit_lines_of_sign_in_and_switch_name_the_session_they_open(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    buffer = io.StringIO()
    with capture_logs(buffer):
        # alice signs in on acme, then moves her session to globex
        alice = await login(client, "alice@acme.test")
        switched = await gql(
            client,
            "mutation Switch($t: ID!) { switchTenant(tenantId: $t) { token } }",
            {"t": demo.tenant_gid("globex")},
            session=alice,
            headers={"X-Request-ID": "switch-line-01"},
        )
        # bob signs in on globex
        await login(client, "bob@globex.test", host="globex.localhost")
    assert "errors" not in switched.json(), switched.json()
    audit = {r["action"]: r for r in records(buffer) if r["event"] == "audit row"}
    alice_id, bob_id = str(demo.users["alice@acme.test"]), str(demo.users["bob@globex.test"])
    acme, globex = str(demo.tenants["acme"]), str(demo.tenants["globex"])
    logins = [
        r for r in records(buffer) if r["event"] == "audit row" and r["action"] == "auth.login"
    ]
    # each sign-in's audit line is in the tenant and of the user whose row it writes
    assert [(r["tenant_id"], r["user_id"]) for r in logins] == [(acme, alice_id), (globex, bob_id)]
    # the switch's row is written in globex, the session's new tenant
    switch = audit["auth.switch_tenant"]
    assert (switch["tenant_id"], switch["user_id"]) == (globex, alice_id)
    assert switch["request_id"] == "switch-line-01"
    # the request's own lines keep the request's tenant: the switch ran as acme's alice
    (access,) = [
        r
        for r in records(buffer)
        if r["event"] == "graphql request" and r["request_id"] == "switch-line-01"
    ]
    assert (access["tenant_id"], access["user_id"]) == (acme, alice_id)
    assert "tenant_id" not in structlog.contextvars.get_contextvars()
    assert "user_id" not in structlog.contextvars.get_contextvars()


async def test_access_line_counts_the_statements_of_the_request(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    alice = await login(client, "alice@acme.test")
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    buffer = io.StringIO()
    event.listen(runtime_conn.sync_connection, "before_cursor_execute", count)
    try:
        with capture_logs(buffer):
            response = await gql(
                client, VIEWER, session=alice, headers={"X-Request-ID": "req-count-1"}
            )
    finally:
        event.remove(runtime_conn.sync_connection, "before_cursor_execute", count)
    assert response.status_code == 200
    (access,) = [r for r in records(buffer) if r["event"] == "graphql request"]
    assert access["request_id"] == "req-count-1"
    assert access["operation"] == "Viewer"
    assert access["statements"] == len(sent) > 0
    assert access["duration_ms"] > 0
    assert access["level"] == "info"


async def test_no_secret_reaches_the_logs(client: httpx.AsyncClient) -> None:
    buffer = io.StringIO()
    with capture_logs(buffer):
        alice = await login(client, "alice@acme.test")
        await gql(client, VIEWER, session=alice)
        # refused: a wrong password, a token on the wrong host, a forged token
        await gql(
            client,
            'mutation { login(email: "alice@acme.test", password: "wrong-password-42") { token } }',
        )
        await gql(client, VIEWER, session=alice, host="globex.localhost")
        await gql(client, VIEWER, headers={"Authorization": f"Bearer {alice.token}x"})
        structlog.get_logger("test").info(
            "a careless line",
            password="hunter2-secret",
            headers={"Authorization": f"Bearer {alice.token}", "Cookie": alice.cookie},
            url="postgresql://owner:db-password-7@localhost/tenantgraph",
            note=f"the token was {alice.token}",
        )
    output = buffer.getvalue()
    lines = records(buffer)
    assert any(r["event"] == "login" and r["outcome"] == "success" for r in lines)
    assert any(r["event"] == "login" and r["outcome"] == "failed" for r in lines)
    assert any(r["event"] == "security event" for r in lines)
    for secret in (
        DEMO_PASSWORD,
        "wrong-password-42",
        "hunter2-secret",
        "db-password-7",
        alice.token,
        alice.token.split(".")[2],  # the signature alone
        alice.cookie,
        alice.cookie.rsplit(".", 1)[1],  # the cookie's MAC
        TEST_SECRET,
        "alice@acme.test",
    ):
        assert secret not in output, secret
    careless = next(r for r in lines if r["event"] == "a careless line")
    assert careless["password"] == "[REDACTED]"
    assert careless["headers"] == {"Authorization": "[REDACTED]", "Cookie": "[REDACTED]"}
    assert careless["note"] == "the token was [REDACTED]"
    assert careless["url"] == "postgresql://owner:[REDACTED]@localhost/tenantgraph"


async def test_requests_answered_before_the_endpoint_get_an_access_line(
    metered: httpx.AsyncClient,
) -> None:
    buffer = io.StringIO()
    with capture_logs(buffer):
        # an unknown organization, a POST from a foreign origin, a scrape without the token,
        # a health probe, and one GraphQL request
        unknown = await metered.post(
            "http://nowhere.localhost/graphql",
            json={"query": "{ viewer { user { id } } }"},
            headers={"X-Request-ID": "access-unknown-1"},
        )
        foreign = await metered.post(
            "http://acme.localhost/graphql",
            json={"query": "{ viewer { user { id } } }"},
            headers={"Origin": "https://evil.example", "X-Request-ID": "access-origin-01"},
        )
        scrape = await metered.get(
            "http://localhost/metrics", headers={"X-Request-ID": "access-metrics-1"}
        )
        health = await metered.get(
            "http://localhost/healthz", headers={"X-Request-ID": "access-health-01"}
        )
        await gql(metered, VIEWER, headers={"X-Request-ID": "access-graphql-1"})
    assert (unknown.status_code, foreign.status_code) == (404, 403)
    assert (scrape.status_code, health.status_code) == (401, 200)
    lines = records(buffer)
    for request_id, method, path, status in (
        ("access-unknown-1", "POST", "/graphql", 404),
        ("access-origin-01", "POST", "/graphql", 403),
        ("access-metrics-1", "GET", "/metrics", 401),
        ("access-health-01", "GET", "/healthz", 200),
    ):
        (line,) = [r for r in lines if r.get("request_id") == request_id]
        assert line["event"] == "http request"
        assert (line["method"], line["path"], line["status"]) == (method, path, status)
        assert line["duration_ms"] >= 0
    # a GraphQL request keeps its one access line, and gets no second one
    own = [r["event"] for r in lines if r.get("request_id") == "access-graphql-1"]
    assert own == ["graphql request"]


async def test_a_long_value_in_a_log_line_does_not_stall_the_worker(
    client: httpx.AsyncClient,
) -> None:
    # an anonymous POST whose Content-Type (logged as the refusal's reason) is 60 KB long: the
    # redaction runs on the event loop, so a pattern that backtracks over it would stall every
    # request of the process for as long as it takes
    buffer = io.StringIO()
    started = time.perf_counter()
    with capture_logs(buffer):
        response = await client.post(
            "http://acme.localhost/graphql",
            content=b"{}",
            headers={"Content-Type": "a" * 60_000},
        )
    elapsed = time.perf_counter() - started
    assert response.status_code == 415
    assert any(r["event"] == "request refused" for r in records(buffer))
    assert elapsed < 5, f"{elapsed:.1f} s"
    # and strings shaped to make each pattern work hard are scrubbed quickly too
    from app.errortracking import _private
    from app.logging import scrub

    for shaped in (
        "a://" * 25_000,
        "a://b:" * 16_000,
        "A" * 100_000,
        "password: " * 10_000,
        "eyJ" * 30_000,
        "eyJaaaaa." * 10_000,
    ):
        started = time.perf_counter()
        scrub(shaped)
        _private(shaped)  # what Sentry events go through
        assert time.perf_counter() - started < 1, shaped[:12]


async def test_an_error_before_the_endpoint_is_logged_with_its_request_id(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cors import CorsMiddleware

    async def broken(*_args: Any) -> bool:
        raise RuntimeError("origin lookup broke")

    # given a bug in a middleware (the origin check, which runs before the endpoint)
    monkeypatch.setattr(CorsMiddleware, "allowed", broken)
    buffer = io.StringIO()
    with capture_logs(buffer):
        response = await client.post(
            "http://acme.localhost/graphql",
            json={"query": "{ viewer { user { id } } }"},
            headers={"Origin": "https://acme.localhost", "X-Request-ID": "mw-error-0001"},
        )
    # then the answer is the API's INTERNAL error with the request id, and the error's line
    # (with its traceback) and the access line carry that id
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "mw-error-0001"
    assert response.json()["errors"][0]["extensions"] == {
        "code": "INTERNAL",
        "requestId": "mw-error-0001",
    }
    own = [r for r in records(buffer) if r.get("request_id") == "mw-error-0001"]
    error = next(r for r in own if r["level"] == "error")
    assert "RuntimeError: origin lookup broke" in error["exception"]
    assert [r["status"] for r in own if r["event"] == "http request"] == [500]


@pytest.mark.parametrize("as_json", [True, False])
def test_secrets_written_into_exception_text_are_redacted(as_json: bool) -> None:
    # what careless code puts into an exception message: a dict's repr, a JSON body, a cookie
    # header, a GraphQL document, names that merely contain a secret's name
    cookie = "3f1c2a.9b8e7d.1796374486.Zm9yZ2VkLW1hYy12YWx1ZQ"
    secrets_ = ["hunter2-repr", "hunter2-json", "hunter2-doc", "hunter2-new", "key-0123456789"]
    message = (
        f"payload {{'password': '{secrets_[0]}'}} body {{\"password\": \"{secrets_[1]}\"}} "
        f'document login(email: "x@y.z", password: "{secrets_[2]}") '
        f"form new_password={secrets_[3]}&secret_key={secrets_[4]} "
        f"headers Cookie: sid=1; tenant_sig={cookie}"
    )
    buffer = io.StringIO()
    with capture_logs(buffer, json=as_json):
        try:
            raise ValueError(message)
        except ValueError:
            structlog.get_logger("test").exception("careless failure", detail=message)
    output = buffer.getvalue()
    assert "careless failure" in output
    for secret in (*secrets_, cookie, cookie.rsplit(".", 1)[1]):
        assert secret not in output, secret


async def test_development_lines_are_readable(client: httpx.AsyncClient) -> None:
    buffer = io.StringIO()
    with capture_logs(buffer, json=False):
        await gql(client, VIEWER, headers={"X-Request-ID": "req-console-1"})
    line = next(x for x in buffer.getvalue().splitlines() if "graphql request" in x)
    assert "request_id=req-console-1" in line
    assert "operation=Viewer" in line
    assert not line.lstrip().startswith("{")


# --- metrics -------------------------------------------------------------------------------------


@pytest.fixture
def labelled(demo: DemoData) -> Iterator[None]:
    """Put the process's labels back as they were after a test that configures them."""
    yield
    metrics.configure(tenants=[], tenant_limit=20)


@pytest.fixture
async def metered(
    runtime_conn: AsyncConnection, demo: DemoData, labelled: None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        secret_key=TEST_SECRET,
        metrics_token="metrics-token-for-tests",
        metrics_tenants=[str(demo.tenants["acme"]), str(demo.tenants["globex"])],
        metrics_tenant_limit=0,
    )
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40201))
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as http:
        yield http


async def test_counters_move_on_their_events(metered: httpx.AsyncClient, demo: DemoData) -> None:
    acme, globex = str(demo.tenants["acme"]), str(demo.tenants["globex"])
    initech = str(demo.tenants["initech"])
    before = {
        "login_ok": sample("tenantgraph_logins_total", outcome="success", tenant=acme),
        "login_failed": sample("tenantgraph_logins_total", outcome="failed", tenant=acme),
        "switch": sample("tenantgraph_tenant_switches_total", tenant=globex),
        "viewer": sample(
            "tenantgraph_requests_total", operation="Viewer", outcome="ok", tenant=acme
        ),
        "host": sample("tenantgraph_isolation_refusals_total", reason="host_mismatch", tenant=acme),
        "cookie": sample(
            "tenantgraph_isolation_refusals_total", reason="cookie_missing", tenant=acme
        ),
        "forged": sample(
            "tenantgraph_isolation_refusals_total", reason="token_invalid", tenant="none"
        ),
        "statements": sample("tenantgraph_request_statements_count", operation="Viewer"),
        "latency": sample(
            "tenantgraph_request_duration_seconds_count", operation="Viewer", outcome="ok"
        ),
        "events": sample(
            "tenantgraph_security_events_total", kind="TENANT_MISMATCH", audit="written"
        ),
        "dave": sample("tenantgraph_logins_total", outcome="success", tenant="other"),
        "foreign": sample("tenantgraph_isolation_refusals_total", reason="not_found", tenant=acme),
        "initech": sample("tenantgraph_logins_total", outcome="success", tenant=initech),
    }
    alice = await login(metered, "alice@acme.test")
    await gql(
        metered,
        'mutation { login(email: "alice@acme.test", password: "not-the-password") { token } }',
    )
    await gql(metered, VIEWER, session=alice)
    await gql(metered, VIEWER, session=alice, host="globex.localhost")
    await gql(metered, VIEWER, headers={"Authorization": f"Bearer {alice.token}"})
    await gql(metered, VIEWER, headers={"Authorization": "Bearer not-a-token"})
    # an id of globex's, used from acme: the same NOT_FOUND as an id that never existed
    foreign = await gql(
        metered,
        'mutation U($id: ID!) { updateTask(id: $id, input: {title: "x"}) { id } }',
        {"id": demo.task_gid("globex")},
        session=alice,
    )
    assert error_codes(foreign.json()) == ["NOT_FOUND"]
    switched = await gql(
        metered,
        "mutation Switch($t: ID!) { switchTenant(tenantId: $t) { token } }",
        {"t": demo.tenant_gid("globex")},
        session=alice,
    )
    assert "errors" not in switched.json(), switched.json()
    await login(metered, "dave@initech.test", host="initech.localhost")

    def moved(key: str, name: str, **labels: str) -> float:
        return sample(name, **labels) - before[key]

    assert moved("login_ok", "tenantgraph_logins_total", outcome="success", tenant=acme) == 1
    assert moved("login_failed", "tenantgraph_logins_total", outcome="failed", tenant=acme) == 1
    assert moved("switch", "tenantgraph_tenant_switches_total", tenant=globex) == 1
    assert (
        moved("viewer", "tenantgraph_requests_total", operation="Viewer", outcome="ok", tenant=acme)
        == 1
    )
    assert (
        moved("host", "tenantgraph_isolation_refusals_total", reason="host_mismatch", tenant=acme)
        == 1
    )
    assert (
        moved(
            "cookie", "tenantgraph_isolation_refusals_total", reason="cookie_missing", tenant=acme
        )
        == 1
    )
    assert (
        moved(
            "forged", "tenantgraph_isolation_refusals_total", reason="token_invalid", tenant="none"
        )
        == 1
    )
    # Viewer ran four times: once answered, three times refused before execution
    assert moved("statements", "tenantgraph_request_statements_count", operation="Viewer") == 4
    assert (
        moved(
            "latency",
            "tenantgraph_request_duration_seconds_count",
            operation="Viewer",
            outcome="ok",
        )
        == 1
    )
    assert (
        moved(
            "events", "tenantgraph_security_events_total", kind="TENANT_MISMATCH", audit="written"
        )
        == 2
    )
    assert (
        moved("foreign", "tenantgraph_isolation_refusals_total", reason="not_found", tenant=acme)
        == 1
    )
    # initech is not on the allow-list and the limit is 0: its sign-in is counted as "other"
    assert moved("dave", "tenantgraph_logins_total", outcome="success", tenant="other") == 1
    assert moved("initech", "tenantgraph_logins_total", outcome="success", tenant=initech) == 0


async def test_tenants_allowed_by_slug_get_a_label_of_their_own(
    runtime_conn: AsyncConnection, demo: DemoData, settings: Settings, labelled: None
) -> None:
    # given acme and globex allowed by their slugs, and no label for anyone else
    app = create_app(
        settings=Settings(
            secret_key=TEST_SECRET, metrics_tenants=["acme", "globex"], metrics_tenant_limit=0
        ),
        database=Database.bound_to(runtime_conn),
    )
    ids = {slug: str(demo.tenants[slug]) for slug in ("acme", "globex", "initech")}

    def viewers(tenant: str) -> float:
        return sample("tenantgraph_requests_total", operation="Viewer", outcome="ok", tenant=tenant)

    before = {label: viewers(label) for label in (*ids.values(), "other")}
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40203))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport) as http:
        # when globex's admin calls on the bare base domain (the token alone names the tenant),
        # acme's on acme's host, and initech's on initech's
        bob = issue(settings, demo, "bob@globex.test", "globex", Role.ADMIN)
        alice = issue(settings, demo, "alice@acme.test", "acme", Role.ADMIN)
        dave = issue(settings, demo, "dave@initech.test", "initech", Role.ADMIN)
        for session, host in ((bob, "localhost"), (alice, None), (dave, None)):
            response = await gql(http, VIEWER, session=session, host=host)
            assert "errors" not in response.json(), response.json()

    # then acme and globex are counted under their own ids, initech under "other"
    moved = {label: viewers(label) - before[label] for label in before}
    assert moved == {ids["acme"]: 1, ids["globex"]: 1, ids["initech"]: 0, "other": 1}


async def test_metrics_endpoint_needs_its_token(metered: httpx.AsyncClient) -> None:
    assert (await metered.get("http://localhost/metrics")).status_code == 401
    wrong = await metered.get(
        "http://localhost/metrics", headers={"Authorization": "Bearer metrics-token-for-test"}
    )
    assert wrong.status_code == 401
    answer = await metered.get(
        "http://localhost/metrics", headers={"Authorization": "Bearer metrics-token-for-tests"}
    )
    assert answer.status_code == 200
    assert "tenantgraph_requests_total" in answer.text
    assert "tenantgraph_isolation_refusals_total" in answer.text


async def test_metrics_are_off_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("http://localhost/metrics")).status_code == 404


def test_a_short_metrics_token_is_refused(runtime_conn: AsyncConnection) -> None:
    from app.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="METRICS_TOKEN"):
        create_app(
            settings=Settings(secret_key=TEST_SECRET, metrics_token="short"),
            database=Database.bound_to(runtime_conn),
        )


def test_labels_stay_bounded() -> None:
    label = metrics.BoundedLabel(allow=["acme"], limit=2)
    assert [label(v) for v in ("t1", "t2", "t3", "t1", "acme", "t4")] == [
        "t1",
        "t2",
        "other",
        "t1",
        "acme",
        "other",
    ]
    assert label("some-id", "acme") == "some-id"  # allowed by its slug
    assert label(None) == "none"
    assert metrics.operation_name("Viewer") == "Viewer"
    assert metrics.operation_name("drop table; --") == "invalid"
    assert metrics.operation_name(None) == "anonymous"
    assert metrics.operation_name(None, "# c\n query Named($a: ID) { x }") == "Named"
    assert metrics.operation_name(None, "{ x }") == "anonymous"


@pytest.mark.slow
def test_the_servers_own_lines_are_rendered_like_the_apps(
    test_database: SuiteDatabase, tmp_path: Any
) -> None:
    """uvicorn logs through the standard library: its lines go through the same renderer (JSON
    in production), the same redaction and the same bound context as the product's own."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTGRAPH_")}
    env.update(
        DATABASE_URL=test_database.urls.owner.render_as_string(hide_password=False),
        TENANTGRAPH_ENV="production",
        TENANTGRAPH_SECRET_KEY=TEST_SECRET,
    )
    errors = tmp_path / "serve.err"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.3)
        # a request the HTTP server itself refuses (and logs)
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: acme.localhost\x00\r\n\r\n")
            raw.recv(1024)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    lines = [x for x in errors.read_text().splitlines() if x.strip()]
    assert lines
    for line in lines:
        assert line.startswith("{"), line  # JSON, like every line of the product
    events = {json.loads(x)["event"]: json.loads(x) for x in lines}
    assert events["Invalid HTTP request received."]["level"] == "warning"
    assert events["Invalid HTTP request received."]["logger"] == "uvicorn.error"
    assert any(e.startswith("Started server process") for e in events)


@pytest.mark.slow
def test_serve_refuses_bad_telemetry_settings_clearly(test_database: SuiteDatabase) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTGRAPH_")}
    env.pop("SENTRY_DSN", None)
    env.update(
        DATABASE_URL=test_database.urls.owner.render_as_string(hide_password=False),
        TENANTGRAPH_SECRET_KEY=TEST_SECRET,
    )
    cases = [
        ({"TENANTGRAPH_METRICS_TOKEN": "short"}, "TENANTGRAPH_METRICS_TOKEN"),
        ({"SENTRY_DSN": "not-a-dsn"}, "SENTRY_DSN"),
    ]
    try:
        import opentelemetry.exporter.otlp.proto.http  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        cases.append(({"TENANTGRAPH_OTEL_EXPORTER": "otlp"}, "tenantgraph[otlp]"))
    for extra, named in cases:
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve", "--port", "1"],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, (extra, result.stderr[-2000:])
        assert named in result.stderr
        assert "Traceback" not in result.stderr
        assert "serving" not in result.stdout


# --- tracing and error reports --------------------------------------------------------------------


async def test_spans_carry_tenant_and_request_id(
    runtime_conn: AsyncConnection, settings: Settings, demo: DemoData
) -> None:
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    assert app.state.observer.tracer is None  # no exporter configured: no spans
    exporter = InMemorySpanExporter()
    provider = create_tracer_provider("none", span_exporter=exporter)
    app.state.observer.tracer = tracer_of(provider)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40202))
    async with httpx.AsyncClient(transport=transport) as http:
        alice = await login(http, "alice@acme.test")
        bob = issue(settings, demo, "bob@globex.test", "globex", Role.ADMIN)
        await gql(http, VIEWER, session=alice, headers={"X-Request-ID": "span-acme-1"})
        await gql(http, VIEWER, session=bob, headers={"X-Request-ID": "span-globex-1"})
    spans = {s.attributes["request.id"]: s for s in exporter.get_finished_spans()}
    assert spans["span-acme-1"].name == "graphql Viewer"
    assert spans["span-acme-1"].attributes["tenant.id"] == str(demo.tenants["acme"])
    assert spans["span-globex-1"].attributes["tenant.id"] == str(demo.tenants["globex"])
    assert spans["span-acme-1"].attributes["db.statements"] > 0
    provider.shutdown()


async def test_span_names_stay_bounded_whatever_names_clients_invent(
    runtime_conn: AsyncConnection, settings: Settings, labelled: None
) -> None:
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    metrics.operation_label.configure(limit=1)  # room for one operation name
    exporter = InMemorySpanExporter()
    provider = create_tracer_provider("none", span_exporter=exporter)
    app.state.observer.tracer = tracer_of(provider)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40204))
    async with httpx.AsyncClient(transport=transport) as http:
        for name in ("Viewer", "Invented1", "Invented2"):
            await gql(http, f"query {name} {{ viewer {{ user {{ id }} }} }}")
    spans = exporter.get_finished_spans()
    provider.shutdown()
    # a span's name is a series in many tracing backends: bounded like the metrics' label;
    # the name the client gave stays an attribute
    assert [s.name for s in spans] == ["graphql Viewer", "graphql other", "graphql other"]
    assert [s.attributes["graphql.operation.name"] for s in spans] == [
        "Viewer",
        "Invented1",
        "Invented2",
    ]


class KeptEvents:
    """A Sentry transport that keeps every event instead of sending it."""

    def __init__(self) -> None:
        from sentry_sdk.transport import Transport

        outer = self

        class _Transport(Transport):
            def capture_envelope(self, envelope: Any) -> None:
                for item in envelope.items:
                    if item.type == "event":
                        outer.events.append(item.payload.json)

        self.events: list[dict[str, Any]] = []
        self.transport = _Transport()


@pytest.fixture
def sentry_events() -> Iterator[list[dict[str, Any]]]:
    kept = KeptEvents()
    assert init_sentry(
        "https://public@sentry.invalid/1", environment="test", transport=kept.transport
    )
    yield kept.events
    close_sentry()


def test_without_a_dsn_sentry_stays_off() -> None:
    assert init_sentry(None, environment="test") is False


async def test_errors_reach_sentry_tagged_and_without_personal_data(
    client: httpx.AsyncClient, demo: DemoData, sentry_events: list[dict[str, Any]]
) -> None:
    alice = await login(client, "alice@acme.test")
    tenant, user = str(demo.tenants["acme"]), str(demo.users["alice@acme.test"])
    with structlog.contextvars.bound_contextvars(
        request_id="sentry-req-1", tenant_id=tenant, user_id=user
    ):
        try:
            raise RuntimeError(f"failed for alice@acme.test with password={DEMO_PASSWORD}")
        except RuntimeError:
            structlog.get_logger("test").exception(
                "unexpected error in resolver", token=alice.token
            )
    (event_,) = sentry_events
    assert event_["tags"]["tenant_id"] == tenant
    assert event_["tags"]["user_id"] == user
    assert event_["tags"]["request_id"] == "sentry-req-1"
    assert event_["user"] == {"id": user}
    sent = json.dumps(event_)
    assert DEMO_PASSWORD not in sent
    assert alice.token not in sent
    assert "alice@acme.test" not in sent
    assert "server_name" not in event_
    assert all(
        "vars" not in f for v in event_["exception"]["values"] for f in v["stacktrace"]["frames"]
    )


# --- wiring --------------------------------------------------------------------------------------


def test_a_job_binds_its_own_context_and_leaves_none_behind(demo: DemoData) -> None:
    from app.logging import bind_job_context

    buffer = io.StringIO()
    tenant = demo.tenants["globex"]
    with capture_logs(buffer):
        with bind_job_context(job="overdue-reminders", tenant_id=tenant, run_id="job-run-0001"):
            structlog.get_logger("test").info("inside the job")
        structlog.get_logger("test").info("after the job")
    inside, after = records(buffer)
    assert inside["job"] == "overdue-reminders"
    assert inside["tenant_id"] == str(tenant)
    assert inside["request_id"] == "job-run-0001"
    assert "job" not in after
    assert "tenant_id" not in after


async def test_metrics_on_a_port_of_their_own(runtime_conn: AsyncConnection) -> None:
    import socket

    from app.telemetry import Telemetry

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    telemetry = Telemetry.from_settings(Settings(secret_key=TEST_SECRET, metrics_port=port))
    assert telemetry.routes() == []  # not served by the API itself
    telemetry.start()
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        telemetry.stop()
    assert answer.status_code == 200
    assert "tenantgraph_logins_total" in answer.text


def test_exporters_are_chosen_by_setting() -> None:
    from app.settings import ConfigurationError

    assert create_tracer_provider("none") is None
    console = create_tracer_provider("console")
    assert console is not None
    console.shutdown()
    try:
        import opentelemetry.exporter.otlp.proto.http  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigurationError, match=r"tenantgraph\[otlp\]"):
            create_tracer_provider("otlp")
    else:
        otlp = create_tracer_provider("otlp")
        assert otlp is not None
        otlp.shutdown()


async def test_a_resolver_failure_reaches_sentry_with_the_requests_tags(
    client: httpx.AsyncClient,
    demo: DemoData,
    sentry_events: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from repositories.tasks import TaskRepository

    async def broken(self: TaskRepository, **_: Any) -> None:
        raise RuntimeError("task storage failed for alice@acme.test")

    monkeypatch.setattr(TaskRepository, "create", broken)
    alice = await login(client, "alice@acme.test")
    response = await gql(
        client,
        'mutation { createTask(input: {title: "x"}) { id } }',
        session=alice,
        headers={"X-Request-ID": "sentry-req-2"},
    )
    assert error_codes(response.json()) == ["INTERNAL"]
    (event_,) = sentry_events
    assert event_["tags"] == {
        "tenant_id": str(demo.tenants["acme"]),
        "user_id": str(demo.users["alice@acme.test"]),
        "request_id": "sentry-req-2",
    }
    assert "alice@acme.test" not in json.dumps(event_)
    assert "request" not in event_ or not {"cookies", "headers", "data"} & set(event_["request"])

"""Browser safety: mutations only as JSON (no simple-request CSRF), CORS only for the tenant's
own origins with credentials and never `*`, and the cookie's flags."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import Database
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET
from tests.helpers import LOGIN, DemoData, Session, error_codes, gql, login
from tests.security.conftest import count_rows

URL = "http://acme.localhost/graphql"
CREATE = 'mutation { createTask(input: {title: "cross-site write"}) { id } }'


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Session:
    return await login(client, "alice@acme.test")


# --- JSON only --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", f"query={CREATE}"),
        (
            "multipart/form-data; boundary=x",
            f'--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n{CREATE}\r\n--x--',
        ),
        ("text/plain", f'{{"query": "{CREATE.replace(chr(34), chr(92) + chr(34))}"}}'),
        ("application/graphql", CREATE),
        (None, f'{{"query": "{CREATE.replace(chr(34), chr(92) + chr(34))}"}}'),
    ],
    ids=["form", "multipart", "text-plain", "graphql", "none"],
)
async def test_non_json_posts_are_refused_and_write_nothing(
    client: httpx.AsyncClient,
    alice: Session,
    runtime_conn: AsyncConnection,
    demo: DemoData,
    content_type: str | None,
    content: str,
) -> None:
    before = await count_rows(runtime_conn, "tasks", demo.tenants["acme"])
    headers = alice.headers()
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post(URL, content=content.encode(), headers=headers)
    assert response.status_code == 415
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert await count_rows(runtime_conn, "tasks", demo.tenants["acme"]) == before


async def test_json_with_a_charset_is_accepted(
    client: httpx.AsyncClient, alice: Session, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    before = await count_rows(runtime_conn, "tasks", demo.tenants["acme"])
    response = await client.post(
        URL,
        content=f'{{"query": "{CREATE.replace(chr(34), chr(92) + chr(34))}"}}'.encode(),
        headers={**alice.headers(), "Content-Type": "application/json; charset=utf-8"},
    )
    assert "errors" not in response.json()
    assert await count_rows(runtime_conn, "tasks", demo.tenants["acme"]) == before + 1


async def test_a_get_never_runs_a_mutation(
    client: httpx.AsyncClient, alice: Session, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    before = await count_rows(runtime_conn, "tasks", demo.tenants["acme"])
    for params in (
        {"query": CREATE},
        {
            "query": f"query Q {{ __typename }} {CREATE.replace('mutation', 'mutation M')}",
            "operationName": "M",
        },
    ):
        response = await client.get(URL, params=params, headers=alice.headers())
        assert response.status_code == 405
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert await count_rows(runtime_conn, "tasks", demo.tenants["acme"]) == before


# --- CORS -------------------------------------------------------------------------------------


async def preflight(
    client: httpx.AsyncClient, origin: str, host: str = "acme.localhost"
) -> httpx.Response:
    return await client.options(
        f"http://{host}/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.mark.parametrize(
    "origin", ["http://acme.localhost", "http://acme.localhost:3000", "http://ACME.localhost:5173"]
)
async def test_preflight_from_the_tenants_own_origin_is_granted(
    client: httpx.AsyncClient, origin: str
) -> None:
    response = await preflight(client, origin)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize(
    "origin",
    [
        "http://globex.localhost",  # another tenant
        "http://evil.example",
        "http://acme.localhost.evil.example",
        "http://evil.acme.localhost",  # nested: names no tenant
        "http://localhost",  # the platform's own host is not the tenant's
        "http://127.0.0.1",
        "null",
        "*",
        "file://",
        "http://acme.localhost/path",
    ],
)
async def test_preflight_from_any_other_origin_is_refused(
    client: httpx.AsyncClient, origin: str
) -> None:
    response = await preflight(client, origin)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


async def test_a_custom_domain_of_the_tenant_is_an_allowed_origin(
    client: httpx.AsyncClient, alice: Session
) -> None:
    added = await gql(
        client, 'mutation { addDomain(domain: "portal.acme-corp.test") { domain } }', session=alice
    )
    assert "errors" not in added.json(), added.json()
    granted = await preflight(client, "http://portal.acme-corp.test")
    assert granted.headers["access-control-allow-origin"] == "http://portal.acme-corp.test"
    # but not for another tenant's host
    assert (
        await preflight(client, "http://portal.acme-corp.test", host="globex.localhost")
    ).status_code == 403


async def test_the_bare_base_domain_allows_only_itself(client: httpx.AsyncClient) -> None:
    assert (await preflight(client, "http://localhost:3000", host="localhost")).status_code == 204
    assert (await preflight(client, "http://acme.localhost", host="localhost")).status_code == 403


async def test_requests_from_an_allowed_origin_are_answered_with_credentials(
    client: httpx.AsyncClient, alice: Session
) -> None:
    response = await gql(
        client, "{ viewer { role } }", session=alice, headers={"Origin": "http://acme.localhost"}
    )
    assert response.json()["data"]["viewer"]["role"] == "ADMIN"
    assert response.headers["access-control-allow-origin"] == "http://acme.localhost"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in response.headers["access-control-expose-headers"]


async def test_a_post_from_a_foreign_origin_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, alice: Session, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    before = await count_rows(runtime_conn, "tasks", demo.tenants["acme"])
    response = await gql(client, CREATE, session=alice, headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert error_codes(response.json()) == ["FORBIDDEN"]
    assert "access-control-allow-origin" not in response.headers
    assert await count_rows(runtime_conn, "tasks", demo.tenants["acme"]) == before
    # a GET from there runs (read-only) but the browser is not allowed to read the answer
    read = await client.get(
        URL, params={"query": "{ __typename }"}, headers={"Origin": "http://evil.example"}
    )
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers


@pytest.fixture
async def production(runtime_conn: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(secret_key=TEST_SECRET, env="production", base_domain="example.com")
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        yield http


async def test_production_allows_only_https_origins(production: httpx.AsyncClient) -> None:
    granted = await preflight(production, "https://acme.example.com", host="acme.example.com")
    assert granted.status_code == 204
    assert granted.headers["access-control-allow-origin"] == "https://acme.example.com"
    refused = await preflight(production, "http://acme.example.com", host="acme.example.com")
    assert refused.status_code == 403


async def test_extra_origins_are_configurable(runtime_conn: AsyncConnection) -> None:
    settings = Settings(secret_key=TEST_SECRET, cors_extra_origins=["https://status.example.org"])
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        response = await preflight(http, "https://status.example.org")
    assert response.headers["access-control-allow-origin"] == "https://status.example.org"


# --- cookie flags -----------------------------------------------------------------------------


def cookie_flags(response: httpx.Response) -> set[str]:
    header = response.headers["set-cookie"]
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]} | {
        part.strip().lower()
        for part in header.split(";")[1:]
        if part.strip().lower().startswith("samesite")
    }


async def test_cookie_flags_in_development(client: httpx.AsyncClient, alice: Session) -> None:
    response = await gql(client, LOGIN, {"email": "alice@acme.test", "password": "demo-password"})
    flags = cookie_flags(response)
    assert {"httponly", "samesite=lax", "path"} <= flags
    assert "secure" not in flags  # plain http on localhost
    cleared = await gql(client, "mutation { logout }", session=alice)
    assert {"httponly", "samesite=lax"} <= cookie_flags(cleared)


async def test_cookie_flags_in_production(production: httpx.AsyncClient) -> None:
    response = await gql(
        production,
        LOGIN,
        {"email": "alice@acme.test", "password": "demo-password"},
        host="acme.example.com",
    )
    assert {"httponly", "samesite=lax", "secure"} <= cookie_flags(response)


async def test_secure_can_be_forced_in_development(runtime_conn: AsyncConnection) -> None:
    settings = Settings(secret_key=TEST_SECRET, cookie_secure=True)
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        response = await gql(http, LOGIN, {"email": "alice@acme.test", "password": "demo-password"})
    assert {"httponly", "samesite=lax", "secure"} <= cookie_flags(response)

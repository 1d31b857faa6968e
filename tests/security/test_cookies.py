"""The tenant_sig cookie matrix: a token is only accepted with the genuine, unexpired cookie
issued with it. Anything else is 403 TENANT_MISMATCH before any resolver runs."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.tokens import TokenService
from app.context import Role
from app.settings import Settings
from tests.conftest import TEST_SECRET
from tests.helpers import DemoData, Session, error_codes, gql, login
from tests.security.conftest import count_rows

VIEWER = "{ viewer { user { email } } tasks(first: 1) { totalCount } }"
CREATE = 'mutation { createTask(input: {title: "through a bad cookie"}) { id } }'


def tokens() -> TokenService:
    settings = Settings(secret_key=TEST_SECRET)
    return TokenService(
        TEST_SECRET.encode(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=settings.token_ttl,
    )


async def assert_mismatch(
    client: httpx.AsyncClient, session: Session, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    before = await count_rows(runtime_conn, "tasks", demo.tenants["acme"])
    for document in (VIEWER, CREATE):
        response = await gql(client, document, session=session)
        body = response.json()
        assert response.status_code == 403, body
        assert error_codes(body) == ["TENANT_MISMATCH"]
        assert body.get("data") is None
        assert "set-cookie" not in response.headers
    assert await count_rows(runtime_conn, "tasks", demo.tenants["acme"]) == before


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Session:
    return await login(client, "alice@acme.test")


async def test_the_genuine_cookie_is_accepted(client: httpx.AsyncClient, alice: Session) -> None:
    body = (await gql(client, VIEWER, session=alice)).json()
    assert body["data"]["viewer"]["user"] == {"email": "alice@acme.test"}


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "empty",
        "plain",
        "unsigned",
        "signature edited",
        "tenant edited",
        "user edited",
        "expiry pushed",
        "extra part",
        "oversized",
    ],
)
async def test_forged_cookies_are_refused(
    client: httpx.AsyncClient,
    alice: Session,
    demo: DemoData,
    runtime_conn: AsyncConnection,
    kind: str,
) -> None:
    tenant, user, expiry, mac = alice.cookie.split(".")
    cookie = {
        "missing": None,
        "empty": "",
        "plain": str(demo.tenants["acme"]),  # the bare tenant id, as a naive app would set it
        "unsigned": f"{tenant}.{user}.{expiry}.",
        "signature edited": f"{tenant}.{user}.{expiry}.{mac[:-3]}abc",
        "tenant edited": f"{demo.tenants['globex']}.{user}.{expiry}.{mac}",
        "user edited": f"{tenant}.{demo.users['carol@acme.test']}.{expiry}.{mac}",
        "expiry pushed": f"{tenant}.{user}.{int(expiry) + 86400}.{mac}",
        "extra part": f"{alice.cookie}.x",
        "oversized": alice.cookie + "A" * 300,
    }[kind]
    if cookie is None:
        session_headers = {"Authorization": f"Bearer {alice.token}"}
        response = await gql(client, VIEWER, headers=session_headers)
        assert response.status_code == 403
        assert error_codes(response.json()) == ["TENANT_MISMATCH"]
        return
    await assert_mismatch(client, Session(alice.token, cookie, alice.host), runtime_conn, demo)


async def test_another_users_genuine_cookie_is_refused(
    client: httpx.AsyncClient, alice: Session, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    carol = await login(client, "carol@acme.test")  # same tenant, another user
    await assert_mismatch(
        client, Session(alice.token, carol.cookie, alice.host), runtime_conn, demo
    )
    await assert_mismatch(
        client, Session(carol.token, alice.cookie, carol.host), runtime_conn, demo
    )


async def test_a_genuine_cookie_of_another_tenant_is_refused(
    client: httpx.AsyncClient, alice: Session, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    alice_globex = await login(client, "alice@acme.test", host="globex.localhost")
    for cookie in (bob.cookie, alice_globex.cookie):
        await assert_mismatch(client, Session(alice.token, cookie, alice.host), runtime_conn, demo)


async def test_an_expired_cookie_is_refused(
    client: httpx.AsyncClient, demo: DemoData, runtime_conn: AsyncConnection
) -> None:
    service = tokens()
    token, claims = service.issue(
        user_id=demo.users["alice@acme.test"],
        tenant_id=demo.tenants["acme"],
        role=Role.ADMIN,
        token_version=1,
    )
    expired = service.sign_cookie(replace(claims, expires_at=int(time.time()) - 1))
    await assert_mismatch(client, Session(token, expired, "acme.localhost"), runtime_conn, demo)


async def test_a_cookie_without_a_token_grants_nothing(
    client: httpx.AsyncClient, alice: Session
) -> None:
    # the cookie alone is not a credential: the caller is anonymous
    response = await gql(client, VIEWER, headers={"Cookie": f"tenant_sig={alice.cookie}"})
    body = response.json()
    assert body["data"] is None or body["data"]["viewer"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]

"""Credentials are checked before any resolver runs: token, cookie and host must agree."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.tokens import TokenService
from app.context import Role
from app.settings import Settings
from tests.helpers import DemoData, Session, error_codes, gql, login

SUSPEND = "UPDATE tenant_memberships SET status = '{status}' WHERE tenant_id = :t AND user_id = :u"
VIEWER = "{ viewer { activeTenant { slug } } tasks(first: 1) { totalCount } }"


def tokens(settings: Settings, *, ttl: int = 3600, secret: bytes | None = None) -> TokenService:
    return TokenService(
        secret or settings.signing_secret(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=ttl,
    )


async def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    body = response.json()
    assert response.status_code == status, body
    assert error_codes(body) == [code]
    assert body.get("data") is None  # nothing ran


async def test_genuine_session_is_accepted(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, VIEWER, session=alice)).json()
    assert body["data"]["viewer"]["activeTenant"]["slug"] == "acme"
    assert body["data"]["tasks"]["totalCount"] == 37


async def test_missing_cookie_is_a_tenant_mismatch(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    response = await gql(client, VIEWER, headers={"Authorization": f"Bearer {alice.token}"})
    await assert_refused(response, 403, "TENANT_MISMATCH")


async def test_forged_cookie_is_a_tenant_mismatch(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    tenant, user, expiry, mac = alice.cookie.split(".")
    for forged in (
        f"{demo.tenants['globex']}.{user}.{expiry}.{mac}",  # tenant swapped
        f"{tenant}.{user}.{int(expiry) + 3600}.{mac}",  # expiry pushed
        f"{tenant}.{user}.{expiry}.{mac[:-2]}AA",  # signature edited
        "plain-value",
        "",
    ):
        session = Session(alice.token, forged, alice.host)
        await assert_refused(await gql(client, VIEWER, session=session), 403, "TENANT_MISMATCH")


async def test_genuine_cookie_of_another_tenant_is_a_mismatch(client: httpx.AsyncClient) -> None:
    # alice holds genuine sessions in acme and globex; mixing them is refused
    acme = await login(client, "alice@acme.test")
    globex = await login(client, "alice@acme.test", host="globex.localhost")
    assert globex.host == "globex.localhost"
    for session in (
        Session(acme.token, globex.cookie, "acme.localhost"),
        Session(globex.token, acme.cookie, "globex.localhost"),
    ):
        await assert_refused(await gql(client, VIEWER, session=session), 403, "TENANT_MISMATCH")


async def test_another_users_genuine_cookie_is_a_mismatch(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    carol = await login(client, "carol@acme.test")
    session = Session(alice.token, carol.cookie, "acme.localhost")
    await assert_refused(await gql(client, VIEWER, session=session), 403, "TENANT_MISMATCH")


async def test_token_used_on_another_tenants_host_is_a_mismatch(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    response = await gql(client, VIEWER, session=alice, host="globex.localhost")
    await assert_refused(response, 403, "TENANT_MISMATCH")


async def test_expired_cookie_is_a_tenant_mismatch(
    client: httpx.AsyncClient, settings: Settings, demo: DemoData
) -> None:
    service = tokens(settings)
    token, claims = service.issue(
        user_id=demo.users["alice@acme.test"],
        tenant_id=demo.tenants["acme"],
        role=Role.ADMIN,
        token_version=1,
    )
    expired = service.sign_cookie(replace(claims, expires_at=int(time.time()) - 10))
    await assert_refused(
        await gql(client, VIEWER, session=Session(token, expired, "acme.localhost")),
        403,
        "TENANT_MISMATCH",
    )


async def test_bare_base_domain_takes_the_tenant_from_the_token(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, VIEWER, session=alice, host="localhost")).json()
    assert body["data"]["viewer"]["activeTenant"]["slug"] == "acme"
    assert body["data"]["tasks"]["totalCount"] == 37


@pytest.mark.parametrize("host", ["nope.localhost", "a.b.localhost", "unknown.example.org"])
async def test_unknown_tenant_host_is_404(client: httpx.AsyncClient, host: str) -> None:
    await assert_refused(await gql(client, VIEWER, host=host), 404, "TENANT_NOT_FOUND")


@pytest.mark.parametrize("host", ["127.0.0.1", "www.localhost", "localhost"])
async def test_platform_hosts_never_resolve_to_a_tenant(
    client: httpx.AsyncClient, host: str
) -> None:
    body = (await gql(client, "{ viewer { role } }", host=host)).json()
    assert body == {"data": {"viewer": None}}


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, settings: Settings, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    header, payload, signature = alice.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    other_key = tokens(settings, secret=b"another-secret-of-at-least-32-bytes!!")
    wrong_signer, _ = other_key.issue(
        user_id=demo.users["alice@acme.test"],
        tenant_id=demo.tenants["acme"],
        role=Role.ADMIN,
        token_version=1,
    )
    expired, _ = tokens(settings, ttl=-120).issue(
        user_id=demo.users["alice@acme.test"],
        tenant_id=demo.tenants["acme"],
        role=Role.ADMIN,
        token_version=1,
    )
    edited = {**claims, "sub": str(demo.users["carol@acme.test"])}
    cases = {
        "edited payload": f"{header}.{_b64(edited)}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "wrong key": wrong_signer,
        "expired": expired,
        "garbage": "not-a-jwt",
    }
    for name, token in cases.items():
        session = Session(token, alice.cookie, "acme.localhost")
        response = await gql(client, VIEWER, session=session)
        assert response.status_code == 401, name
        assert error_codes(response.json()) == ["UNAUTHENTICATED"], name
    response = await gql(client, VIEWER, headers={"Authorization": "Basic abc"})
    await assert_refused(response, 401, "UNAUTHENTICATED")


async def test_suspended_membership_is_forbidden(
    client: httpx.AsyncClient, owner_engine: AsyncEngine, demo: DemoData
) -> None:
    dave = await login(client, "dave@initech.test", tenant="acme")
    assert dave.host == "acme.localhost"
    assert (await gql(client, VIEWER, session=dave)).status_code == 200
    # the operator suspends the membership (committed on the owner connection, restored after)
    params = {"t": demo.tenants["acme"], "u": demo.users["dave@initech.test"]}
    async with owner_engine.begin() as owner:
        await owner.execute(
            text(SUSPEND.format(status="suspended")),
            params,
        )
    try:
        await assert_refused(await gql(client, VIEWER, session=dave), 403, "FORBIDDEN")
    finally:
        async with owner_engine.begin() as owner:
            await owner.execute(
                text(SUSPEND.format(status="active")),
                params,
            )
    assert (await gql(client, VIEWER, session=dave)).status_code == 200


async def test_inbound_tenant_headers_are_ignored(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    response = await gql(
        client,
        VIEWER,
        session=alice,
        headers={"X-Tenant-Id": str(demo.tenants["globex"]), "X-Tenant-Slug": "globex"},
    )
    body = response.json()
    assert body["data"]["viewer"]["activeTenant"]["slug"] == "acme"
    assert body["data"]["tasks"]["totalCount"] == 37 != 23


async def test_request_id_is_echoed_when_sane_and_replaced_otherwise(
    client: httpx.AsyncClient,
) -> None:
    kept = await gql(client, "{ viewer { role } }", headers={"X-Request-ID": "trace-1234abcd"})
    assert kept.headers["x-request-id"] == "trace-1234abcd"
    replaced = await gql(client, "{ viewer { role } }", headers={"X-Request-ID": "bad id <script>"})
    assert replaced.headers["x-request-id"] != "bad id <script>"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_cookie_belongs_to_the_token_it_was_issued_with(client: httpx.AsyncClient) -> None:
    before = await login(client, "alice@acme.test")
    after = await login(client, "alice@acme.test")
    # same user, same tenant, both genuine: still, each cookie only goes with its own token
    for session in (
        Session(after.token, before.cookie, "acme.localhost"),
        Session(before.token, after.cookie, "acme.localhost"),
    ):
        await assert_refused(await gql(client, VIEWER, session=session), 403, "TENANT_MISMATCH")
    assert (await gql(client, VIEWER, session=after)).status_code == 200


async def test_duplicate_host_headers_are_refused(client: httpx.AsyncClient) -> None:
    request = client.build_request(
        "POST", "http://acme.localhost/graphql", json={"query": "{ viewer { role } }"}
    )
    request.headers = httpx.Headers([*request.headers.multi_items(), ("Host", "globex.localhost")])
    response = await client.send(request)
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]

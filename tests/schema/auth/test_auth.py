"""Sign-in, tenant switching and session revocation over HTTP."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.settings import Environment, Settings
from tests.conftest import TEST_SECRET
from tests.helpers import LOGIN, DemoData, Session, error_codes, gql, login, set_cookie_value

VIEWER = "{ viewer { user { email } activeTenant { slug } role memberships { tenant { slug } role isDefault } } }"
SWITCH = (
    "mutation($t: ID!) { switchTenant(tenantId: $t) { token viewer { activeTenant { slug } } } }"
)


async def test_anonymous_viewer_is_null(client: httpx.AsyncClient) -> None:
    assert (await gql(client, VIEWER)).json() == {"data": {"viewer": None}}


async def test_login_answers_viewer_with_memberships(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    viewer = (await gql(client, VIEWER, session=alice)).json()["data"]["viewer"]
    assert viewer["user"] == {"email": "alice@acme.test"}
    assert viewer["activeTenant"] == {"slug": "acme"}
    assert viewer["role"] == "ADMIN"
    assert viewer["memberships"] == [
        {"tenant": {"slug": "acme"}, "role": "ADMIN", "isDefault": True},
        {"tenant": {"slug": "globex"}, "role": "STAFF", "isDefault": False},
    ]


async def test_login_tenant_defaults_to_host_then_default_membership(
    client: httpx.AsyncClient,
) -> None:
    assert (
        await login(client, "alice@acme.test", host="globex.localhost")
    ).host == "globex.localhost"
    assert (await login(client, "alice@acme.test", host="localhost")).host == "acme.localhost"
    assert (await login(client, "dave@initech.test", host="localhost")).host == "initech.localhost"
    assert (
        await login(client, "dave@initech.test", host="localhost", tenant="acme")
    ).host == "acme.localhost"


async def test_login_failures_all_look_the_same(client: httpx.AsyncClient) -> None:
    cases = [
        ("alice@acme.test", "wrong-password", None, "acme.localhost"),
        ("nobody@acme.test", "demo-password", None, "acme.localhost"),
        ("bob@globex.test", "demo-password", None, "acme.localhost"),  # not a member of acme
        ("alice@acme.test", "demo-password", "initech", "localhost"),  # not a member
        ("root@platform.test", "demo-password", None, "localhost"),  # no membership anywhere
    ]
    messages = set()
    for email, password, tenant, host in cases:
        response = await gql(
            client, LOGIN, {"email": email, "password": password, "tenant": tenant}, host=host
        )
        body = response.json()
        assert error_codes(body) == ["UNAUTHENTICATED"], (email, body)
        assert body["data"] is None
        assert set_cookie_value(response) is None
        messages.add(body["errors"][0]["message"])
    assert messages == {"Invalid email, password or organization"}


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    session = await login(client, "  ALICE@Acme.Test ")
    assert session.host == "acme.localhost"


async def test_cookie_attributes(client: httpx.AsyncClient, runtime_conn: AsyncConnection) -> None:
    response = await gql(client, LOGIN, {"email": "alice@acme.test", "password": "demo-password"})
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "secure" not in header  # local development over http
    from app.database import Database
    from app.main import create_app

    production = Settings(
        secret_key=TEST_SECRET, env=Environment.PRODUCTION, base_domain="example.com"
    )
    app = create_app(settings=production, database=Database.bound_to(runtime_conn))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://acme.example.com"
    ) as prod:
        response = await gql(
            prod,
            LOGIN,
            {"email": "alice@acme.test", "password": "demo-password"},
            host="acme.example.com",
        )
    header = response.headers["set-cookie"].lower()
    assert "secure" in header
    assert "domain=example.com" in header  # shared by <slug>.example.com for the switcher


async def test_switch_tenant_needs_a_membership(client: httpx.AsyncClient, demo: DemoData) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, SWITCH, {"t": demo.tenant_gid("acme")}, session=bob)).json()
    assert error_codes(body) == ["NOT_FOUND"]
    assert body["data"] is None
    # and bob's session still works in globex only
    assert (await gql(client, VIEWER, session=bob)).json()["data"]["viewer"]["activeTenant"] == {
        "slug": "globex"
    }


async def test_switch_tenant_issues_a_new_cookie_for_the_new_tenant(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    response = await gql(client, SWITCH, {"t": demo.tenant_gid("globex")}, session=alice)
    cookie = set_cookie_value(response)
    assert cookie is not None
    assert cookie.startswith(str(demo.tenants["globex"]))
    globex = Session(response.json()["data"]["switchTenant"]["token"], cookie, "globex.localhost")
    assert (await gql(client, VIEWER, session=globex)).json()["data"]["viewer"]["role"] == "STAFF"
    # the acme session is still valid on its own host (switching is not a logout)
    assert (await gql(client, VIEWER, session=alice)).status_code == 200


async def test_revoke_all_sessions_invalidates_every_earlier_token(
    client: httpx.AsyncClient,
) -> None:
    first = await login(client, "alice@acme.test")
    second = await login(client, "alice@acme.test", host="globex.localhost")
    response = await gql(client, "mutation { revokeAllSessions }", session=first)
    assert response.json() == {"data": {"revokeAllSessions": True}}
    assert "tenant_sig=" in response.headers["set-cookie"]
    for old in (first, second):
        response = await gql(client, VIEWER, session=old)
        assert response.status_code == 401
        assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    fresh = await login(client, "alice@acme.test")
    assert (await gql(client, VIEWER, session=fresh)).status_code == 200


async def test_logout_clears_the_cookie(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    response = await gql(client, "mutation { logout }", session=alice)
    assert response.json() == {"data": {"logout": True}}
    header = response.headers["set-cookie"].lower()
    assert header.startswith('tenant_sig=""') or "max-age=0" in header


async def test_login_and_switch_are_audited(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    await gql(client, SWITCH, {"t": demo.tenant_gid("globex")}, session=alice)
    for slug, action, absent in (
        ("acme", "auth.login", "auth.switch_tenant"),
        ("globex", "auth.switch_tenant", "auth.login"),
    ):
        await runtime_conn.execute(
            text("SELECT set_config('app.current_tenant_id', :t, true)"),
            {"t": str(demo.tenants[slug])},
        )
        actions = set(
            (
                await runtime_conn.execute(
                    text("SELECT action FROM audit_logs WHERE actor_id = :u"),
                    {"u": demo.users["alice@acme.test"]},
                )
            ).scalars()
        )
        assert action in actions
        assert absent not in actions


# --- transport -------------------------------------------------------------------------------


async def test_get_runs_queries_but_never_mutations(client: httpx.AsyncClient) -> None:
    ok = await client.get("http://acme.localhost/graphql", params={"query": "{ viewer { role } }"})
    assert ok.json() == {"data": {"viewer": None}}
    refused = await client.get(
        "http://acme.localhost/graphql",
        params={
            "query": 'mutation { login(email: "alice@acme.test", password: "demo-password") { token } }'
        },
    )
    assert refused.status_code == 405
    assert error_codes(refused.json()) == ["BAD_USER_INPUT"]
    assert "set-cookie" not in refused.headers


async def test_malformed_requests(client: httpx.AsyncClient) -> None:
    url = "http://acme.localhost/graphql"
    form = await client.post(
        url,
        content="query={viewer{role}}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415
    bad_json = await client.post(url, content="{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    not_object = await client.post(url, json=["query"])
    assert not_object.status_code == 400
    no_query = await client.post(url, json={"variables": {}})
    assert no_query.status_code == 400
    syntax = await client.post(url, json={"query": "{ viewer { "})
    assert syntax.status_code == 200
    assert error_codes(syntax.json()) == ["BAD_USER_INPUT"]
    for response in (form, bad_json, not_object, no_query):
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_health_endpoints_need_no_tenant(client: httpx.AsyncClient) -> None:
    assert (await client.get("http://nope.localhost/healthz")).json() == {"status": "ok"}
    ready = await client.get("http://nope.localhost/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_failed_login_never_logs_the_password(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "correct-horse-battery-staple-1"
    for email in ("alice@acme.test", "nobody@acme.test"):
        response = await gql(client, LOGIN, {"email": email, "password": secret})
        assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    inline = f'mutation {{ login(email: "alice@acme.test", password: "{secret}") {{ token }} }}'
    assert error_codes((await gql(client, inline)).json()) == ["UNAUTHENTICATED"]
    captured = capfd.readouterr()
    assert secret not in caplog.text
    assert secret not in captured.out + captured.err
    assert "Traceback" not in caplog.text + captured.err


async def test_login_for_another_tenant_than_the_host_is_refused(client: httpx.AsyncClient) -> None:
    response = await gql(
        client, LOGIN, {"email": "alice@acme.test", "password": "demo-password", "tenant": "globex"}
    )
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert set_cookie_value(response) is None
    # on the platform's own host the argument chooses the tenant
    assert (
        await login(client, "alice@acme.test", host="localhost", tenant="globex")
    ).host == "globex.localhost"

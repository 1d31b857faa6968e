"""The host matrix: which tenant a Host names. The platform's own names and IP addresses never
resolve to a tenant; an unknown tenant is 404 TENANT_NOT_FOUND; X-Forwarded-Host counts only
from a configured proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import Database
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET
from tests.helpers import error_codes, login

PUBLIC = "{ publicServices(first: 100) { totalCount edges { node { name } } } }"


async def post(
    client: httpx.AsyncClient, host: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "http://acme.localhost/graphql",
        json={"query": PUBLIC},
        headers={"Host": host, **(headers or {})},
    )


async def catalogue_size(client: httpx.AsyncClient, host: str) -> int:
    response = await post(client, host)
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["publicServices"]["totalCount"])


@pytest.fixture
async def sizes(client: httpx.AsyncClient) -> dict[str, int]:
    found = {slug: await catalogue_size(client, f"{slug}.localhost") for slug in ("acme", "globex")}
    assert found["acme"] > 0
    assert found["globex"] > 0
    assert found["acme"] != found["globex"]  # a leak would show in the count
    return found


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8000",
        "LOCALHOST.",
        "www.localhost",
        "api.localhost",
        "127.0.0.1",
        "127.0.0.1:8000",
        "10.0.0.7",
        "[::1]",
        "[::1]:8000",
        "[2001:db8::1]",
    ],
)
async def test_platform_names_and_ip_hosts_name_no_tenant(
    client: httpx.AsyncClient, host: str
) -> None:
    assert await catalogue_size(client, host) == 0
    body = (
        await client.post(
            "http://x/graphql", json={"query": "{ viewer { role } }"}, headers={"Host": host}
        )
    ).json()
    assert body == {"data": {"viewer": None}}


@pytest.mark.parametrize(
    ("host", "slug"),
    [
        ("acme.localhost", "acme"),
        ("ACME.LOCALHOST", "acme"),
        ("Acme.Localhost.", "acme"),
        ("acme.localhost:8000", "acme"),
        ("globex.localhost:443", "globex"),
        ("globex.localhost.", "globex"),
    ],
)
async def test_case_trailing_dot_and_port_variants_name_the_same_tenant(
    client: httpx.AsyncClient, sizes: dict[str, int], host: str, slug: str
) -> None:
    assert await catalogue_size(client, host) == sizes[slug]


@pytest.mark.parametrize(
    "host",
    [
        "nope.localhost",
        "a.acme.localhost",  # nested sub-domain: names nothing, not acme
        "acme.acme.localhost",
        "www.acme.localhost",
        "acme.localhost.evil.example",  # a custom domain nobody mapped
        "acme-.localhost",
        "-acme.localhost",
        "acme_x.localhost",
        "acme.localhost@evil.example",
        "",
        "acme.localhost:8000:9000",
        "x" * 300 + ".localhost",
    ],
)
async def test_unknown_or_malformed_hosts_are_404(client: httpx.AsyncClient, host: str) -> None:
    response = await post(client, host)
    assert response.status_code == 404, response.text
    body = response.json()
    assert error_codes(body) == ["TENANT_NOT_FOUND"]
    assert "data" not in body


async def test_a_session_cannot_be_carried_to_a_nested_name(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    response = await post(client, "evil.acme.localhost", alice.headers())
    assert response.status_code == 404


async def test_duplicate_host_headers_are_400(client: httpx.AsyncClient) -> None:
    request = client.build_request("POST", "http://acme.localhost/graphql", json={"query": PUBLIC})
    request.headers = httpx.Headers([*request.headers.multi_items(), ("Host", "globex.localhost")])
    response = await client.send(request)
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_forwarded_host_from_an_untrusted_peer_is_ignored(
    client: httpx.AsyncClient, sizes: dict[str, int]
) -> None:
    # no proxy is configured: the header is the caller's own words
    response = await post(client, "acme.localhost", {"X-Forwarded-Host": "globex.localhost"})
    assert response.json()["data"]["publicServices"]["totalCount"] == sizes["acme"]
    response = await post(client, "acme.localhost", {"X-Forwarded-Host": "nope.localhost"})
    assert response.status_code == 200


@pytest.fixture
async def behind_proxy(runtime_conn: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    """The app with TENANTGRAPH_TRUSTED_PROXIES=10.0.0.0/8, called from 10.0.0.2."""
    settings = Settings(secret_key=TEST_SECRET, trusted_proxies=["10.0.0.0/8"])
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    transport = httpx.ASGITransport(app=app, client=("10.0.0.2", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as http:
        yield http


async def test_forwarded_host_from_a_trusted_proxy_names_the_tenant(
    behind_proxy: httpx.AsyncClient, sizes: dict[str, int]
) -> None:
    response = await post(behind_proxy, "internal:8080", {"X-Forwarded-Host": "globex.localhost"})
    assert response.json()["data"]["publicServices"]["totalCount"] == sizes["globex"]
    unknown = await post(behind_proxy, "acme.localhost", {"X-Forwarded-Host": "nope.localhost"})
    assert unknown.status_code == 404
    assert error_codes(unknown.json()) == ["TENANT_NOT_FOUND"]
    ip = await post(behind_proxy, "acme.localhost", {"X-Forwarded-Host": "192.0.2.1"})
    assert ip.json()["data"]["publicServices"]["totalCount"] == 0


async def test_a_trusted_proxy_does_not_make_every_peer_trusted(
    runtime_conn: AsyncConnection, sizes: dict[str, int]
) -> None:
    settings = Settings(secret_key=TEST_SECRET, trusted_proxies=["10.0.0.0/8"])
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.50", 40000))
    async with httpx.AsyncClient(transport=transport) as outsider:
        response = await post(outsider, "acme.localhost", {"X-Forwarded-Host": "globex.localhost"})
    assert response.json()["data"]["publicServices"]["totalCount"] == sizes["acme"]

"""Custom domains: acme has portal.acme-advisory.test, globex clients.globex-consulting.test,
initech none."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import DemoData, error_codes, gql, login

DOMAINS = "query { domains { domain createdAt } }"
ADD = "mutation($d: String!) { addDomain(domain: $d) { domain } }"
REMOVE = "mutation($d: String!) { removeDomain(domain: $d) }"
VIEWER = "query { viewer { activeTenant { slug } } }"
ACME_DOMAIN = "portal.acme-advisory.test"
GLOBEX_DOMAIN = "clients.globex-consulting.test"


async def domains_of(client: httpx.AsyncClient, session) -> list[str]:  # type: ignore[no-untyped-def]
    body = (await gql(client, DOMAINS, session=session)).json()
    assert "errors" not in body, body
    return [d["domain"] for d in body["data"]["domains"]]


async def test_each_admin_lists_only_its_domains(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    dave = await login(client, "dave@initech.test", host="initech.localhost")

    assert await domains_of(client, alice) == [ACME_DOMAIN]
    assert await domains_of(client, bob) == [GLOBEX_DOMAIN]
    assert await domains_of(client, dave) == []


async def test_add_a_domain_that_then_serves_the_tenant(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")

    body = (await gql(client, ADD, {"d": "  Book.Acme-Clients.EXAMPLE. "}, session=alice)).json()

    assert body == {"data": {"addDomain": {"domain": "book.acme-clients.example"}}}
    assert await domains_of(client, alice) == ["book.acme-clients.example", ACME_DOMAIN]
    served = await gql(client, VIEWER, session=alice, host="book.acme-clients.example")
    assert served.json()["data"]["viewer"] == {"activeTenant": {"slug": "acme"}}
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    assert await domains_of(client, bob) == [GLOBEX_DOMAIN]
    audit = (
        await gql(
            client,
            'query { auditLog(first: 1, filter: {targetType: "domain"}) '
            "{ edges { node { action changes targetId } } } }",
            session=alice,
        )
    ).json()
    assert audit["data"]["auditLog"]["edges"][0]["node"] == {
        "action": "domain.add",
        "changes": {"domain": "book.acme-clients.example"},
        "targetId": None,
    }


async def test_another_tenants_domain_is_a_conflict_that_names_nobody(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")

    body = (await gql(client, ADD, {"d": GLOBEX_DOMAIN.upper()}, session=alice)).json()

    assert error_codes(body) == ["CONFLICT"]
    assert "globex" not in body["errors"][0]["message"].lower().replace(GLOBEX_DOMAIN, "")
    assert str(demo.tenants["globex"]) not in str(body)
    assert await domains_of(client, alice) == [ACME_DOMAIN]
    assert await domains_of(client, bob) == [GLOBEX_DOMAIN]
    again = (await gql(client, ADD, {"d": ACME_DOMAIN}, session=alice)).json()
    assert error_codes(again) == ["CONFLICT"]


@pytest.mark.parametrize(
    "domain",
    [
        "localhost",
        "acme.localhost",
        "evil.acme.localhost",
        "intranet",
        "127.0.0.1",
        "example.com:8443",
        "exa mple.com",
        "-bad.example.com",
        "under_score.example.com",
        "a" * 64 + ".example.com",
        "",
    ],
)
async def test_malformed_or_platform_domains_are_bad_input(
    client: httpx.AsyncClient, domain: str
) -> None:
    alice = await login(client, "alice@acme.test")

    body = (await gql(client, ADD, {"d": domain}, session=alice)).json()

    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert await domains_of(client, alice) == [ACME_DOMAIN]


async def test_remove_only_ones_own_domain(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")

    foreign = (await gql(client, REMOVE, {"d": GLOBEX_DOMAIN}, session=alice)).json()
    unknown = (await gql(client, REMOVE, {"d": "never.added.example"}, session=alice)).json()
    own = (await gql(client, REMOVE, {"d": ACME_DOMAIN.upper()}, session=alice)).json()

    assert error_codes(foreign) == ["NOT_FOUND"]
    assert foreign["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert own == {"data": {"removeDomain": True}}
    assert await domains_of(client, alice) == []
    assert await domains_of(client, bob) == [GLOBEX_DOMAIN]


async def test_only_admins_manage_domains(client: httpx.AsyncClient) -> None:
    carol = await login(client, "carol@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    alice = await login(client, "alice@acme.test")

    for session in (carol, dave):
        for query, variables in (
            (DOMAINS, None),
            (ADD, {"d": "new.example.com"}),
            (REMOVE, {"d": ACME_DOMAIN}),
        ):
            body = (await gql(client, query, variables, session=session)).json()
            assert error_codes(body) == ["FORBIDDEN"], body

    assert await domains_of(client, alice) == [ACME_DOMAIN]


async def test_an_ip_address_is_not_a_domain(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, ADD, {"d": "127.0.0.1"}, session=alice)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "IP address" in body["errors"][0]["message"]

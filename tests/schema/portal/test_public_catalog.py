"""The public catalogue: no login, the tenant is the host's; the database itself lets an
anonymous request read only active services and future availability of that tenant."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.seed import _id as seed_id
from schema.ids import decode_id, encode_id
from tests.helpers import DemoData, error_codes, gql, login

PUBLIC_SERVICES = """
query PublicServices($first: Int, $after: String) {
  publicServices(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id slug name active priceCents durationMinutes } }
  }
}
"""
PUBLIC_AVAILABILITY = """
query PublicAvailability($service: ID!, $from: DateTime!, $to: DateTime!, $first: Int, $after: String) {
  publicAvailability(serviceId: $service, from: $from, to: $to, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id startsAt endsAt capacity } }
  }
}
"""
DEACTIVATE = "mutation($id: ID!) { updateService(id: $id, input: {active: false}) { active } }"
WIDE = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}


def service_gid(slug: str, service: str) -> str:
    return encode_id("Service", seed_id(slug, "service", service))


def slugs(body: dict) -> set[str]:
    assert "errors" not in body, body
    return {e["node"]["slug"] for e in body["data"]["publicServices"]["edges"]}


def slot_ids(body: dict) -> set[uuid.UUID]:
    assert "errors" not in body, body
    return {
        decode_id("AvailabilitySlot", e["node"]["id"])
        for e in body["data"]["publicAvailability"]["edges"]
    }


async def future_slots(owner: AsyncConnection, tenant: uuid.UUID, service: str) -> set:
    rows = await owner.execute(
        text(
            "SELECT id FROM availability_slots WHERE tenant_id = :t AND starts_at > now() "
            "AND (service_id = :s OR service_id IS NULL)"
        ),
        {"t": tenant, "s": seed_id(*service.split("/"))},
    )
    return {r.id for r in rows}


async def test_each_host_shows_its_own_active_services(client: httpx.AsyncClient) -> None:
    # when anonymous visitors open acme's and globex's hosts
    acme = (await gql(client, PUBLIC_SERVICES, host="acme.localhost")).json()
    globex = (await gql(client, PUBLIC_SERVICES, host="globex.localhost")).json()
    initech = (await gql(client, PUBLIC_SERVICES, host="initech.localhost")).json()

    # then each sees its tenant's offered services, never a withdrawn one nor another tenant's
    assert slugs(acme) == {"tax-return", "bookkeeping", "payroll", "audit-prep", "consultation"}
    assert slugs(globex) == {"strategy", "market-study", "coaching"}
    assert slugs(initech) == {"contract-review", "incorporation"}
    assert acme["data"]["publicServices"]["totalCount"] == 5
    assert globex["data"]["publicServices"]["totalCount"] == 3
    for body in (acme, globex):
        assert all(e["node"]["active"] for e in body["data"]["publicServices"]["edges"])
    assert "paper-filing" not in slugs(acme)
    assert "fax-reports" not in slugs(globex)


async def test_public_pages_walk_every_service_once(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    after = None
    while True:
        body = (
            await gql(client, PUBLIC_SERVICES, {"first": 2, "after": after}, host="acme.localhost")
        ).json()
        seen += [e["node"]["slug"] for e in body["data"]["publicServices"]["edges"]]
        if not body["data"]["publicServices"]["pageInfo"]["hasNextPage"]:
            break
        after = body["data"]["publicServices"]["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 5


async def test_the_bare_base_domain_has_no_catalogue(client: httpx.AsyncClient) -> None:
    body = (await gql(client, PUBLIC_SERVICES, host="localhost")).json()
    assert body == {
        "data": {
            "publicServices": {
                "totalCount": 0,
                "pageInfo": {"hasNextPage": False, "endCursor": None},
                "edges": [],
            }
        }
    }
    variables = {"service": service_gid("acme", "payroll"), **WIDE}
    body = (await gql(client, PUBLIC_AVAILABILITY, variables, host="localhost")).json()
    assert body["data"]["publicAvailability"]["edges"] == []
    assert body["data"]["publicAvailability"]["totalCount"] == 0


async def test_a_withdrawn_service_leaves_the_public_catalogue(
    client: httpx.AsyncClient,
) -> None:
    alice = await login(client, "alice@acme.test")
    body = await gql(client, DEACTIVATE, {"id": service_gid("acme", "payroll")}, session=alice)
    assert body.json()["data"]["updateService"]["active"] is False
    body = (await gql(client, PUBLIC_SERVICES, host="acme.localhost")).json()
    assert "payroll" not in slugs(body)
    assert body["data"]["publicServices"]["totalCount"] == 4
    # and its availability is no longer shown either
    variables = {"service": service_gid("acme", "payroll"), **WIDE}
    body = (await gql(client, PUBLIC_AVAILABILITY, variables, host="acme.localhost")).json()
    assert slot_ids(body) == set()


async def test_signed_in_visitors_see_the_same_public_catalogue(
    client: httpx.AsyncClient,
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, PUBLIC_SERVICES, session=bob)).json()
    assert slugs(body) == {"strategy", "market-study", "coaching"}


async def test_public_availability_is_future_slots_of_the_hosts_service(
    client: httpx.AsyncClient, owner_conn: AsyncConnection, demo: DemoData
) -> None:
    # given acme's bookkeeping and globex's coaching
    expected_acme = await future_slots(owner_conn, demo.tenants["acme"], "acme/service/bookkeeping")
    expected_globex = await future_slots(
        owner_conn, demo.tenants["globex"], "globex/service/coaching"
    )
    assert expected_acme
    assert expected_globex

    # when anonymous visitors ask each host
    acme = (
        await gql(
            client,
            PUBLIC_AVAILABILITY,
            {"service": service_gid("acme", "bookkeeping"), "first": 100, **WIDE},
            host="acme.localhost",
        )
    ).json()
    globex = (
        await gql(
            client,
            PUBLIC_AVAILABILITY,
            {"service": service_gid("globex", "coaching"), "first": 100, **WIDE},
            host="globex.localhost",
        )
    ).json()

    # then each sees exactly its own future slots for that service (and those for any service)
    assert slot_ids(acme) == expected_acme
    assert slot_ids(globex) == expected_globex
    assert not slot_ids(acme) & slot_ids(globex)
    assert acme["data"]["publicAvailability"]["totalCount"] == len(expected_acme)


async def test_public_availability_of_another_hosts_service_is_empty(
    client: httpx.AsyncClient,
) -> None:
    for service in (service_gid("globex", "coaching"), service_gid("acme", "paper-filing")):
        body = (
            await gql(
                client, PUBLIC_AVAILABILITY, {"service": service, **WIDE}, host="acme.localhost"
            )
        ).json()
        assert body["data"]["publicAvailability"] == {
            "totalCount": 0,
            "pageInfo": {"hasNextPage": False, "endCursor": None},
            "edges": [],
        }


async def test_public_availability_validates_its_window(client: httpx.AsyncClient) -> None:
    variables = {
        "service": service_gid("acme", "payroll"),
        "from": "2030-01-02T00:00:00Z",
        "to": "2030-01-01T00:00:00Z",
    }
    body = (await gql(client, PUBLIC_AVAILABILITY, variables, host="acme.localhost")).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = (
        await gql(
            client, PUBLIC_AVAILABILITY, {**variables, "service": "nope"}, host="acme.localhost"
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_the_database_shows_anonymous_requests_only_active_services(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    # given a runtime connection bound like an anonymous visitor of acme's host, whose query
    # forgets every condition
    await runtime_conn.execute(
        text(
            "SELECT set_config('app.current_tenant_id', '', true),"
            " set_config('app.current_user_id', '', true),"
            " set_config('app.public_tenant_id', :t, true)"
        ),
        {"t": str(demo.tenants["acme"])},
    )
    services = (await runtime_conn.execute(text("SELECT tenant_id, active FROM services"))).all()
    slots = (
        await runtime_conn.execute(
            text("SELECT tenant_id, starts_at > now() AS ahead FROM availability_slots")
        )
    ).all()
    bookings = (await runtime_conn.execute(text("SELECT count(*) FROM bookings"))).scalar_one()

    # then RLS still hands it only acme's active services and future slots, and no booking
    assert len(services) == 5
    assert {(r.tenant_id, r.active) for r in services} == {(demo.tenants["acme"], True)}
    assert slots
    assert {(r.tenant_id, r.ahead) for r in slots} == {(demo.tenants["acme"], True)}
    assert bookings == 0

"""The services catalogue over HTTP: acme (5 offered, 1 withdrawn) next to globex (3 + 1)."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.seed import _id as seed_id
from schema.ids import decode_id, encode_id
from tests.helpers import DemoData, error_codes, gql, login

SERVICES = """
query Services($first: Int, $after: String, $filter: ServiceFilter) {
  services(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id slug name active priceCents durationMinutes } }
  }
}
"""
SERVICE = "query Service($id: ID!) { service(id: $id) { id slug name active } }"
CREATE = """
mutation Create($input: CreateServiceInput!) {
  createService(input: $input) { id slug name description priceCents durationMinutes active }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: UpdateServiceInput!) {
  updateService(id: $id, input: $input) { id slug name priceCents active }
}
"""
DELETE = "mutation Delete($id: ID!) { deleteService(id: $id) }"

ACME_OFFERED = {"tax-return", "bookkeeping", "payroll", "audit-prep", "consultation"}
GLOBEX_OFFERED = {"strategy", "market-study", "coaching"}


def service_gid(slug: str, service: str) -> str:
    return encode_id("Service", seed_id(slug, "service", service))


def slugs(body: dict) -> set[str]:
    assert "errors" not in body, body
    return {e["node"]["slug"] for e in body["data"]["services"]["edges"]}


async def test_each_role_sees_its_tenants_catalogue(client: httpx.AsyncClient) -> None:
    # given an admin and a staff member of acme, its client, and globex's admin
    alice = await login(client, "alice@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    carol = await login(client, "carol@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")

    # when each lists the services, then staff see the withdrawn one, the client does not
    for member in (alice, dave):
        body = (await gql(client, SERVICES, {"first": 100}, session=member)).json()
        assert slugs(body) == ACME_OFFERED | {"paper-filing"}
        assert body["data"]["services"]["totalCount"] == 6
    body = (await gql(client, SERVICES, {"first": 100}, session=carol)).json()
    assert slugs(body) == ACME_OFFERED
    assert body["data"]["services"]["totalCount"] == 5
    body = (await gql(client, SERVICES, {"first": 100}, session=bob)).json()
    assert slugs(body) == GLOBEX_OFFERED | {"fax-reports"}
    assert not slugs(body) & ACME_OFFERED


async def test_active_filter_and_search(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    carol = await login(client, "carol@acme.test")

    async def found(session, flt: dict) -> set[str]:  # type: ignore[no-untyped-def]
        return slugs((await gql(client, SERVICES, {"filter": flt}, session=session)).json())

    assert await found(alice, {"active": True}) == ACME_OFFERED
    assert await found(alice, {"active": False}) == {"paper-filing"}
    # a client cannot ask for the withdrawn ones
    assert await found(carol, {"active": False}) == set()
    assert await found(alice, {"search": "PAYROLL"}) == {"payroll"}
    assert await found(alice, {"search": "%"}) == set()


async def test_pages_walk_every_service_once(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    seen: list[str] = []
    after = None
    while True:
        body = (await gql(client, SERVICES, {"first": 4, "after": after}, session=alice)).json()
        seen += [e["node"]["slug"] for e in body["data"]["services"]["edges"]]
        info = body["data"]["services"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert sorted(seen) == sorted(ACME_OFFERED | {"paper-filing"})


async def test_one_service_is_null_when_not_visible(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    carol = await login(client, "carol@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    payroll, withdrawn = service_gid("acme", "payroll"), service_gid("acme", "paper-filing")

    assert (await gql(client, SERVICE, {"id": payroll}, session=alice)).json()["data"]["service"][
        "slug"
    ] == "payroll"
    assert (await gql(client, SERVICE, {"id": withdrawn}, session=alice)).json()["data"]["service"][
        "active"
    ] is False
    # the client does not see a withdrawn service; globex does not see acme's at all
    assert (await gql(client, SERVICE, {"id": withdrawn}, session=carol)).json() == {
        "data": {"service": None}
    }
    assert (await gql(client, SERVICE, {"id": payroll}, session=bob)).json() == {
        "data": {"service": None}
    }


async def test_anonymous_members_queries_need_a_login(client: httpx.AsyncClient) -> None:
    body = (await gql(client, SERVICES, host="acme.localhost")).json()
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_admin_creates_updates_and_deletes_with_audit(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    # given acme's admin
    alice = await login(client, "alice@acme.test")

    # when she creates, changes and deletes a service
    created = (
        await gql(
            client,
            CREATE,
            {
                "input": {
                    "name": "  VAT registration ",
                    "slug": "vat-registration",
                    "priceCents": 9900,
                    "durationMinutes": 45,
                }
            },
            session=alice,
        )
    ).json()["data"]["createService"]
    updated = (
        await gql(
            client,
            UPDATE,
            {"id": created["id"], "input": {"priceCents": 12000, "active": False}},
            session=alice,
        )
    ).json()["data"]["updateService"]
    deleted = (await gql(client, DELETE, {"id": created["id"]}, session=alice)).json()

    # then each step answered as expected and the catalogue is back to what it was
    assert created["name"] == "VAT registration"
    assert created["active"] is True
    assert updated == {
        "id": created["id"],
        "slug": "vat-registration",
        "name": "VAT registration",
        "priceCents": 12000,
        "active": False,
    }
    assert deleted == {"data": {"deleteService": True}}
    assert (await gql(client, SERVICE, {"id": created["id"]}, session=alice)).json() == {
        "data": {"service": None}
    }
    # and the audit log of acme holds the three steps, by alice
    await runtime_conn.execute(
        text("SELECT set_config('app.current_tenant_id', :t, true)"),
        {"t": str(demo.tenants["acme"])},
    )
    rows = (
        await runtime_conn.execute(
            text("SELECT action, actor_id, changes FROM audit_logs WHERE target_id = :i"),
            {"i": decode_id("Service", created["id"])},
        )
    ).all()
    assert sorted(r.action for r in rows) == ["service.create", "service.delete", "service.update"]
    assert {r.actor_id for r in rows} == {demo.users["alice@acme.test"]}
    update = next(r for r in rows if r.action == "service.update")
    assert update.changes["price_cents"] == {"from": 9900, "to": 12000}


async def test_slug_is_unique_per_tenant_only(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    new = {"name": "Payroll", "slug": "payroll"}

    # acme already has `payroll`: conflict; globex does not: fine
    body = (await gql(client, CREATE, {"input": new}, session=alice)).json()
    assert error_codes(body) == ["CONFLICT"]
    body = (await gql(client, CREATE, {"input": new}, session=bob)).json()
    assert body["data"]["createService"]["slug"] == "payroll"
    # renaming onto a taken slug conflicts too, and changes nothing
    body = (
        await gql(
            client,
            UPDATE,
            {"id": service_gid("acme", "bookkeeping"), "input": {"slug": "payroll"}},
            session=alice,
        )
    ).json()
    assert error_codes(body) == ["CONFLICT"]
    assert slugs((await gql(client, SERVICES, {"first": 100}, session=alice)).json()) == (
        ACME_OFFERED | {"paper-filing"}
    )


async def test_invalid_input_is_rejected_and_writes_nothing(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    for bad in (
        {"name": "Cheap", "slug": "cheap", "priceCents": -1},
        {"name": "Instant", "slug": "instant", "durationMinutes": 0},
        {"name": "Bad slug", "slug": "Not A Slug"},
        {"name": "   ", "slug": "blank"},
    ):
        body = (await gql(client, CREATE, {"input": bad}, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], bad
    body = (
        await gql(
            client,
            UPDATE,
            {"id": service_gid("acme", "payroll"), "input": {"durationMinutes": -5}},
            session=alice,
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = (await gql(client, SERVICES, {"first": 100}, session=alice)).json()
    assert body["data"]["services"]["totalCount"] == 6


async def test_staff_and_clients_cannot_manage_services(client: httpx.AsyncClient) -> None:
    dave = await login(client, "dave@initech.test", tenant="acme")
    carol = await login(client, "carol@acme.test")
    payroll = service_gid("acme", "payroll")
    for member in (dave, carol):
        for query, variables in (
            (CREATE, {"input": {"name": "Side job", "slug": "side-job"}}),
            (UPDATE, {"id": payroll, "input": {"name": "Renamed"}}),
            (DELETE, {"id": payroll}),
        ):
            body = (await gql(client, query, variables, session=member)).json()
            assert error_codes(body) == ["FORBIDDEN"], body
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, SERVICE, {"id": payroll}, session=alice)).json()
    assert body["data"]["service"]["name"] == "Payroll run"


async def test_another_tenants_service_is_not_found_and_unchanged(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    payroll = service_gid("acme", "payroll")
    for query, variables in (
        (UPDATE, {"id": payroll, "input": {"name": "Hijacked", "active": False}}),
        (DELETE, {"id": payroll}),
    ):
        body = (await gql(client, query, variables, session=bob)).json()
        assert error_codes(body) == ["NOT_FOUND"]
        assert str(demo.tenants["acme"]) not in str(body)
    carol = await login(client, "carol@acme.test")
    body = (await gql(client, SERVICE, {"id": payroll}, session=carol)).json()
    assert body["data"]["service"] == {
        "id": payroll,
        "slug": "payroll",
        "name": "Payroll run",
        "active": True,
    }


async def test_a_booked_service_cannot_be_deleted_only_deactivated(
    client: httpx.AsyncClient,
) -> None:
    alice = await login(client, "alice@acme.test")
    booked = service_gid("acme", "tax-return")  # the demo bookings refer to it
    body = (await gql(client, DELETE, {"id": booked}, session=alice)).json()
    assert error_codes(body) == ["CONFLICT"]
    assert "deactivate" in body["errors"][0]["message"]
    body = await gql(client, UPDATE, {"id": booked, "input": {"active": False}}, session=alice)
    assert body.json()["data"]["updateService"]["active"] is False
    carol = await login(client, "carol@acme.test")
    assert "tax-return" not in slugs(
        (await gql(client, SERVICES, {"first": 100}, session=carol)).json()
    )

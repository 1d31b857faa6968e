"""Availability slots for members: acme (24 slots) next to globex (10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.seed import _id as seed_id
from schema.ids import decode_id, encode_id
from tests.helpers import DemoData, error_codes, gql, login

AVAILABILITY = """
query Availability($from: DateTime!, $to: DateTime!, $service: ID, $staff: ID,
                   $first: Int, $after: String) {
  availability(from: $from, to: $to, serviceId: $service, staffId: $staff,
               first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id startsAt endsAt capacity staff { email } service { slug } } }
  }
}
"""
CREATE = """
mutation Create($input: CreateAvailabilitySlotInput!) {
  createAvailabilitySlot(input: $input) {
    id startsAt endsAt capacity staff { email } service { slug }
  }
}
"""
DELETE = "mutation Delete($id: ID!) { deleteAvailabilitySlot(id: $id) }"
DEACTIVATE = "mutation($id: ID!) { updateService(id: $id, input: {active: false}) { active } }"
WIDE = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "first": 100}


def service_gid(slug: str, service: str) -> str:
    return encode_id("Service", seed_id(slug, "service", service))


def slot_gid(slug: str, n: int) -> str:
    return encode_id("AvailabilitySlot", seed_id(slug, "slot", str(n)))


def nodes(body: dict) -> list[dict]:
    assert "errors" not in body, body
    return [e["node"] for e in body["data"]["availability"]["edges"]]


def at(days: float, hour: int = 10) -> str:
    moment = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return (moment + timedelta(days=days)).isoformat()


async def test_members_see_their_tenants_slots(client: httpx.AsyncClient, demo: DemoData) -> None:
    # given acme's admin, staff member and client, and globex's admin
    sessions = {
        "alice": await login(client, "alice@acme.test"),
        "dave": await login(client, "dave@initech.test", tenant="acme"),
        "carol": await login(client, "carol@acme.test"),
    }
    bob = await login(client, "bob@globex.test", host="globex.localhost")

    # when each lists every slot, then acme's members see acme's 24 and bob globex's 10
    acme_ids = {encode_id("AvailabilitySlot", seed_id("acme", "slot", str(i))) for i in range(24)}
    for session in sessions.values():
        body = (await gql(client, AVAILABILITY, WIDE, session=session)).json()
        assert {n["id"] for n in nodes(body)} == acme_ids
        assert body["data"]["availability"]["totalCount"] == 24
    globex = nodes((await gql(client, AVAILABILITY, WIDE, session=bob)).json())
    assert len(globex) == 10
    assert not {n["id"] for n in globex} & acme_ids
    assert {n["staff"]["email"] for n in globex} <= {"alice@acme.test", "bob@globex.test"}


async def test_filters_by_window_service_and_staff(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    everything = nodes((await gql(client, AVAILABILITY, WIDE, session=alice)).json())

    # a service: its own slots and those open to any service
    payroll = {**WIDE, "service": service_gid("acme", "payroll")}
    body = (await gql(client, AVAILABILITY, payroll, session=alice)).json()
    assert {n["service"]["slug"] if n["service"] else None for n in nodes(body)} == {
        "payroll",
        None,
    }
    # a staff member
    daves = [n for n in everything if n["staff"]["email"] == "dave@initech.test"]
    by_dave = {**WIDE, "staff": demo.user_gid("dave@initech.test")}
    body = (await gql(client, AVAILABILITY, by_dave, session=alice)).json()
    assert nodes(body) == daves
    assert daves
    # a window: from today on, earliest first
    upcoming = (await gql(client, AVAILABILITY, {**WIDE, "from": at(0, 0)}, session=alice)).json()
    assert 0 < len(nodes(upcoming)) < len(everything)
    starts = [n["startsAt"] for n in nodes(upcoming)]
    assert starts == sorted(starts)


async def test_window_must_be_forward(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, AVAILABILITY, {"from": at(2), "to": at(1)}, session=alice)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = (await gql(client, AVAILABILITY, {"from": at(1), "to": at(2)})).json()
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_a_client_does_not_see_slots_of_a_withdrawn_service(
    client: httpx.AsyncClient,
) -> None:
    alice = await login(client, "alice@acme.test")
    carol = await login(client, "carol@acme.test")
    await gql(client, DEACTIVATE, {"id": service_gid("acme", "payroll")}, session=alice)
    staff_view = nodes((await gql(client, AVAILABILITY, WIDE, session=alice)).json())
    client_view = nodes((await gql(client, AVAILABILITY, WIDE, session=carol)).json())
    withdrawn = [n for n in staff_view if n["service"] and n["service"]["slug"] == "payroll"]
    assert withdrawn
    assert len(client_view) == len(staff_view) - len(withdrawn)
    assert not [n for n in client_view if n["service"] and n["service"]["slug"] == "payroll"]


async def test_staff_and_admin_create_slots(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    # given acme's staff member and admin
    dave = await login(client, "dave@initech.test", tenant="acme")
    alice = await login(client, "alice@acme.test")

    # when dave opens a slot for himself and alice one for dave, reserved for payroll
    own = (
        await gql(client, CREATE, {"input": {"startsAt": at(5), "endsAt": at(5, 12)}}, session=dave)
    ).json()["data"]["createAvailabilitySlot"]
    for_dave = (
        await gql(
            client,
            CREATE,
            {
                "input": {
                    "startsAt": at(6),
                    "endsAt": at(6, 11),
                    "staffId": demo.user_gid("dave@initech.test"),
                    "serviceId": service_gid("acme", "payroll"),
                    "capacity": 3,
                }
            },
            session=alice,
        )
    ).json()["data"]["createAvailabilitySlot"]

    # then both are dave's, listed for acme only, and audited
    assert own["staff"] == {"email": "dave@initech.test"}
    assert own["service"] is None
    assert own["capacity"] == 1
    assert for_dave["staff"] == {"email": "dave@initech.test"}
    assert for_dave["service"] == {"slug": "payroll"}
    assert for_dave["capacity"] == 3
    listed = {n["id"] for n in nodes((await gql(client, AVAILABILITY, WIDE, session=alice)).json())}
    assert {own["id"], for_dave["id"]} <= listed
    assert len(listed) == 26
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    globex = {n["id"] for n in nodes((await gql(client, AVAILABILITY, WIDE, session=bob)).json())}
    assert not {own["id"], for_dave["id"]} & globex
    await runtime_conn.execute(
        text("SELECT set_config('app.current_tenant_id', :t, true)"),
        {"t": str(demo.tenants["acme"])},
    )
    actions = (
        await runtime_conn.execute(
            text("SELECT action, actor_id FROM audit_logs WHERE target_id = :i"),
            {"i": decode_id("AvailabilitySlot", own["id"])},
        )
    ).all()
    assert [(a.action, a.actor_id) for a in actions] == [
        ("availability_slot.create", demo.users["dave@initech.test"])
    ]


async def test_slot_input_is_validated(client: httpx.AsyncClient, demo: DemoData) -> None:
    alice = await login(client, "alice@acme.test")
    base = {"startsAt": at(5), "endsAt": at(5, 12)}
    for bad, code in (
        ({"startsAt": at(5, 12), "endsAt": at(5)}, "BAD_USER_INPUT"),
        ({**base, "capacity": 0}, "BAD_USER_INPUT"),
        ({**base, "staffId": demo.user_gid("carol@acme.test")}, "BAD_USER_INPUT"),  # a CLIENT
        ({**base, "staffId": demo.user_gid("bob@globex.test")}, "BAD_USER_INPUT"),  # globex
        ({**base, "serviceId": service_gid("globex", "coaching")}, "NOT_FOUND"),
    ):
        body = (await gql(client, CREATE, {"input": bad}, session=alice)).json()
        assert error_codes(body) == [code], bad
        assert str(demo.users["bob@globex.test"]) not in str(body)
        assert str(demo.tenants["globex"]) not in str(body)
    total = (await gql(client, AVAILABILITY, WIDE, session=alice)).json()
    assert total["data"]["availability"]["totalCount"] == 24


async def test_clients_cannot_create_or_delete_slots(client: httpx.AsyncClient) -> None:
    carol = await login(client, "carol@acme.test")
    body = (
        await gql(
            client, CREATE, {"input": {"startsAt": at(5), "endsAt": at(5, 12)}}, session=carol
        )
    ).json()
    assert error_codes(body) == ["FORBIDDEN"]
    body = (await gql(client, DELETE, {"id": slot_gid("acme", 3)}, session=carol)).json()
    assert error_codes(body) == ["FORBIDDEN"]
    body = (await gql(client, AVAILABILITY, WIDE, session=carol)).json()
    assert body["data"]["availability"]["totalCount"] == 24


async def test_delete_slot_only_in_own_tenant(client: httpx.AsyncClient) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    dave = await login(client, "dave@initech.test", tenant="acme")
    acme_slot = slot_gid("acme", 3)

    # globex's admin cannot delete acme's slot: it is simply not there
    body = (await gql(client, DELETE, {"id": acme_slot}, session=bob)).json()
    assert error_codes(body) == ["NOT_FOUND"]
    assert len(nodes((await gql(client, AVAILABILITY, WIDE, session=dave)).json())) == 24

    # acme's staff member can
    assert (await gql(client, DELETE, {"id": acme_slot}, session=dave)).json() == {
        "data": {"deleteAvailabilitySlot": True}
    }
    remaining = {
        n["id"] for n in nodes((await gql(client, AVAILABILITY, WIDE, session=dave)).json())
    }
    assert acme_slot not in remaining
    assert len(remaining) == 23
    assert len(nodes((await gql(client, AVAILABILITY, WIDE, session=bob)).json())) == 10


async def test_statement_count_does_not_grow_with_page_size(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    alice = await login(client, "alice@acme.test")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sync_conn = runtime_conn.sync_connection
    assert sync_conn is not None
    event.listen(sync_conn, "before_cursor_execute", count)
    try:
        costs = {}
        for first in (3, 24):
            statements.clear()
            body = (await gql(client, AVAILABILITY, {**WIDE, "first": first}, session=alice)).json()
            assert len(nodes(body)) == first
            costs[first] = len(statements)
    finally:
        event.remove(sync_conn, "before_cursor_execute", count)
    assert costs[3] == costs[24]
    # the context and the session check (one statement), the page, the count, one user batch, one service batch
    assert costs[24] <= 5


async def test_globex_admin_opens_slots_only_with_globex_people_and_services(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    # given globex's admin; alice is globex STAFF, dave is not a member of globex
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    base = {"startsAt": at(4), "endsAt": at(4, 12)}

    # when he opens a slot for alice with a globex service, then for dave, then with acme's
    created = (
        await gql(
            client,
            CREATE,
            {
                "input": {
                    **base,
                    "staffId": demo.user_gid("alice@acme.test"),
                    "serviceId": service_gid("globex", "coaching"),
                }
            },
            session=bob,
        )
    ).json()["data"]["createAvailabilitySlot"]
    daves = (
        await gql(
            client,
            CREATE,
            {"input": {**base, "staffId": demo.user_gid("dave@initech.test")}},
            session=bob,
        )
    ).json()
    acme_service = (
        await gql(
            client,
            CREATE,
            {"input": {**base, "serviceId": service_gid("acme", "payroll")}},
            session=bob,
        )
    ).json()

    # then only the first exists, and only in globex
    assert created["staff"] == {"email": "alice@acme.test"}
    assert created["service"] == {"slug": "coaching"}
    assert error_codes(daves) == ["BAD_USER_INPUT"]
    assert error_codes(acme_service) == ["NOT_FOUND"]
    assert len(nodes((await gql(client, AVAILABILITY, WIDE, session=bob)).json())) == 11
    alice = await login(client, "alice@acme.test")
    acme = nodes((await gql(client, AVAILABILITY, WIDE, session=alice)).json())
    assert len(acme) == 24
    assert created["id"] not in {n["id"] for n in acme}


async def test_slots_in_the_past_or_absurdly_long_are_refused(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    now = datetime.now(UTC)
    for starts, ends in (
        (now - timedelta(days=1), now - timedelta(hours=23)),
        (now + timedelta(days=1), now + timedelta(days=3)),
        (now + timedelta(days=900), now + timedelta(days=900, hours=1)),
    ):
        body = (
            await gql(
                client,
                CREATE,
                {"input": {"startsAt": starts.isoformat(), "endsAt": ends.isoformat()}},
                session=alice,
            )
        ).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], body

"""Bookings over HTTP: acme (14 bookings, 10 of them carol's) next to globex (6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.seed import _id as seed_id
from schema.ids import decode_id, encode_id
from tests.helpers import DemoData, Session, error_codes, gql, login

FIELDS = "id status startsAt endsAt notes service { slug } client { email } staff { email }"
MY_BOOKINGS = f"""
query My($first: Int, $after: String, $filter: BookingFilter) {{
  myBookings(first: $first, after: $after, filter: $filter) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {FIELDS} }} }}
  }}
}}
"""
BOOKINGS = f"""
query All($first: Int, $after: String, $filter: BookingFilter) {{
  bookings(first: $first, after: $after, filter: $filter) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {FIELDS} }} }}
  }}
}}
"""
BOOKING = f"query One($id: ID!) {{ booking(id: $id) {{ {FIELDS} }} }}"
BOOK = f"""
mutation Book($input: BookServiceInput!) {{ bookService(input: $input) {{ {FIELDS} }} }}
"""
CANCEL = f"mutation Cancel($id: ID!) {{ cancelBooking(id: $id) {{ {FIELDS} }} }}"
RESCHEDULE = f"""
mutation Move($id: ID!, $at: DateTime!) {{ rescheduleBooking(id: $id, startsAt: $at) {{ {FIELDS} }} }}
"""
CONFIRM = f"mutation Confirm($id: ID!) {{ confirmBooking(id: $id) {{ {FIELDS} }} }}"
COMPLETE = f"mutation Complete($id: ID!) {{ completeBooking(id: $id) {{ {FIELDS} }} }}"
ASSIGN = f"""
mutation Assign($id: ID!, $staff: ID) {{ assignBookingStaff(id: $id, staffId: $staff) {{ {FIELDS} }} }}
"""

# demo bookings of acme (see app/seed.py): carol's open ones and dave's open ones
CAROL_CONFIRMED, CAROL_REQUESTED, CAROL_COMPLETED, CAROL_CANCELLED = 1, 4, 0, 3
DAVE_REQUESTED, DAVE_CONFIRMED = 2, 5


def booking_gid(slug: str, n: int) -> str:
    return encode_id("Booking", seed_id(slug, "booking", str(n)))


def service_gid(slug: str, service: str) -> str:
    return encode_id("Service", seed_id(slug, "service", service))


def nodes(body: dict, field: str) -> list[dict]:
    assert "errors" not in body, body
    return [e["node"] for e in body["data"][field]["edges"]]


def hours_ahead(hours: float) -> str:
    moment = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=hours)
    return moment.isoformat()


async def set_rules(conn: AsyncConnection, tenant: uuid.UUID, **values: object) -> None:
    """Give `tenant` its own booking settings row (the request sees it: same transaction)."""
    await conn.execute(
        text("SELECT set_config('app.current_tenant_id', :t, true)"), {"t": str(tenant)}
    )
    columns = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    await conn.execute(
        text(f"INSERT INTO booking_settings (tenant_id, {columns}) VALUES (:t, {params})"),
        {"t": tenant, **values},
    )


async def one(client: httpx.AsyncClient, session: Session, gid: str) -> dict | None:
    body = (await gql(client, BOOKING, {"id": gid}, session=session)).json()
    assert "errors" not in body, body
    return body["data"]["booking"]  # type: ignore[no-any-return]


async def test_my_bookings_are_only_the_viewers_own(client: httpx.AsyncClient) -> None:
    # given carol (acme CLIENT), dave (acme STAFF, who booked some himself), alice in both tenants
    carol = await login(client, "carol@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    alice = await login(client, "alice@acme.test")
    alice_globex = await login(client, "alice@acme.test", host="globex.localhost")

    # when each lists their own bookings
    mine = {
        name: (await gql(client, MY_BOOKINGS, {"first": 100}, session=s)).json()
        for name, s in (("carol", carol), ("dave", dave), ("alice", alice), ("ag", alice_globex))
    }

    # then each sees exactly their own, in the tenant of the session
    carols = nodes(mine["carol"], "myBookings")
    assert len(carols) == mine["carol"]["data"]["myBookings"]["totalCount"] == 10
    assert {n["client"]["email"] for n in carols} == {"carol@acme.test"}
    assert booking_gid("acme", DAVE_REQUESTED) not in {n["id"] for n in carols}
    assert len(nodes(mine["dave"], "myBookings")) == 4
    assert nodes(mine["alice"], "myBookings") == []
    globex = nodes(mine["ag"], "myBookings")
    assert len(globex) == 6
    assert {n["id"] for n in globex} == {booking_gid("globex", i) for i in range(6)}
    starts = [n["startsAt"] for n in carols]
    assert starts == sorted(starts)


async def test_my_bookings_filters(client: httpx.AsyncClient) -> None:
    carol = await login(client, "carol@acme.test")

    async def count(flt: dict) -> int:
        body = (await gql(client, MY_BOOKINGS, {"first": 1, "filter": flt}, session=carol)).json()
        return body["data"]["myBookings"]["totalCount"]  # type: ignore[no-any-return]

    by_status = {s: await count({"status": [s]}) for s in ("REQUESTED", "CONFIRMED")}
    assert by_status == {"REQUESTED": 2, "CONFIRMED": 3}
    assert await count({"status": ["COMPLETED", "CANCELLED"]}) == 5
    assert await count({"from": hours_ahead(0)}) == 5
    assert await count({"to": hours_ahead(0)}) == 5
    # clientId cannot widen a client's view
    dave = await login(client, "dave@initech.test", tenant="acme")
    viewer = (await gql(client, "{ viewer { user { id } } }", session=dave)).json()
    assert await count({"clientId": viewer["data"]["viewer"]["user"]["id"]}) == 0


async def test_staff_and_admin_list_every_booking_of_their_tenant(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    acme_ids = {booking_gid("acme", i) for i in range(14)}

    for staff in (alice, dave):
        body = (await gql(client, BOOKINGS, {"first": 100}, session=staff)).json()
        assert {n["id"] for n in nodes(body, "bookings")} == acme_ids
        assert body["data"]["bookings"]["totalCount"] == 14
    globex = nodes((await gql(client, BOOKINGS, {"first": 100}, session=bob)).json(), "bookings")
    assert {n["id"] for n in globex} == {booking_gid("globex", i) for i in range(6)}

    # filters
    async def count(flt: dict) -> int:
        body = (await gql(client, BOOKINGS, {"first": 1, "filter": flt}, session=alice)).json()
        return body["data"]["bookings"]["totalCount"]  # type: ignore[no-any-return]

    assert await count({"clientId": demo.user_gid("carol@acme.test")}) == 10
    assert await count({"clientId": demo.user_gid("bob@globex.test")}) == 0
    by_staff = [
        await count({"staffId": demo.user_gid(e)}) for e in ("alice@acme.test", "dave@initech.test")
    ]
    assert all(by_staff)
    assert sum(by_staff) < 14  # some are unassigned
    assert await count({"status": ["CANCELLED"], "to": hours_ahead(0)}) > 0
    body = (
        await gql(
            client,
            BOOKINGS,
            {"filter": {"from": hours_ahead(1), "to": hours_ahead(0)}},
            session=alice,
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_a_client_cannot_list_all_bookings(client: httpx.AsyncClient) -> None:
    carol = await login(client, "carol@acme.test")
    body = (await gql(client, BOOKINGS, {"first": 100}, session=carol)).json()
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None
    body = (await gql(client, MY_BOOKINGS, host="acme.localhost")).json()
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_one_booking_is_null_when_not_the_viewers(client: httpx.AsyncClient) -> None:
    carol = await login(client, "carol@acme.test")
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    carols, daves = booking_gid("acme", CAROL_CONFIRMED), booking_gid("acme", DAVE_REQUESTED)

    assert (await one(client, carol, carols))["client"] == {"email": "carol@acme.test"}  # type: ignore[index]
    assert await one(client, carol, daves) is None
    assert (await one(client, alice, daves))["client"] == {"email": "dave@initech.test"}  # type: ignore[index]
    assert await one(client, bob, carols) is None
    assert (await one(client, bob, booking_gid("globex", 0))) is not None


async def test_client_books_for_herself_with_audit(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    # given carol, acme's client, under the default rules (confirmation required)
    carol = await login(client, "carol@acme.test")

    # when she books a tax return three days ahead, asking for dave
    response = await gql(
        client,
        BOOK,
        {
            "input": {
                "serviceId": service_gid("acme", "tax-return"),
                "startsAt": hours_ahead(72),
                "staffId": demo.user_gid("dave@initech.test"),
                "notes": "  Bring last year's return  ",
            }
        },
        session=carol,
        headers={"X-Request-ID": "req-book-0001"},
    )
    booked = response.json()["data"]["bookService"]

    # then the booking is hers, waits for confirmation, and lasts as long as the service
    assert booked["status"] == "REQUESTED"
    assert booked["client"] == {"email": "carol@acme.test"}
    assert booked["staff"] == {"email": "dave@initech.test"}
    assert booked["service"] == {"slug": "tax-return"}
    assert booked["notes"] == "Bring last year's return"
    length = datetime.fromisoformat(booked["endsAt"]) - datetime.fromisoformat(booked["startsAt"])
    assert length == timedelta(minutes=90)
    mine = (await gql(client, MY_BOOKINGS, {"first": 100}, session=carol)).json()
    assert mine["data"]["myBookings"]["totalCount"] == 11
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    globex = (await gql(client, BOOKINGS, {"first": 100}, session=bob)).json()
    assert booked["id"] not in {n["id"] for n in nodes(globex, "bookings")}
    await runtime_conn.execute(
        text("SELECT set_config('app.current_tenant_id', :t, true)"),
        {"t": str(demo.tenants["acme"])},
    )
    audit = (
        await runtime_conn.execute(
            text("SELECT action, actor_id, request_id FROM audit_logs WHERE target_id = :i"),
            {"i": decode_id("Booking", booked["id"])},
        )
    ).one()
    assert tuple(audit) == ("booking.create", demo.users["carol@acme.test"], "req-book-0001")


async def test_booking_rejects_what_the_client_may_not_book(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    carol = await login(client, "carol@acme.test")
    ok = {"serviceId": service_gid("acme", "payroll"), "startsAt": hours_ahead(72)}
    for bad, code in (
        ({**ok, "serviceId": service_gid("acme", "paper-filing")}, "NOT_FOUND"),  # withdrawn
        ({**ok, "serviceId": service_gid("globex", "coaching")}, "NOT_FOUND"),  # other tenant
        ({**ok, "startsAt": hours_ahead(-2)}, "BAD_USER_INPUT"),  # past
        ({**ok, "startsAt": hours_ahead(2)}, "BAD_USER_INPUT"),  # under 24 h notice
        ({**ok, "startsAt": hours_ahead(24 * 120)}, "BAD_USER_INPUT"),  # over 90 days ahead
        ({**ok, "staffId": demo.user_gid("carol@acme.test")}, "BAD_USER_INPUT"),  # not staff
        ({**ok, "staffId": demo.user_gid("bob@globex.test")}, "BAD_USER_INPUT"),  # globex
        ({**ok, "serviceId": "garbage"}, "BAD_USER_INPUT"),
    ):
        body = (await gql(client, BOOK, {"input": bad}, session=carol)).json()
        assert error_codes(body) == [code], (bad, body)
        assert str(demo.tenants["globex"]) not in str(body)
        assert str(demo.users["bob@globex.test"]) not in str(body)
    mine = (await gql(client, MY_BOOKINGS, {"first": 1}, session=carol)).json()
    assert mine["data"]["myBookings"]["totalCount"] == 10


async def test_tenant_rules_apply_per_tenant(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    # given acme books without confirmation and at short notice; globex keeps the defaults
    await set_rules(
        runtime_conn, demo.tenants["acme"], require_confirmation=False, min_notice_hours=1
    )
    carol = await login(client, "carol@acme.test")
    alice_globex = await login(client, "alice@acme.test", host="globex.localhost")

    # when carol books in acme in three hours, and alice in globex
    acme = (
        await gql(
            client,
            BOOK,
            {"input": {"serviceId": service_gid("acme", "payroll"), "startsAt": hours_ahead(3)}},
            session=carol,
        )
    ).json()
    early = (
        await gql(
            client,
            BOOK,
            {"input": {"serviceId": service_gid("globex", "coaching"), "startsAt": hours_ahead(3)}},
            session=alice_globex,
        )
    ).json()
    globex = (
        await gql(
            client,
            BOOK,
            {
                "input": {
                    "serviceId": service_gid("globex", "coaching"),
                    "startsAt": hours_ahead(48),
                }
            },
            session=alice_globex,
        )
    ).json()

    # then acme's rules made carol's booking confirmed at once; globex's did not change
    assert acme["data"]["bookService"]["status"] == "CONFIRMED"
    assert globex["data"]["bookService"]["status"] == "REQUESTED"
    # staff booking for themselves are not bound by the notice period
    assert early["data"]["bookService"]["status"] == "REQUESTED"


async def test_client_cancels_only_her_own_in_time(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    carol = await login(client, "carol@acme.test")
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    own, daves = booking_gid("acme", CAROL_CONFIRMED), booking_gid("acme", DAVE_CONFIRMED)

    # another client's booking, and another tenant's admin: NOT_FOUND, nothing changes
    for session, target in ((carol, daves), (bob, own)):
        body = (await gql(client, CANCEL, {"id": target}, session=session)).json()
        assert error_codes(body) == ["NOT_FOUND"]
    assert (await one(client, alice, daves))["status"] == "CONFIRMED"  # type: ignore[index]
    assert (await one(client, alice, own))["status"] == "CONFIRMED"  # type: ignore[index]

    # her own, in time: cancelled; a second time, or a finished one: refused
    cancelled = (await gql(client, CANCEL, {"id": own}, session=carol)).json()
    assert cancelled["data"]["cancelBooking"]["status"] == "CANCELLED"
    for target in (own, booking_gid("acme", CAROL_COMPLETED)):
        body = (await gql(client, CANCEL, {"id": target}, session=carol)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"]

    # too late for her (under the 24 h notice), but not for the organization
    # (the organization's admin changes the rules through the API, which drops the cached ones)
    relaxed = (
        await gql(
            client,
            "mutation { updateBookingSettings(input: {minNoticeHours: 0}) { minNoticeHours } }",
            session=alice,
        )
    ).json()
    assert relaxed == {"data": {"updateBookingSettings": {"minNoticeHours": 0}}}
    soon = (
        await gql(
            client,
            BOOK,
            {"input": {"serviceId": service_gid("acme", "payroll"), "startsAt": hours_ahead(5)}},
            session=carol,
        )
    ).json()["data"]["bookService"]
    body = (await gql(client, CANCEL, {"id": soon["id"]}, session=carol)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "24 hours" in body["errors"][0]["message"]
    staff = (await gql(client, CANCEL, {"id": soon["id"]}, session=alice)).json()
    assert staff["data"]["cancelBooking"]["status"] == "CANCELLED"


async def test_reschedule(client: httpx.AsyncClient, demo: DemoData) -> None:
    carol = await login(client, "carol@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    own, daves = booking_gid("acme", CAROL_CONFIRMED), booking_gid("acme", DAVE_CONFIRMED)
    before = await one(client, dave, own)
    assert before is not None
    new_start = hours_ahead(24 * 20)

    # not hers, not bob's tenant: NOT_FOUND and unchanged
    for session, target in ((carol, daves), (bob, own)):
        body = await gql(client, RESCHEDULE, {"id": target, "at": new_start}, session=session)
        assert error_codes(body.json()) == ["NOT_FOUND"]
    assert await one(client, dave, own) == before

    # carol moves her confirmed booking: same length, waits for confirmation again
    moved = (await gql(client, RESCHEDULE, {"id": own, "at": new_start}, session=carol)).json()[
        "data"
    ]["rescheduleBooking"]
    assert moved["startsAt"] == new_start
    assert moved["status"] == "REQUESTED"
    old_length = datetime.fromisoformat(before["endsAt"]) - datetime.fromisoformat(
        before["startsAt"]
    )
    assert datetime.fromisoformat(moved["endsAt"]) - datetime.fromisoformat(new_start) == old_length
    # outside the rules: refused
    for at in (hours_ahead(3), hours_ahead(24 * 200), hours_ahead(-24)):
        body = (await gql(client, RESCHEDULE, {"id": own, "at": at}, session=carol)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"]

    # staff move any booking of the tenant and keep its status
    staff_moved = (
        await gql(client, RESCHEDULE, {"id": daves, "at": hours_ahead(3)}, session=dave)
    ).json()["data"]["rescheduleBooking"]
    assert staff_moved["status"] == "CONFIRMED"
    body = (
        await gql(
            client,
            RESCHEDULE,
            {"id": booking_gid("acme", CAROL_CANCELLED), "at": new_start},
            session=dave,
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_staff_confirm_complete_and_assign(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    dave = await login(client, "dave@initech.test", tenant="acme")
    requested = booking_gid("acme", CAROL_REQUESTED)

    confirmed = (await gql(client, CONFIRM, {"id": requested}, session=dave)).json()
    assert confirmed["data"]["confirmBooking"]["status"] == "CONFIRMED"
    again = (await gql(client, CONFIRM, {"id": requested}, session=dave)).json()
    assert error_codes(again) == ["BAD_USER_INPUT"]
    assigned = (
        await gql(
            client,
            ASSIGN,
            {"id": requested, "staff": demo.user_gid("alice@acme.test")},
            session=dave,
        )
    ).json()
    assert assigned["data"]["assignBookingStaff"]["staff"] == {"email": "alice@acme.test"}
    for not_staff in ("carol@acme.test", "bob@globex.test"):
        body = (
            await gql(
                client, ASSIGN, {"id": requested, "staff": demo.user_gid(not_staff)}, session=dave
            )
        ).json()
        assert error_codes(body) == ["BAD_USER_INPUT"]
    unassigned = (await gql(client, ASSIGN, {"id": requested, "staff": None}, session=dave)).json()
    assert unassigned["data"]["assignBookingStaff"]["staff"] is None
    alice = await login(client, "alice@acme.test")  # the admin may do the same
    completed = (await gql(client, COMPLETE, {"id": requested}, session=alice)).json()
    assert completed["data"]["completeBooking"]["status"] == "COMPLETED"
    body = await gql(client, COMPLETE, {"id": booking_gid("acme", DAVE_REQUESTED)}, session=dave)
    assert error_codes(body.json()) == ["BAD_USER_INPUT"]

    await runtime_conn.execute(
        text("SELECT set_config('app.current_tenant_id', :t, true)"),
        {"t": str(demo.tenants["acme"])},
    )
    actions = (
        await runtime_conn.execute(
            text("SELECT action FROM audit_logs WHERE target_id = :i ORDER BY created_at"),
            {"i": decode_id("Booking", requested)},
        )
    ).scalars()
    assert sorted(actions) == sorted(
        ["booking.confirm", "booking.assign_staff", "booking.assign_staff", "booking.complete"]
    )


async def test_clients_cannot_run_staff_operations(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    carol = await login(client, "carol@acme.test")
    own = booking_gid("acme", CAROL_REQUESTED)
    before = await one(client, carol, own)
    for query, variables in (
        (CONFIRM, {"id": own}),
        (COMPLETE, {"id": own}),
        (ASSIGN, {"id": own, "staff": demo.user_gid("dave@initech.test")}),
    ):
        body = (await gql(client, query, variables, session=carol)).json()
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None
    assert await one(client, carol, own) == before


async def test_another_tenants_booking_is_not_found_for_every_staff_operation(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    alice = await login(client, "alice@acme.test")
    target = booking_gid("acme", CAROL_REQUESTED)
    before = await one(client, alice, target)
    for query, variables in (
        (CONFIRM, {"id": target}),
        (COMPLETE, {"id": target}),
        (ASSIGN, {"id": target, "staff": demo.user_gid("bob@globex.test")}),
        (CANCEL, {"id": target}),
        (RESCHEDULE, {"id": target, "at": hours_ahead(24 * 10)}),
    ):
        body = (await gql(client, query, variables, session=bob)).json()
        assert error_codes(body) == ["NOT_FOUND"], body
        assert str(demo.tenants["acme"]) not in str(body)
    assert await one(client, alice, target) == before


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
        for first in (2, 14):
            statements.clear()
            body = (await gql(client, BOOKINGS, {"first": first}, session=alice)).json()
            assert len(nodes(body, "bookings")) == first
            costs[first] = len(statements)
    finally:
        event.remove(sync_conn, "before_cursor_execute", count)
    assert costs[2] == costs[14]
    # the context and the session check (one statement), the page, the count, one user batch (client and staff
    # together), one service batch
    assert costs[14] <= 5


async def test_globex_members_book_only_globex_services_and_staff(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    # given bob, globex's admin, booking for himself
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    coaching = {"serviceId": service_gid("globex", "coaching"), "startsAt": hours_ahead(72)}

    # when he books a globex service with alice (globex STAFF), with dave (no member of
    # globex), and an acme service
    booked = (
        await gql(
            client,
            BOOK,
            {"input": {**coaching, "staffId": demo.user_gid("alice@acme.test")}},
            session=bob,
        )
    ).json()
    with_dave = (
        await gql(
            client,
            BOOK,
            {"input": {**coaching, "staffId": demo.user_gid("dave@initech.test")}},
            session=bob,
        )
    ).json()
    acme_service = (
        await gql(
            client,
            BOOK,
            {"input": {**coaching, "serviceId": service_gid("acme", "payroll")}},
            session=bob,
        )
    ).json()

    # then only the first is booked, for bob, in globex
    node = booked["data"]["bookService"]
    assert node["client"] == {"email": "bob@globex.test"}
    assert node["staff"] == {"email": "alice@acme.test"}
    assert error_codes(with_dave) == ["BAD_USER_INPUT"]
    assert error_codes(acme_service) == ["NOT_FOUND"]
    mine = (await gql(client, MY_BOOKINGS, {"first": 100}, session=bob)).json()
    assert [n["id"] for n in nodes(mine, "myBookings")] == [node["id"]]
    alice = await login(client, "alice@acme.test")
    acme = (await gql(client, BOOKINGS, {"first": 100}, session=alice)).json()
    assert acme["data"]["bookings"]["totalCount"] == 14
    assert node["id"] not in {n["id"] for n in nodes(acme, "bookings")}


async def test_a_staff_member_is_never_booked_twice_at_once(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    # given carol booked payroll (60 min) with dave in three days
    carol = await login(client, "carol@acme.test")
    alice = await login(client, "alice@acme.test")
    dave = demo.user_gid("dave@initech.test")
    first = (
        await gql(
            client,
            BOOK,
            {
                "input": {
                    "serviceId": service_gid("acme", "payroll"),
                    "startsAt": hours_ahead(72),
                    "staffId": dave,
                }
            },
            session=carol,
        )
    ).json()["data"]["bookService"]

    # when alice books dave half an hour later, assigns him to a booking at that time, or
    # moves one of his bookings onto it
    overlapping = {"serviceId": service_gid("acme", "payroll"), "startsAt": hours_ahead(72.5)}
    booked = (
        await gql(client, BOOK, {"input": {**overlapping, "staffId": dave}}, session=alice)
    ).json()
    unassigned = (await gql(client, BOOK, {"input": overlapping}, session=alice)).json()
    assigned = (
        await gql(
            client,
            ASSIGN,
            {"id": unassigned["data"]["bookService"]["id"], "staff": dave},
            session=alice,
        )
    ).json()
    daves_other = booking_gid("acme", 7)  # a CONFIRMED demo booking served by dave
    before = await one(client, alice, daves_other)
    moved = (
        await gql(client, RESCHEDULE, {"id": daves_other, "at": hours_ahead(72.25)}, session=alice)
    ).json()

    # then each is a conflict, and nothing changed
    for body in (booked, assigned, moved):
        assert error_codes(body) == ["CONFLICT"], body
    assert (await one(client, alice, unassigned["data"]["bookService"]["id"]))["staff"] is None  # type: ignore[index]
    assert await one(client, alice, daves_other) == before
    # once carol cancels, dave is free again
    await gql(client, CANCEL, {"id": first["id"]}, session=carol)
    body = (
        await gql(client, BOOK, {"input": {**overlapping, "staffId": dave}}, session=alice)
    ).json()
    assert body["data"]["bookService"]["staff"] == {"email": "dave@initech.test"}


RENAME_BETWEEN = """
mutation Rename($id: ID!, $service: ID!) {
  first: assignBookingStaff(id: $id, staffId: null) { service { id name } }
  second: assignBookingStaff(id: $id, staffId: null) { service { id name } }
  rename: updateService(id: $service, input: {name: "Renamed in the document"}) { id name }
  after: assignBookingStaff(id: $id, staffId: null) { service { id name } }
}
"""


async def test_a_service_changed_earlier_in_a_document_is_read_as_changed(
    client: httpx.AsyncClient,
) -> None:
    # given a booking of acme and its service, read twice before an admin renames the service
    alice = await login(client, "alice@acme.test")
    booking = booking_gid("acme", CAROL_REQUESTED)
    before = await one(client, alice, booking)
    assert before is not None
    service = (
        await gql(
            client,
            "query($id: ID!) { booking(id: $id) { service { id name } } }",
            {"id": booking},
            session=alice,
        )
    ).json()["data"]["booking"]["service"]

    # when one document reads the booking's service, renames it, then reads it again
    body = (
        await gql(client, RENAME_BETWEEN, {"id": booking, "service": service["id"]}, session=alice)
    ).json()

    # then the reads after the rename see the new name, the ones before it the old one
    assert "errors" not in body, body
    data = body["data"]
    assert data["first"]["service"] == data["second"]["service"] == service
    assert data["rename"] == {"id": service["id"], "name": "Renamed in the document"}
    assert data["after"]["service"] == data["rename"]

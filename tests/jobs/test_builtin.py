"""The shipped jobs, each run for tenants with different data: what it writes in each tenant,
what it must not write, and that a second run the same day writes nothing more."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.jobs import registry
from app.jobs.builtin import COMPLIANCE_WINDOW_DAYS
from app.jobs.runner import Outcome, RunReport
from tests.helpers import DemoData
from tests.jobs.support import as_tenant, demo_tenants, rows_in, run

# what the jobs wrote (the demo data has notifications of its own, keyed `demo:…`)
NOTIFIED = (
    "SELECT {column}, user_id FROM notifications"
    " WHERE kind = ANY(:kinds) AND dedupe_key NOT LIKE 'demo:%'"
)


async def insert(
    conn: AsyncConnection, tenant_id: uuid.UUID, table: str, **values: Any
) -> uuid.UUID:
    """One row written by the runtime role bound to the tenant (as a request would)."""
    await as_tenant(conn, tenant_id)
    row_id = uuid.uuid4()
    columns = {"tenant_id": tenant_id, "id": row_id, **values}
    names = ", ".join(columns)
    params = ", ".join(f":{name}" for name in columns)
    await conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({params})"), columns)
    return row_id


async def notified(
    conn: AsyncConnection, tenant_id: uuid.UUID, column: str, *kinds: str
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    rows = await rows_in(conn, tenant_id, NOTIFIED.format(column=column), {"kinds": list(kinds)})
    return {(r[0], r[1]) for r in rows}


def counts(report: RunReport) -> dict[str, dict[str, int]]:
    assert all(r.outcome is Outcome.OK for r in report.results), report
    return {r.tenant.slug: dict(r.counts) for r in report.results}


async def members(conn: AsyncConnection, tenant_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Active members of the tenant and their roles."""
    rows = await rows_in(
        conn,
        tenant_id,
        "SELECT user_id, role FROM tenant_memberships WHERE tenant_id = :t AND status = 'active'",
        {"t": tenant_id},
    )
    return {r.user_id: r.role for r in rows}


# --- overdue tasks ----------------------------------------------------------------------------


async def expected_overdue(
    conn: AsyncConnection, tenant_id: uuid.UUID, now: datetime
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(task, recipient) for the tenant's open overdue tasks: the assignee, or every ADMIN."""
    people = await members(conn, tenant_id)
    admins = {user for user, role in people.items() if role == "ADMIN"}
    tasks = await rows_in(conn, tenant_id, "SELECT id, status, due_at, assignee_id FROM tasks")
    pairs = set()
    for task in tasks:
        if task.status == "DONE" or task.due_at is None or task.due_at >= now:
            continue
        if task.assignee_id is None:
            pairs |= {(task.id, admin) for admin in admins}
        elif task.assignee_id in people:
            pairs.add((task.id, task.assignee_id))
    return pairs


async def test_overdue_task_reminders(runtime_conn: AsyncConnection, demo: DemoData) -> None:
    now = datetime.now(UTC)
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    alice, bob = demo.users["alice@acme.test"], demo.users["bob@globex.test"]
    # Given: in acme an overdue task of alice's and an unassigned one; in globex a task due
    # tomorrow and a done task that was due yesterday
    mine = await insert(
        runtime_conn,
        acme,
        "tasks",
        title="Late in acme",
        due_at=now - timedelta(hours=3),
        assignee_id=alice,
    )
    unassigned = await insert(
        runtime_conn, acme, "tasks", title="Late, nobody's", due_at=now - timedelta(days=2)
    )
    ahead = await insert(
        runtime_conn,
        globex,
        "tasks",
        title="Due tomorrow",
        due_at=now + timedelta(days=1),
        assignee_id=bob,
    )
    done = await insert(
        runtime_conn,
        globex,
        "tasks",
        title="Done late",
        status="DONE",
        due_at=now - timedelta(days=1),
        assignee_id=bob,
    )
    job = registry.get("overdue-task-reminders")

    # When the job runs for acme and globex
    first = counts(await run(runtime_conn, job, demo_tenants(demo, "acme", "globex"), now=now))

    # Then each tenant has exactly the reminders its own data calls for
    expected = {
        slug: await expected_overdue(runtime_conn, demo.tenants[slug], now)
        for slug in ("acme", "globex")
    }
    for slug in ("acme", "globex"):
        got = await notified(runtime_conn, demo.tenants[slug], "task_id", "TASK_OVERDUE")
        assert got == expected[slug]
        assert first[slug] == {"found": len(got), "created": len(got)}
    assert len(expected["acme"]) != len(expected["globex"])
    acme_got = expected["acme"]
    assert (mine, alice) in acme_got
    assert (unassigned, alice) in acme_got  # alice is acme's only ADMIN
    globex_tasks = {task for task, _ in expected["globex"]}
    assert ahead not in globex_tasks
    assert done not in globex_tasks
    # initech was not run: nothing there
    assert await notified(runtime_conn, demo.tenants["initech"], "task_id", "TASK_OVERDUE") == set()

    # When it runs again the same day, nothing is added
    again = counts(await run(runtime_conn, job, demo_tenants(demo, "acme", "globex"), now=now))
    assert {slug: c["created"] for slug, c in again.items()} == {"acme": 0, "globex": 0}
    for slug in ("acme", "globex"):
        assert (
            await notified(runtime_conn, demo.tenants[slug], "task_id", "TASK_OVERDUE")
            == (expected[slug])
        )
    # and the next day each still-overdue task is reminded once more
    tomorrow = counts(
        await run(runtime_conn, job, demo_tenants(demo, "acme"), now=now + timedelta(days=1))
    )
    assert tomorrow["acme"]["created"] == len(
        await expected_overdue(runtime_conn, acme, now + timedelta(days=1))
    )


# --- upcoming bookings ------------------------------------------------------------------------


async def a_service(conn: AsyncConnection, tenant_id: uuid.UUID) -> uuid.UUID:
    rows = await rows_in(conn, tenant_id, "SELECT id FROM services WHERE active ORDER BY slug")
    return rows[0].id


async def book(
    conn: AsyncConnection, tenant_id: uuid.UUID, starts_at: datetime, **values: Any
) -> uuid.UUID:
    return await insert(
        conn,
        tenant_id,
        "bookings",
        service_id=await a_service(conn, tenant_id),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        **values,
    )


async def test_upcoming_booking_reminders(runtime_conn: AsyncConnection, demo: DemoData) -> None:
    now = datetime.now(UTC)
    acme, globex, initech = (demo.tenants[s] for s in ("acme", "globex", "initech"))
    alice, carol, dave, bob = (
        demo.users[e]
        for e in ("alice@acme.test", "carol@acme.test", "dave@initech.test", "bob@globex.test")
    )
    # Given: acme has a confirmed booking in two hours (client carol, staff alice) and a
    # cancelled one; globex a booking in three days (beyond the default 24 hours); initech a
    # booking in an hour, but it turned reminders off
    soon = await book(
        runtime_conn,
        acme,
        now + timedelta(hours=2),
        client_id=carol,
        staff_id=alice,
        status="CONFIRMED",
    )
    await book(runtime_conn, acme, now + timedelta(hours=3), client_id=carol, status="CANCELLED")
    await book(runtime_conn, globex, now + timedelta(days=3), client_id=alice, staff_id=bob)
    await book(runtime_conn, initech, now + timedelta(hours=1), client_id=dave)
    await insert(runtime_conn, initech, "communication_settings", reminders_enabled=False)
    job = registry.get("upcoming-booking-reminders")
    tenants = demo_tenants(demo, "acme", "globex", "initech")

    first = counts(await run(runtime_conn, job, tenants, now=now))

    assert first == {
        "acme": {"found": 2, "created": 2},
        "globex": {"found": 0, "created": 0},
        "initech": {"found": 0, "created": 0, "disabled": 1},
    }
    assert await notified(runtime_conn, acme, "booking_id", "BOOKING_UPCOMING") == {
        (soon, carol),
        (soon, alice),
    }
    assert await notified(runtime_conn, globex, "booking_id", "BOOKING_UPCOMING") == set()
    assert await notified(runtime_conn, initech, "booking_id", "BOOKING_UPCOMING") == set()
    message = await rows_in(
        runtime_conn, acme, "SELECT message FROM notifications WHERE booking_id = :b", {"b": soon}
    )
    assert {r.message for r in message} == {
        f"Upcoming booking: {await service_name(runtime_conn, acme)} at "
        f"{(now + timedelta(hours=2)).astimezone(london()).strftime('%Y-%m-%d %H:%M')} "
        "(Europe/London)"
    }

    # Running again adds nothing; moving the booking reminds again, once
    assert counts(await run(runtime_conn, job, tenants, now=now))["acme"]["created"] == 0
    await as_tenant(runtime_conn, acme)
    await runtime_conn.execute(
        text(
            "UPDATE bookings SET starts_at = starts_at + interval '1 hour',"
            " ends_at = ends_at + interval '1 hour' WHERE id = :b"
        ),
        {"b": soon},
    )
    assert counts(await run(runtime_conn, job, tenants, now=now))["acme"]["created"] == 2
    assert counts(await run(runtime_conn, job, tenants, now=now))["acme"]["created"] == 0


def london() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/London")


async def service_name(conn: AsyncConnection, tenant_id: uuid.UUID) -> str:
    rows = await rows_in(
        conn,
        tenant_id,
        "SELECT name FROM services WHERE id = :s",
        {"s": await a_service(conn, tenant_id)},
    )
    return str(rows[0].name)


# --- compliance due dates ---------------------------------------------------------------------


async def expected_compliance(
    conn: AsyncConnection, tenant_id: uuid.UUID, now: datetime
) -> dict[str, set[tuple[uuid.UUID, uuid.UUID]]]:
    """(record, recipient) per kind: open records due within the window or overdue, to every
    ADMIN and to the STAFF member who created the record."""
    people = await members(conn, tenant_id)
    records = await rows_in(
        conn, tenant_id, "SELECT id, status, due_at, created_by_id FROM compliance_records"
    )
    horizon = now + timedelta(days=COMPLIANCE_WINDOW_DAYS)
    found: dict[str, set[tuple[uuid.UUID, uuid.UUID]]] = {
        "COMPLIANCE_DUE": set(),
        "COMPLIANCE_OVERDUE": set(),
    }
    for r in records:
        if r.status not in ("PENDING", "NON_COMPLIANT") or r.due_at is None or r.due_at >= horizon:
            continue
        kind = "COMPLIANCE_OVERDUE" if r.due_at < now else "COMPLIANCE_DUE"
        for user, role in people.items():
            if role == "ADMIN" or (role == "STAFF" and user == r.created_by_id):
                found[kind].add((r.id, user))
    return found


async def test_compliance_due_dates(runtime_conn: AsyncConnection, demo: DemoData) -> None:
    now = datetime.now(UTC)
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    alice, bob, dave = (
        demo.users[e] for e in ("alice@acme.test", "bob@globex.test", "dave@initech.test")
    )
    # Given: in acme a pending record due in 3 days created by dave (STAFF there), one already
    # compliant and one due beyond the window; in globex a non-compliant record overdue by two
    # days created by alice (STAFF there)
    due = await insert(
        runtime_conn,
        acme,
        "compliance_records",
        title="File VAT",
        due_at=now + timedelta(days=3),
        created_by_id=dave,
    )
    await insert(
        runtime_conn,
        acme,
        "compliance_records",
        title="Done already",
        status="COMPLIANT",
        due_at=now + timedelta(days=3),
    )
    later = await insert(
        runtime_conn,
        acme,
        "compliance_records",
        title="Far ahead",
        due_at=now + timedelta(days=COMPLIANCE_WINDOW_DAYS + 5),
    )
    overdue = await insert(
        runtime_conn,
        globex,
        "compliance_records",
        title="Licence lapsed",
        status="NON_COMPLIANT",
        due_at=now - timedelta(days=2),
        created_by_id=alice,
    )
    job = registry.get("compliance-due-dates")
    tenants = demo_tenants(demo, "acme", "globex")

    first = counts(await run(runtime_conn, job, tenants, now=now))

    for slug in ("acme", "globex"):
        tenant_id = demo.tenants[slug]
        expected = await expected_compliance(runtime_conn, tenant_id, now)
        for kind, pairs in expected.items():
            got = await notified(runtime_conn, tenant_id, "compliance_record_id", kind)
            assert got == pairs, (slug, kind)
        assert first[slug]["created"] == sum(len(p) for p in expected.values())
    acme_due = await notified(runtime_conn, acme, "compliance_record_id", "COMPLIANCE_DUE")
    assert {(r, u) for r, u in acme_due if r == due} == {(due, alice), (due, dave)}
    assert all(r != later for r, _ in acme_due)
    globex_overdue = await notified(
        runtime_conn, globex, "compliance_record_id", "COMPLIANCE_OVERDUE"
    )
    assert {(r, u) for r, u in globex_overdue if r == overdue} == {(overdue, bob), (overdue, alice)}
    # neither tenant was told of the other's record
    assert all(r != overdue for r, _ in acme_due)
    assert all(r != due for r, _ in globex_overdue)

    # The same day again: nothing new. The next day: only the overdue ones are reminded again
    again = counts(await run(runtime_conn, job, tenants, now=now))
    assert {slug: c["created"] for slug, c in again.items()} == {"acme": 0, "globex": 0}
    next_day = counts(await run(runtime_conn, job, tenants, now=now + timedelta(days=1)))
    for slug in ("acme", "globex"):
        tenant_id = demo.tenants[slug]
        tomorrow = await expected_compliance(runtime_conn, tenant_id, now + timedelta(days=1))
        today = await expected_compliance(runtime_conn, tenant_id, now)
        new_due = tomorrow["COMPLIANCE_DUE"] - today["COMPLIANCE_DUE"]
        assert next_day[slug]["created"] == len(tomorrow["COMPLIANCE_OVERDUE"]) + len(new_due)


# --- health check -----------------------------------------------------------------------------


async def test_health_check(runtime_conn: AsyncConnection, demo: DemoData) -> None:
    now = datetime.now(UTC)
    job = registry.get("health-check")
    recent = "SELECT check_name, status, details FROM health_logs WHERE created_at = :now"
    before = {
        slug: len(await rows_in(runtime_conn, demo.tenants[slug], "SELECT id FROM health_logs"))
        for slug in ("acme", "globex", "initech")
    }

    first = counts(await run(runtime_conn, job, demo_tenants(demo, "acme", "globex"), now=now))

    assert first == {
        "acme": {"checks": 2, "written": 2, "warnings": 1},
        "globex": {"checks": 2, "written": 2, "warnings": 1},
    }
    for slug in ("acme", "globex"):
        tenant_id = demo.tenants[slug]
        rows = {
            r.check_name: r for r in await rows_in(runtime_conn, tenant_id, recent, {"now": now})
        }
        assert set(rows) == {"tenant-database", "work-backlog"}
        assert rows["tenant-database"].status == "OK"
        assert rows["tenant-database"].details["active_members"] == len(
            await members(runtime_conn, tenant_id)
        )
        overdue = await rows_in(
            runtime_conn,
            tenant_id,
            "SELECT count(*) FROM tasks WHERE status <> 'DONE' AND due_at < :now",
            {"now": now},
        )
        backlog = rows["work-backlog"]
        assert backlog.details["overdue_tasks"] == overdue[0][0]
        assert backlog.status == "WARNING"
    acme_backlog = await rows_in(runtime_conn, demo.tenants["acme"], recent, {"now": now})
    globex_backlog = await rows_in(runtime_conn, demo.tenants["globex"], recent, {"now": now})
    assert [r.details for r in acme_backlog if r.check_name == "work-backlog"] != [
        r.details for r in globex_backlog if r.check_name == "work-backlog"
    ]
    # initech was not run
    assert await rows_in(runtime_conn, demo.tenants["initech"], recent, {"now": now}) == []

    # The same day again: nothing written. The next day: a new pair per tenant
    later = now + timedelta(seconds=1)
    again = counts(await run(runtime_conn, job, demo_tenants(demo, "acme", "globex"), now=later))
    assert {slug: c["written"] for slug, c in again.items()} == {"acme": 0, "globex": 0}
    after = {
        slug: len(await rows_in(runtime_conn, demo.tenants[slug], "SELECT id FROM health_logs"))
        for slug in ("acme", "globex", "initech")
    }
    assert after == {
        "acme": before["acme"] + 2,
        "globex": before["globex"] + 2,
        "initech": before["initech"],
    }
    next_day = counts(
        await run(runtime_conn, job, demo_tenants(demo, "globex"), now=now + timedelta(days=1))
    )
    assert next_day["globex"]["written"] == 2


async def test_a_time_zone_the_product_does_not_know_falls_back_to_utc(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    """A stored time zone that zoneinfo does not know (an adopted legacy value such as a Windows
    name, written before the settings were validated) must not fail every run of every job for
    the tenant: the tenant's day is the UTC day, and the other tenant is untouched."""
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    await as_tenant(runtime_conn, acme)
    changed = await runtime_conn.execute(
        text(
            "UPDATE organization_settings SET timezone = 'Pacific Standard Time'"
            " WHERE tenant_id = :t"
        ),
        {"t": acme},
    )
    assert changed.rowcount == 1
    now = datetime(2030, 1, 1, 23, 30, tzinfo=UTC)
    for name in ("health-check", "overdue-task-reminders", "compliance-due-dates"):
        report = await run(
            runtime_conn, registry.get(name), demo_tenants(demo, "acme", "globex"), now=now
        )
        assert [r.outcome for r in report.results] == [Outcome.OK, Outcome.OK], report
    # acme's health logs were written for the UTC day of `now`
    written = await rows_in(
        runtime_conn,
        acme,
        "SELECT check_name FROM health_logs WHERE created_at = :now",
        {"now": now},
    )
    assert {r.check_name for r in written} == {"tenant-database", "work-backlog"}
    # globex's time zone is its own and its rows stay its own
    globex_rows = await rows_in(
        runtime_conn,
        globex,
        "SELECT tenant_id FROM health_logs WHERE created_at = :now",
        {"now": now},
    )
    assert {r.tenant_id for r in globex_rows} == {globex}

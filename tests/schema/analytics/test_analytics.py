"""`analytics(from, to)`: the admin dashboard, correct to the row, isolated per tenant, cached
per tenant."""

from __future__ import annotations

import io
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.cache import Cache, MemoryCache, RedisCache, create_cache, deployment_namespace
from app.logging import capture_logs
from schema.ids import encode_id
from tests.conftest import REDIS_URL, drop_redis_keys
from tests.helpers import DemoData, Session, error_codes, gql, login
from tests.schema.admin.conftest import counting_statements
from tests.schema.analytics.conftest import (
    NewOrganization,
    Organization,
    comparable,
    expected_analytics,
    local_midnight,
)

COUNTS = "{ status count }"
DAYS = "{ date count }"
ANALYTICS = f"""
query Analytics($from: Date, $to: Date) {{
  analytics(from: $from, to: $to) {{
    from to timezone
    tasks {{
      total overdue byStatus {COUNTS} byPriority {{ priority count }}
      completionRate medianHoursToDone createdPerDay {DAYS} completedPerDay {DAYS}
    }}
    bookings {{
      total byStatus {COUNTS} upcoming revenueCents
      revenueCentsByService {{ serviceId bookings revenueCents }}
      perDay {DAYS}
    }}
    serviceRequests {{ total byStatus {COUNTS} convertedToTasks conversionRate }}
    compliance {{ total byStatus {COUNTS} dueWithin7Days dueWithin30Days overdue }}
    members {{ active activeByRole {{ role count }} }}
  }}
}}
"""
TASK_TOTAL = "query($from: Date, $to: Date) { analytics(from: $from, to: $to) { tasks { total } } }"
SERVICE_NAMES = """
query { analytics(from: "2000-01-01", to: "2000-12-31") { bookings { revenueCentsByService {
  service { name } } } } }
"""
NAMED_REVENUE = """
query($from: Date, $to: Date) { analytics(from: $from, to: $to) { bookings {
  revenueCentsByService { revenueCents service { name } } } } }
"""
CREATE_TASK = "mutation($title: String!) { createTask(input: {title: $title}) { id } }"
SET_TIMEZONE = """
mutation($tz: String!) { updateOrganizationSettings(input: {timezone: $tz}) { timezone } }
"""

ADMINS = {"acme": "alice@acme.test", "globex": "bob@globex.test", "initech": "dave@initech.test"}


async def analytics(
    client: httpx.AsyncClient, session: Session, **variables: Any
) -> dict[str, Any]:
    response = await gql(client, ANALYTICS, variables, session=session)
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    return body["data"]["analytics"]


async def task_total(client: httpx.AsyncClient, session: Session, **variables: Any) -> int:
    body = (await gql(client, TASK_TOTAL, variables, session=session)).json()
    assert "errors" not in body, body
    return int(body["data"]["analytics"]["tasks"]["total"])


async def db_now(conn: AsyncConnection) -> datetime:
    """The API's clock: its statements run in the test connection's transaction."""
    return (await conn.execute(text("SELECT now()"))).scalar_one()


async def admin_of(client: httpx.AsyncClient, slug: str) -> Session:
    return await login(client, ADMINS[slug], host=f"{slug}.localhost", tenant=slug)


# --- every aggregate against a row-by-row count ----------------------------------------------


@pytest.mark.parametrize("slug", ["acme", "globex", "initech"])
async def test_each_aggregate_equals_a_row_by_row_count(
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    owner_conn: AsyncConnection,
    demo: DemoData,
    slug: str,
) -> None:
    # given the demo data of three organizations of different sizes and time zones
    session = await admin_of(client, slug)
    now = await db_now(runtime_conn)
    # when the admin reads the default period and a whole year
    recent = await analytics(client, session)
    end = date.fromisoformat(recent["to"])
    year = await analytics(
        client, session, **{"from": (end - timedelta(days=365)).isoformat(), "to": end.isoformat()}
    )
    # then every number equals the count made here, row by row, over that tenant's rows
    start = end - timedelta(days=29)
    assert recent["from"] == start.isoformat()
    expected = await expected_analytics(owner_conn, demo.tenants[slug], start, end, now)
    assert comparable(recent) == expected
    expected_year = await expected_analytics(
        owner_conn, demo.tenants[slug], end - timedelta(days=365), end, now
    )
    assert comparable(year) == expected_year
    # and the demo data is rich enough for the comparison to mean something
    assert year["tasks"]["total"] > 0
    assert year["bookings"]["total"] > 0
    assert year["members"]["active"] > 0


async def test_tenants_see_their_own_numbers_only(
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    owner_conn: AsyncConnection,
    demo: DemoData,
) -> None:
    # given alice, ADMIN of acme and STAFF of globex, and bob, ADMIN of globex
    now = await db_now(runtime_conn)
    period = {"from": "2020-01-01", "to": "2020-12-31"}
    wide = {"from": (now.date() - timedelta(days=300)).isoformat(), "to": now.date().isoformat()}
    acme = await analytics(client, await admin_of(client, "acme"), **wide)
    globex = await analytics(client, await admin_of(client, "globex"), **wide)
    # then each sees its own tenant's totals, which differ (the demo sizes differ)
    for slug, answer in (("acme", acme), ("globex", globex)):
        start, end = date.fromisoformat(answer["from"]), date.fromisoformat(answer["to"])
        expected = await expected_analytics(owner_conn, demo.tenants[slug], start, end, now)
        assert comparable(answer) == expected
    assert acme["tasks"]["total"] != globex["tasks"]["total"]
    assert acme["members"] != globex["members"]
    # and a period with nothing in it is all zeros, for both
    empty = await analytics(client, await admin_of(client, "acme"), **period)
    assert empty["tasks"]["total"] == 0
    assert empty["bookings"]["perDay"][0]["count"] == 0


async def test_revenue_names_services_through_the_loader(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    # given acme's admin
    session = await admin_of(client, "acme")
    now = await db_now(runtime_conn)
    document = SERVICE_NAMES.replace("2000-01-01", (now.date() - timedelta(days=365)).isoformat())
    document = document.replace("2000-12-31", now.date().isoformat())
    # when the revenue by service is read with each service's name
    body = (await gql(client, document, session=session)).json()
    # then every entry names one of acme's services
    assert "errors" not in body, body
    names = {
        e["service"]["name"] for e in body["data"]["analytics"]["bookings"]["revenueCentsByService"]
    }
    rows = await runtime_conn.execute(
        text(
            "SELECT name FROM services WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'acme')"
        )
    )
    assert names
    assert names <= {r.name for r in rows}


# --- who may read it ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "slug", "code"),
    [
        ("carol@acme.test", "acme", "FORBIDDEN"),  # CLIENT
        ("dave@initech.test", "acme", "FORBIDDEN"),  # STAFF of acme (ADMIN of initech)
        ("alice@acme.test", "globex", "FORBIDDEN"),  # STAFF of globex (ADMIN of acme)
    ],
)
async def test_only_the_admin_of_the_active_tenant_may_read_it(
    client: httpx.AsyncClient, email: str, slug: str, code: str
) -> None:
    # given a member who is not ADMIN of the active tenant (whatever it is elsewhere)
    session = await login(client, email, host=f"{slug}.localhost", tenant=slug)
    # when it asks for the dashboard
    body = (await gql(client, ANALYTICS, session=session)).json()
    # then it is refused, with no numbers
    assert error_codes(body) == [code]
    assert body["data"] is None


async def test_anonymous_visitors_must_log_in(client: httpx.AsyncClient) -> None:
    body = (await gql(client, ANALYTICS, host="acme.localhost")).json()
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


# --- the period --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "must not be after"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "at most 366 days"),
        ({"from": "2020-01-01"}, "at most 366 days"),  # up to today
        ({"from": "not-a-date"}, ""),
    ],
)
async def test_a_reversed_or_too_long_period_is_bad_input(
    client: httpx.AsyncClient, variables: dict[str, str], message: str
) -> None:
    session = await admin_of(client, "acme")
    body = (await gql(client, ANALYTICS, variables, session=session)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert message in body["errors"][0]["message"]


async def test_period_defaults_and_limits(client: httpx.AsyncClient) -> None:
    session = await admin_of(client, "globex")
    # by default: the last 30 days up to today, both included
    default = await analytics(client, session)
    start, end = date.fromisoformat(default["from"]), date.fromisoformat(default["to"])
    assert (end - start).days == 29
    assert len(default["tasks"]["createdPerDay"]) == 30
    assert next(d["date"] for d in default["bookings"]["perDay"]) == default["from"]
    # only `to`: the 30 days up to it; only `from`: from it up to today
    only_to = await analytics(client, session, to="2026-02-10")
    assert (only_to["from"], only_to["to"]) == ("2026-01-12", "2026-02-10")
    only_from = await analytics(client, session, **{"from": start.isoformat()})
    assert (only_from["from"], only_from["to"]) == (default["from"], default["to"])
    # 366 days are allowed (a leap year), one day too
    leap = await analytics(client, session, **{"from": "2024-01-01", "to": "2024-12-31"})
    assert len(leap["tasks"]["createdPerDay"]) == 366
    one = await analytics(client, session, **{"from": "2024-02-29", "to": "2024-02-29"})
    assert one["tasks"]["createdPerDay"] == [{"date": "2024-02-29", "count": 0}]


# --- time zones, empty tenants, one huge day ---------------------------------------------------


async def test_days_follow_the_tenants_time_zone(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, new_organization: NewOrganization
) -> None:
    # given an organization in Tokyo (UTC+9) with a task created at 23:30 UTC on 1 June
    organization = await new_organization(timezone="Asia/Tokyo")
    await organization.execute(
        "INSERT INTO tasks (tenant_id, title, created_at, updated_at)"
        " VALUES (:t, 'late evening in London', :at, :at),"
        "        (:t, 'half past midnight in Tokyo', :next, :next)",
        at=datetime.fromisoformat("2026-06-01T23:30:00+00:00"),
        next=datetime.fromisoformat("2026-06-02T15:30:00+00:00"),
    )
    session = await login(client, organization.admin_email, host=f"{organization.slug}.localhost")
    june = {"from": "2026-06-01", "to": "2026-06-03"}
    # when its admin reads the first days of June
    tokyo = await analytics(client, session, **june)
    # then the first task counts on 2 June (08:30 in Tokyo), the second on 3 June (00:30)
    assert tokyo["timezone"] == "Asia/Tokyo"
    assert [d["count"] for d in tokyo["tasks"]["createdPerDay"]] == [0, 1, 1]
    assert await task_total(client, session, **{"from": "2026-06-02", "to": "2026-06-02"}) == 1
    # and after the organization moves to UTC (a settings change: the cached answer goes)
    body = (await gql(client, SET_TIMEZONE, {"tz": "UTC"}, session=session)).json()
    assert "errors" not in body, body
    utc = await analytics(client, session, **june)
    assert utc["timezone"] == "UTC"
    assert [d["count"] for d in utc["tasks"]["createdPerDay"]] == [1, 1, 0]


@pytest.mark.parametrize(
    ("timezone", "day", "first_hour"),
    [
        # clocks go back from 01:00 to 00:00: the day's first hour happens twice, and the day
        # begins with the first of them
        ("Atlantic/Azores", "2026-10-25", "2026-10-25T00:30:00+00:00"),
        ("America/Havana", "2026-11-01", "2026-11-01T04:30:00+00:00"),
    ],
)
async def test_a_day_whose_midnight_happens_twice_begins_at_the_first(
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    owner_conn: AsyncConnection,
    new_organization: NewOrganization,
    timezone: str,
    day: str,
    first_hour: str,
) -> None:
    # given an organization with a task created in the first pass of that day's first hour, and
    # one in UTC with a task at the same instant
    first = datetime.fromisoformat(first_hour)
    local = await new_organization(timezone=timezone)
    utc = await new_organization(timezone="UTC")
    assert first.astimezone(ZoneInfo(timezone)).date().isoformat() == day
    for organization in (local, utc):
        await organization.execute(
            "INSERT INTO tasks (tenant_id, title, created_at, updated_at)"
            " VALUES (:t, 'just after midnight', :at, :at)",
            at=first,
        )
    now = await db_now(runtime_conn)
    before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    for organization in (local, utc):
        session = await login(
            client, organization.admin_email, host=f"{organization.slug}.localhost"
        )
        # when its admin reads that day, the day before, and both
        for start, end in ((day, day), (before, before), (before, day)):
            answer = await analytics(client, session, **{"from": start, "to": end})
            # then the task counts on the day it was created there, in the total and per day
            expected = await expected_analytics(
                owner_conn,
                organization.id,
                date.fromisoformat(start),
                date.fromisoformat(end),
                now,
            )
            assert comparable(answer) == expected
            tasks = answer["tasks"]
            assert tasks["total"] == sum(d["count"] for d in tasks["createdPerDay"])
        on_the_day = await task_total(client, session, **{"from": day, "to": day})
        day_before = await task_total(client, session, **{"from": before, "to": before})
        # in UTC 00:30 / 04:30 is that day too
        assert (on_the_day, day_before) == (1, 0)


async def test_a_stored_time_zone_nobody_knows_counts_utc_days(
    client: httpx.AsyncClient, new_organization: NewOrganization
) -> None:
    # given an organization whose stored zone is a Windows name (kept from an adopted legacy
    # database: the settings API would refuse it), and one in Tokyo, each with a task created
    # at 23:30 UTC on 1 June
    legacy = await new_organization(timezone="Eastern Standard Time")
    tokyo = await new_organization(timezone="Asia/Tokyo")
    for organization in (legacy, tokyo):
        await organization.execute(
            "INSERT INTO tasks (tenant_id, title, created_at, updated_at) VALUES (:t, 'x', :at, :at)",
            at=datetime.fromisoformat("2026-06-01T23:30:00+00:00"),
        )
    june = {"from": "2026-06-01", "to": "2026-06-02"}
    answers = {}
    for organization in (legacy, tokyo):
        session = await login(
            client, organization.admin_email, host=f"{organization.slug}.localhost"
        )
        # when each admin reads the first days of June, and the default period
        answers[organization] = await analytics(client, session, **june)
        assert (await analytics(client, session))["tasks"]["total"] in (0, 1)
    # then the legacy organization gets its dashboard in UTC days (saying so) instead of an error
    assert answers[legacy]["timezone"] == "UTC"
    assert [d["count"] for d in answers[legacy]["tasks"]["createdPerDay"]] == [1, 0]
    # and Tokyo keeps its own days
    assert answers[tokyo]["timezone"] == "Asia/Tokyo"
    assert [d["count"] for d in answers[tokyo]["tasks"]["createdPerDay"]] == [0, 1]


async def test_overdue_follows_the_tenants_today(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, new_organization: NewOrganization
) -> None:
    # given an organization in Tokyo with tasks and compliance records due just before and just
    # after the start of today there
    organization = await new_organization(timezone="Asia/Tokyo")
    now = await db_now(runtime_conn)
    today = local_midnight(now.astimezone(ZoneInfo("Asia/Tokyo")).date(), "Asia/Tokyo")
    before, after = today - timedelta(minutes=1), today + timedelta(minutes=1)
    await organization.execute(
        "INSERT INTO tasks (tenant_id, title, due_at, status) VALUES"
        " (:t, 'late', :before, 'TODO'), (:t, 'due today', :after, 'TODO'),"
        " (:t, 'late but done', :before, 'DONE')",
        before=before,
        after=after,
    )
    await organization.execute(
        "INSERT INTO compliance_records (tenant_id, title, status, due_at) VALUES"
        " (:t, 'late', 'PENDING', :before), (:t, 'today', 'NON_COMPLIANT', :after),"
        " (:t, 'in a week', 'PENDING', :week), (:t, 'in 29 days', 'PENDING', :month),"
        " (:t, 'in 30 days', 'PENDING', :too_far), (:t, 'waived', 'WAIVED', :before)",
        before=before,
        after=after,
        week=today + timedelta(days=7, minutes=1),
        month=today + timedelta(days=29, hours=23),
        too_far=today + timedelta(days=30, minutes=1),
    )
    session = await login(client, organization.admin_email, host=f"{organization.slug}.localhost")
    # when its admin reads the dashboard
    answer = await analytics(client, session)
    # then only what was due before today in Tokyo is overdue
    assert answer["tasks"]["overdue"] == 1
    assert answer["compliance"]["overdue"] == 1
    assert answer["compliance"]["dueWithin7Days"] == 1
    assert answer["compliance"]["dueWithin30Days"] == 3
    assert answer["compliance"]["total"] == 6


async def test_an_empty_tenant_has_zeros_and_no_rates(
    client: httpx.AsyncClient, new_organization: NewOrganization
) -> None:
    # given a new organization with nothing but its admin
    organization = await new_organization()
    session = await login(client, organization.admin_email, host=f"{organization.slug}.localhost")
    # when the admin reads the dashboard
    answer = await analytics(client, session)
    # then every count is zero, every rate is null, and every day is there
    tasks = answer["tasks"]
    assert answer["timezone"] == "UTC"
    assert (tasks["total"], tasks["overdue"]) == (0, 0)
    assert (tasks["completionRate"], tasks["medianHoursToDone"]) == (None, None)
    assert {c["count"] for c in tasks["byStatus"] + tasks["byPriority"]} == {0}
    assert len(tasks["createdPerDay"]) == 30
    assert {d["count"] for d in tasks["createdPerDay"] + answer["bookings"]["perDay"]} == {0}
    assert answer["bookings"]["revenueCentsByService"] == []
    assert answer["serviceRequests"]["conversionRate"] is None
    assert answer["compliance"]["total"] == 0
    assert answer["members"] == {
        "active": 1,
        "activeByRole": [
            {"role": "ADMIN", "count": 1},
            {"role": "STAFF", "count": 0},
            {"role": "CLIENT", "count": 0},
        ],
    }


async def test_a_tenant_with_one_huge_day(
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    new_organization: NewOrganization,
) -> None:
    # given an organization whose 5,000 tasks were all created on one day, 1,000 of them done
    organization = await new_organization(timezone="America/New_York")
    await organization.execute(
        "INSERT INTO tasks (tenant_id, title, status, priority, created_at, updated_at)"
        " SELECT :t, 'bulk ' || i, CASE WHEN i % 5 = 0 THEN 'DONE' ELSE 'TODO' END,"
        "  (ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'])[1 + i % 4],"
        "  CAST(:day AS timestamptz) + i * interval '1 second',"
        "  CAST(:day AS timestamptz) + i * interval '1 second' + interval '2 hours'"
        " FROM generate_series(1, 5000) i",
        day=datetime.fromisoformat("2026-03-10T05:00:00+00:00"),  # 00:00 in New York
    )
    session = await login(client, organization.admin_email, host=f"{organization.slug}.localhost")
    # when its admin reads the week around it
    answer = await analytics(client, session, **{"from": "2026-03-07", "to": "2026-03-13"})
    # then everything falls on that one day
    tasks = answer["tasks"]
    assert tasks["total"] == 5000
    assert [d["count"] for d in tasks["createdPerDay"]] == [0, 0, 0, 5000, 0, 0, 0]
    assert [d["count"] for d in tasks["completedPerDay"]] == [0, 0, 0, 1000, 0, 0, 0]
    assert tasks["byPriority"] == [
        {"priority": p, "count": 1250} for p in ("LOW", "MEDIUM", "HIGH", "URGENT")
    ]
    assert tasks["completionRate"] == pytest.approx(0.2)
    assert tasks["medianHoursToDone"] == pytest.approx(2.0)
    # and the day before in New York is not touched by the 5,000 rows of UTC's 10 March
    assert await task_total(client, session, **{"from": "2026-03-09", "to": "2026-03-09"}) == 0


async def _book(organization: Organization, price_cents: int, days: list[str]) -> None:
    """A service at `price_cents` and one CONFIRMED booking of it at 10:00 UTC on each day."""
    await organization.execute(
        "INSERT INTO services (tenant_id, slug, name, price_cents)"
        " VALUES (:t, 'audit', 'Audit', :price)",
        price=price_cents,
    )
    await organization.execute(
        "INSERT INTO bookings (tenant_id, service_id, client_id, starts_at, ends_at, status)"
        " SELECT :t, s.id, m.user_id, CAST(d AS date) + time '10:00',"
        "  CAST(d AS date) + time '11:00', 'CONFIRMED'"
        " FROM services s, tenant_memberships m, unnest(CAST(:days AS text[])) d"
        " WHERE s.tenant_id = :t AND m.tenant_id = :t",
        days=days,
    )


async def test_revenue_beyond_32_bits_is_answered_exactly(
    client: httpx.AsyncClient, new_organization: NewOrganization
) -> None:
    # given one organization whose bookings add up to more than an Int holds (2^31 - 1 cents),
    # and another with ordinary revenue
    large, small = await new_organization(), await new_organization()
    await _book(large, 2_000_000_000, ["2026-06-01", "2026-06-02", "2026-06-03"])
    await _book(small, 12_500, ["2026-06-01"])
    june = {"from": "2026-06-01", "to": "2026-06-30"}
    # when each admin reads June
    answers = {}
    for organization in (large, small):
        session = await login(
            client, organization.admin_email, host=f"{organization.slug}.localhost"
        )
        answers[organization] = (await analytics(client, session, **june))["bookings"]
    # then the large one gets its exact revenue instead of an error...
    assert answers[large]["revenueCents"] == 6_000_000_000
    assert type(answers[large]["revenueCents"]) is int  # a JSON integer, not 6000000000.0
    assert [
        (e["bookings"], e["revenueCents"]) for e in answers[large]["revenueCentsByService"]
    ] == [(3, 6_000_000_000)]
    # ...and the other its own, untouched by the first
    assert answers[small]["revenueCents"] == 12_500
    assert [e["revenueCents"] for e in answers[small]["revenueCentsByService"]] == [12_500]


UPDATE_TASK = """
mutation($id: ID!, $input: UpdateTaskInput!) { updateTask(id: $id, input: $input) { id } }
"""
BULK_UPDATE = """
mutation($ids: [ID!]!, $input: BulkUpdateTasksInput!) { bulkUpdateTasks(ids: $ids, input: $input) { id } }
"""


async def test_editing_a_done_task_does_not_move_its_completion(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, new_organization: NewOrganization
) -> None:
    # given two organizations, each with a task created 10 days ago and done 9 days ago
    now = await db_now(runtime_conn)
    created, done = now - timedelta(days=10), now - timedelta(days=9)
    edited, untouched = await new_organization(), await new_organization()
    tasks = {}
    for organization in (edited, untouched):
        rows = await organization.execute(
            "INSERT INTO tasks (tenant_id, title, status, created_at, updated_at)"
            " VALUES (:t, 'filed', 'DONE', :created, :done) RETURNING id",
            created=created,
            done=done,
        )
        tasks[organization] = encode_id("Task", rows[0].id)
    session = await login(client, edited.admin_email, host=f"{edited.slug}.localhost")
    # when an admin of the first fixes the done task's title, then changes its priority in bulk
    for document, variables in (
        (UPDATE_TASK, {"id": tasks[edited], "input": {"title": "filed on time"}}),
        (BULK_UPDATE, {"ids": [tasks[edited]], "input": {"priority": "HIGH"}}),
    ):
        body = (await gql(client, document, variables, session=session)).json()
        assert "errors" not in body, body
    # then the task still counts as completed 9 days ago, one day after it was created, in both
    done_day = done.date().isoformat()
    for organization in (edited, untouched):
        answer = await analytics(
            client,
            await login(client, organization.admin_email, host=f"{organization.slug}.localhost"),
        )
        completed = {d["date"]: d["count"] for d in answer["tasks"]["completedPerDay"]}
        assert completed[done_day] == 1
        assert sum(completed.values()) == 1
        assert answer["tasks"]["medianHoursToDone"] == pytest.approx(24.0)
    # and reopening it, then closing it again, completes it anew: today
    for status in ("TODO", "DONE"):
        variables = {"id": tasks[edited], "input": {"status": status}}
        body = (await gql(client, UPDATE_TASK, variables, session=session)).json()
        assert "errors" not in body, body
    answer = await analytics(client, session)
    completed = {d["date"]: d["count"] for d in answer["tasks"]["completedPerDay"]}
    assert (completed[done_day], completed[answer["to"]]) == (0, 1)


CONVERT = """
mutation($id: ID!) { convertServiceRequestToTask(id: $id) { status task { id } } }
"""
DELETE_TASK = "mutation($id: ID!) { deleteTask(id: $id) }"
PLATFORM_LOGIN = """
mutation { platformLogin(email: "root@platform.test", password: "demo-password") { token } }
"""
PLATFORM_REQUESTS = """
query($from: Date, $to: Date) { platformAnalytics(from: $from, to: $to) {
  tenants { slug serviceRequests serviceRequestsConverted } } }
"""


async def test_a_converted_request_stays_converted_when_its_task_is_deleted(
    committing: httpx.AsyncClient,
    owner_engine: AsyncEngine,
    new_organization: NewOrganization,
) -> None:
    # given two organizations (committed: the platform reads on a connection of its own), each
    # with one service request submitted today; the first one's admin converts it into a task
    client = committing
    converting, other = await new_organization(), await new_organization()
    requests = {}
    for organization in (converting, other):
        rows = await organization.execute(
            "INSERT INTO service_requests (tenant_id, contact_email, description)"
            " VALUES (:t, 'someone@example.test', 'Please audit our books') RETURNING id"
        )
        requests[organization] = encode_id("ServiceRequest", rows[0].id)
    session = await login(client, converting.admin_email, host=f"{converting.slug}.localhost")
    body = (await gql(client, CONVERT, {"id": requests[converting]}, session=session)).json()
    assert "errors" not in body, body
    task = body["data"]["convertServiceRequestToTask"]["task"]["id"]
    # when the task is done with and deleted
    body = (await gql(client, DELETE_TASK, {"id": task}, session=session)).json()
    assert body == {"data": {"deleteTask": True}}, body
    # then the request still counts as converted, in the organization's dashboard...
    answer = (await analytics(client, session))["serviceRequests"]
    assert {c["status"]: c["count"] for c in answer["byStatus"]}["CONVERTED"] == 1
    assert (answer["convertedToTasks"], answer["conversionRate"]) == (1, 1.0)
    other_session = await login(client, other.admin_email, host=f"{other.slug}.localhost")
    untouched = (await analytics(client, other_session))["serviceRequests"]
    assert (untouched["total"], untouched["convertedToTasks"]) == (1, 0)
    # ...and in the platform's rows
    response = await gql(client, PLATFORM_LOGIN, host="localhost")
    platform = Session(
        token=response.json()["data"]["platformLogin"]["token"],
        cookie=str(response.cookies.get("tenant_sig")),
        host="localhost",
    )
    try:
        body = (await gql(client, PLATFORM_REQUESTS, session=platform)).json()
        assert "errors" not in body, body
        rows = {r["slug"]: r for r in body["data"]["platformAnalytics"]["tenants"]}
        assert rows[converting.slug]["serviceRequestsConverted"] == 1
        assert rows[other.slug] == {
            "slug": other.slug,
            "serviceRequests": 1,
            "serviceRequestsConverted": 0,
        }
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(text("DELETE FROM platform_audit_logs"))


# --- isolation and the cache -------------------------------------------------------------------


async def test_changing_tenant_b_never_moves_tenant_a(
    cached_client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    owner_conn: AsyncConnection,
    demo: DemoData,
    any_cache: Cache,
) -> None:
    client = cached_client
    acme, globex = await admin_of(client, "acme"), await admin_of(client, "globex")
    # given both dashboards read (and cached)
    acme_before = await analytics(client, acme)
    globex_before = await analytics(client, globex)
    # when globex gets two new tasks
    for title in ("globex one", "globex two"):
        body = (await gql(client, CREATE_TASK, {"title": title}, session=globex)).json()
        assert "errors" not in body, body
    # then globex's cached answer is gone and its count moves by two...
    globex_after = await analytics(client, globex)
    assert globex_after["tasks"]["total"] == globex_before["tasks"]["total"] + 2
    # ...while acme's numbers do not move: from the cache (the same period, no aggregate runs)
    with counting_statements(runtime_conn) as warm:
        assert await analytics(client, acme) == acme_before
    assert not any("percentile_cont" in statement for statement in warm)
    # ...nor computed afresh (a period asked for the first time, one day longer)
    start, end = date.fromisoformat(acme_before["from"]), date.fromisoformat(acme_before["to"])
    longer = {"from": (start - timedelta(days=1)).isoformat(), "to": end.isoformat()}
    with counting_statements(runtime_conn) as cold:
        acme_cold = await analytics(client, acme, **longer)
    assert any("percentile_cont" in statement for statement in cold)
    assert acme_cold["tasks"]["createdPerDay"][1:] == acme_before["tasks"]["createdPerDay"]
    now = await db_now(runtime_conn)
    for answer, first in ((acme_before, start), (acme_cold, start - timedelta(days=1))):
        expected = await expected_analytics(owner_conn, demo.tenants["acme"], first, end, now)
        assert comparable(answer) == expected


async def test_a_change_in_the_tenant_invalidates_its_cached_answer(
    cached_client: httpx.AsyncClient, runtime_conn: AsyncConnection, any_cache: Cache
) -> None:
    # given acme's dashboard, read once
    client = cached_client
    acme = await admin_of(client, "acme")
    with counting_statements(runtime_conn) as cold:
        before = await task_total(client, acme)
    # when it is read again, it comes from the cache: no aggregate runs
    with counting_statements(runtime_conn) as warm:
        assert await task_total(client, acme) == before
    assert any("percentile_cont" in statement for statement in cold)
    assert not any("percentile_cont" in statement for statement in warm)
    assert len(warm) < len(cold)
    # and after a change in acme, the next read counts again
    body = (await gql(client, CREATE_TASK, {"title": "one more"}, session=acme)).json()
    assert "errors" not in body, body
    assert await task_total(client, acme) == before + 1


async def test_a_failed_mutation_keeps_the_cache(
    cached_client: httpx.AsyncClient, runtime_conn: AsyncConnection, any_cache: Cache
) -> None:
    # given acme's cached dashboard
    client = cached_client
    acme = await admin_of(client, "acme")
    before = await task_total(client, acme)
    # when mutations fail (nothing is written): one refused outright, and one document whose
    # first field wrote a task before its second failed (the whole document is rolled back)
    body = (await gql(client, CREATE_TASK, {"title": " "}, session=acme)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    document = 'mutation { a: createTask(input: {title: "kept?"}) { id } b: createTask(input: {title: " "}) { id } }'
    body = (await gql(client, document, session=acme)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    # then the count is unchanged, and it still comes from the cache: no aggregate runs
    with counting_statements(runtime_conn) as statements:
        assert await task_total(client, acme) == before
    assert not any("percentile_cont" in statement for statement in statements)


async def test_identical_arguments_from_two_tenants_never_share_an_entry(
    cached_client: httpx.AsyncClient, demo: DemoData, any_cache: Cache
) -> None:
    client = cached_client
    period = {"from": "2026-01-01", "to": "2026-12-31"}
    # given acme and globex asking the very same question
    acme = await analytics(client, await admin_of(client, "acme"), **period)
    globex = await analytics(client, await admin_of(client, "globex"), **period)
    acme_again = await analytics(client, await admin_of(client, "acme"), **period)
    globex_again = await analytics(client, await admin_of(client, "globex"), **period)
    # then each gets its own answer, from the database and from the cache alike
    assert acme["tasks"]["total"] != globex["tasks"]["total"]
    assert (acme_again, globex_again) == (acme, globex)
    # and the cache holds one entry per tenant, each under its own tenant's key
    keys = await _keys(any_cache)
    for slug in ("acme", "globex"):
        assert len([k for k in keys if f"t:{demo.tenants[slug]}:" in k]) >= 1
    assert all(any(f"t:{demo.tenants[s]}:" in k for s in ("acme", "globex")) for k in keys)


async def test_a_hit_never_answers_another_tenant(any_cache: Cache, demo: DemoData) -> None:
    # given an answer cached for acme
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    args = {"from": "2026-01-01", "to": "2026-01-31", "timezone": "UTC"}
    await any_cache.set(acme, "analytics.v1", args, {"secret": "acme"})
    # then globex, with the very same name and arguments, misses
    assert await any_cache.get(globex, "analytics.v1", args) is None
    assert await any_cache.get(acme, "analytics.v1", args) == {"secret": "acme"}
    # and even an entry copied under globex's key is refused: it names acme inside
    source, target = await _key(any_cache, acme, args), await _key(any_cache, globex, args)
    await _copy(any_cache, source, target)
    assert await any_cache.get(globex, "analytics.v1", args) is None
    # and invalidating globex leaves acme's entry alone, invalidating acme removes it
    await any_cache.invalidate({globex})
    assert await any_cache.get(acme, "analytics.v1", args) == {"secret": "acme"}
    await any_cache.invalidate({acme})
    assert await any_cache.get(acme, "analytics.v1", args) is None


async def test_the_memory_cache_is_bounded_and_expires() -> None:

    cache = MemoryCache(ttl=60, max_entries=3)
    tenant = uuid.uuid4()
    for i in range(5):
        await cache.set(tenant, "n", {"i": i}, i)
    assert len(cache) == 3
    assert await cache.get(tenant, "n", {"i": 0}) is None
    assert await cache.get(tenant, "n", {"i": 4}) == 4
    expiring = MemoryCache(ttl=0.0001)
    await expiring.set(tenant, "n", {}, 1)
    import asyncio

    await asyncio.sleep(0.01)
    assert await expiring.get(tenant, "n", {}) is None


async def test_redis_stores_an_entry_whatever_the_ttl(redis_cache: RedisCache) -> None:
    # given a cache whose TTL is under a millisecond (TENANTGRAPH_ANALYTICS_CACHE_SECONDS > 0)
    tenant = uuid.uuid4()
    short = RedisCache(redis_cache_url(redis_cache), ttl=0.0004, prefix=redis_cache.prefix)
    buffer = io.StringIO()
    try:
        # when an entry is stored
        with capture_logs(buffer):
            await short.set(tenant, "analytics.v1", {}, {"n": 1})
        # then Redis took it (with the shortest expiry it has), as the in-process cache would
        assert "cache unavailable" not in buffer.getvalue()
    finally:
        await short.close()


async def test_redis_shares_answers_between_processes(
    runtime_conn: AsyncConnection, redis_cache: RedisCache, demo: DemoData
) -> None:
    # given two caches on the same Redis (two API processes)
    other = RedisCache(redis_cache_url(redis_cache), prefix=redis_cache.prefix)
    try:
        acme = demo.tenants["acme"]
        await redis_cache.set(acme, "analytics.v1", {"a": 1}, {"n": 1})
        # then the other process sees the entry, and sees it go when the first invalidates
        assert await other.get(acme, "analytics.v1", {"a": 1}) == {"n": 1}
        await redis_cache.invalidate({acme})
        assert await other.get(acme, "analytics.v1", {"a": 1}) is None
    finally:
        await other.close()


async def test_an_unreachable_redis_is_a_miss_not_an_error(demo: DemoData) -> None:
    cache = RedisCache("redis://127.0.0.1:1/0")
    try:
        acme = demo.tenants["acme"]
        await cache.set(acme, "analytics.v1", {}, {"n": 1})
        assert await cache.get(acme, "analytics.v1", {}) is None
        await cache.invalidate({acme})
    finally:
        await cache.close()


# --- helpers over both backends ----------------------------------------------------------------


def redis_cache_url(cache: RedisCache) -> str:
    kwargs = cache._redis.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


async def _keys(cache: Cache) -> list[str]:
    if isinstance(cache, MemoryCache):
        return cache.keys()
    assert isinstance(cache, RedisCache)
    return [key.decode() async for key in cache._redis.scan_iter(match=f"{cache.prefix}t:*")]


async def _key(cache: Cache, tenant: Any, args: dict[str, Any]) -> str:
    if isinstance(cache, MemoryCache):
        from app.cache import _key as key_of

        return key_of(cache.prefix, tenant, cache._generations.get(tenant, 0), "analytics.v1", args)
    assert isinstance(cache, RedisCache)
    return await cache.key(tenant, "analytics.v1", args)


async def _copy(cache: Cache, source: str, target: str) -> None:
    if isinstance(cache, MemoryCache):
        cache._entries[target] = cache._entries[source]
        return
    assert isinstance(cache, RedisCache)
    raw = await cache._redis.get(source)
    assert raw is not None
    await cache._redis.set(target, raw, px=60_000)


async def test_service_names_cost_one_statement_whatever_the_number_of_services(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    # given acme's admin and a year of bookings over several services
    session = await admin_of(client, "acme")
    now = await db_now(runtime_conn)
    period = {"from": (now.date() - timedelta(days=365)).isoformat(), "to": now.date().isoformat()}
    # when the revenue by service is read with each service's name
    with counting_statements(runtime_conn) as statements:
        body = (await gql(client, NAMED_REVENUE, period, session=session)).json()
    # then the names cost one batched statement, not one per service
    assert "errors" not in body, body
    assert len(body["data"]["analytics"]["bookings"]["revenueCentsByService"]) > 1
    loads = [s for s in statements if "FROM services" in s and "JOIN" not in s]
    assert len(loads) == 1


async def test_an_answer_computed_across_a_change_is_never_served(
    any_cache: Cache, demo: DemoData
) -> None:
    # given a read that took the tenant's generation, then computed while a change committed
    acme = demo.tenants["acme"]
    args = {"from": "2026-01-01", "to": "2026-01-31", "timezone": "UTC"}
    generation = await any_cache.generation(acme)
    await any_cache.invalidate({acme})
    # when it stores its (possibly stale) answer under the generation it read
    await any_cache.set(acme, "analytics.v1", args, {"stale": True}, generation=generation)
    # then no later read gets it
    assert await any_cache.get(acme, "analytics.v1", args) is None


@pytest.mark.parametrize(
    ("start", "end"),
    [("0001-01-01", "0001-01-01"), ("9999-12-31", "9999-12-31"), ("1969-12-31", "1970-01-02")],
)
async def test_dates_beyond_the_dashboards_calendar_are_refused(
    client: httpx.AsyncClient, start: str, end: str
) -> None:
    # the driver turns date.min/max into -infinity/infinity: a day series over them never ends
    alice = await login(client, "alice@acme.test")
    body = (
        await gql(
            client,
            "query($f: Date, $t: Date) { analytics(from: $f, to: $t) { tasks { total } } }",
            {"f": start, "t": end},
            session=alice,
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_two_deployments_sharing_a_redis_never_share_entries(
    redis_cache: RedisCache, demo: DemoData
) -> None:
    """Production and a staging copy restored from it (the same tenant ids and generations) on
    one Redis: each deployment's namespace keeps its entries apart, while two processes of the
    same deployment share theirs."""
    production = make_url("postgresql+asyncpg://app:secret@db.prod.internal:5432/tenantgraph")
    staging = make_url("postgresql+asyncpg://app:other@db.staging.internal:5432/tenantgraph")
    rotated = make_url("postgresql+asyncpg://app:rotated@db.prod.internal:5432/tenantgraph")
    assert deployment_namespace(production) == deployment_namespace(rotated)
    assert deployment_namespace(production) != deployment_namespace(staging)

    caches: dict[str, Cache] = {
        # under this test's own prefix, so that its keys are dropped afterwards
        name: create_cache(
            REDIS_URL, namespace=f"{redis_cache.prefix}{deployment_namespace(where)}"
        )
        for name, where in (("production", production), ("production-2", rotated),
                            ("staging", staging))
    }  # fmt: skip
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    try:
        generation = await caches["production"].generation(acme)
        await caches["production"].set(
            acme, "analytics", {"p": 1}, {"tasks": 37}, generation=generation
        )
        # the second process of production finds it...
        assert await caches["production-2"].get(
            acme, "analytics", {"p": 1}, generation=generation
        ) == {"tasks": 37}
        # ...staging, with the same tenant id, generation and arguments, does not, and neither
        # does globex in production
        assert (
            await caches["staging"].get(acme, "analytics", {"p": 1}, generation=generation) is None
        )
        assert await caches["production"].get(globex, "analytics", {"p": 1}) is None
    finally:
        for cache in caches.values():
            assert isinstance(cache, RedisCache)
            await drop_redis_keys(cache)


async def test_an_entry_that_is_not_an_envelope_is_a_miss(any_cache: Cache, demo: DemoData) -> None:
    """A value under a tenant's key that the cache did not write (garbage, a JSON list, an
    envelope of another tenant) is a miss for that tenant, never an error or an answer."""
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    args = {"from": "2026-02-01", "to": "2026-02-28", "timezone": "UTC"}
    await any_cache.set(globex, "analytics.v1", args, {"tasks": 5})
    for raw in (b"\xff not json", b"[1, 2]", None):
        key = await _key(any_cache, acme, args)
        if raw is None:  # globex's own envelope, copied under acme's key
            await _copy(any_cache, await _key(any_cache, globex, args), key)
        elif isinstance(any_cache, MemoryCache):
            any_cache._entries[key] = (float("inf"), raw)
        else:
            assert isinstance(any_cache, RedisCache)
            await any_cache._redis.set(key, raw, px=60_000)
        assert await any_cache.get(acme, "analytics.v1", args) is None
    # and globex still gets its own
    assert await any_cache.get(globex, "analytics.v1", args) == {"tasks": 5}

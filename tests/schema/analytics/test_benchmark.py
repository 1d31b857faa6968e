"""Not a timed test: measures `analytics` on a 10,000-task organization, cold and cached, and
prints the numbers (docs/performance.md). Run with `-m slow -s`."""

from __future__ import annotations

import statistics
import time
from datetime import date, datetime, timedelta

import httpx
import pytest

from tests.helpers import gql, login
from tests.schema.analytics.conftest import NewOrganization

TASKS = 10_000
CALLS = 30
DOCUMENT = """
query($from: Date, $to: Date) { analytics(from: $from, to: $to) {
  tasks { total overdue byStatus { status count } byPriority { priority count }
          completionRate medianHoursToDone createdPerDay { date count } completedPerDay { date count } }
  bookings { total byStatus { status count } upcoming revenueCents
             revenueCentsByService { revenueCents } perDay { date count } }
  serviceRequests { total byStatus { status count } convertedToTasks conversionRate }
  compliance { total byStatus { status count } dueWithin7Days dueWithin30Days overdue }
  members { active activeByRole { role count } } } }
"""


def _summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{label}: median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms"


@pytest.mark.bench
@pytest.mark.slow
async def test_analytics_on_a_10000_task_organization(
    client: httpx.AsyncClient, new_organization: NewOrganization
) -> None:
    # given an organization with 10,000 tasks spread over the last year
    organization = await new_organization(timezone="Europe/Berlin")
    await organization.execute(
        "INSERT INTO tasks (tenant_id, title, status, priority, created_at, updated_at, due_at)"
        " SELECT :t, 'task ' || i, (ARRAY['TODO', 'IN_PROGRESS', 'BLOCKED', 'DONE'])[1 + i % 4],"
        "  (ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'])[1 + i % 3],"
        "  now() - (i % 365) * interval '1 day' - (i % 24) * interval '1 hour',"
        "  now() - (i % 365) * interval '1 day' + (i % 7) * interval '1 hour',"
        "  now() - (i % 200 - 100) * interval '1 day'"
        " FROM generate_series(1, :n) i",
        n=TASKS,
    )
    await organization.execute("ANALYZE tasks")
    session = await login(client, organization.admin_email, host=f"{organization.slug}.localhost")
    today = datetime.now().date()

    async def call(end: date) -> float:
        period = {"from": (end - timedelta(days=89)).isoformat(), "to": end.isoformat()}
        started = time.perf_counter()
        body = (await gql(client, DOCUMENT, period, session=session)).json()
        elapsed = (time.perf_counter() - started) * 1000
        assert "errors" not in body, body
        return elapsed

    # when it is read with a different period each time (cold), then the same one (cached)
    await call(today)  # warm the connection and the parser caches
    cold = [await call(today - timedelta(days=i + 1)) for i in range(CALLS)]
    cached = [await call(today) for _ in range(CALLS)]
    # then (printed, not asserted: the machine is shared)
    print()
    print(_summary(f"cold, {TASKS} tasks, 90 days", cold))
    print(_summary(f"cached, {TASKS} tasks, 90 days", cached))
    assert len(cold) == len(cached) == CALLS

"""Aggregates for the admin dashboard of the context tenant, computed by PostgreSQL under the
tenant's row-level security (every statement also names the tenant: two walls), and cached per
tenant.

Definitions (days are calendar days in the tenant's time zone, from its organization settings:
the tenant's row over the global row, UTC when neither names one or the stored name is no zone
the settings would accept, say a Windows name kept from an adopted legacy database):
- the period is `start` to `end`, both days included: from `start` 00:00 up to, not including,
  the day after `end` 00:00, local time;
- tasks: `total`, `byStatus`, `byPriority` and `completionRate` are about the tasks created in
  the period (their current status); a task is done when its status is DONE, and it was
  completed when it last became DONE (`completed_at`, kept by the database: a later edit of a
  done task does not move it), which gives `completedPerDay` and `medianHoursToDone` (DONE tasks
  completed in the period, hours from creation to completion);
- bookings: counted on the day they start; revenue is the service's price for each CONFIRMED or
  COMPLETED booking of the period; `upcoming` is every REQUESTED or CONFIRMED booking that has
  not started yet, whatever the period;
- service requests: those created in the period; converted = turned into a task (CONVERTED,
  or linked to a task: the link goes when the task is deleted, the status stays);
- compliance and members are the current state, not bound to the period: an open compliance
  record (PENDING or NON_COMPLIANT) is overdue when its due day is before today, due within N
  days when its due day is today or one of the next N - 1 days;
- overdue tasks (whatever the period) are the tasks not DONE whose due day is before today.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import text

from app.errors import BadUserInput
from repositories.base import TenantRepository
from repositories.settings import known_timezone

log = structlog.get_logger("tenantgraph.analytics")

MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30
CACHE_NAME = "analytics.v1"

TASK_STATUSES = ("TODO", "IN_PROGRESS", "BLOCKED", "DONE")
TASK_PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")
BOOKING_STATUSES = ("REQUESTED", "CONFIRMED", "CANCELLED", "COMPLETED")
REQUEST_STATUSES = ("NEW", "IN_REVIEW", "CONVERTED", "REJECTED", "CLOSED")
COMPLIANCE_STATUSES = ("PENDING", "COMPLIANT", "NON_COMPLIANT", "WAIVED")
ROLES = ("ADMIN", "STAFF", "CLIENT")


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Count:
    key: str
    count: int


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True, slots=True)
class ServiceRevenue:
    service_id: uuid.UUID
    bookings: int
    revenue_cents: int


@dataclass(frozen=True, slots=True)
class TaskStats:
    total: int
    overdue: int
    by_status: tuple[Count, ...]
    by_priority: tuple[Count, ...]
    completion_rate: float | None
    median_hours_to_done: float | None
    created_per_day: tuple[DayCount, ...]
    completed_per_day: tuple[DayCount, ...]


@dataclass(frozen=True, slots=True)
class BookingStats:
    total: int
    by_status: tuple[Count, ...]
    upcoming: int
    revenue_cents: int
    revenue_cents_by_service: tuple[ServiceRevenue, ...]
    per_day: tuple[DayCount, ...]


@dataclass(frozen=True, slots=True)
class ServiceRequestStats:
    total: int
    by_status: tuple[Count, ...]
    converted_to_tasks: int
    conversion_rate: float | None


@dataclass(frozen=True, slots=True)
class ComplianceStats:
    total: int
    by_status: tuple[Count, ...]
    due_within_7_days: int
    due_within_30_days: int
    overdue: int


@dataclass(frozen=True, slots=True)
class MemberStats:
    active: int
    active_by_role: tuple[Count, ...]


@dataclass(frozen=True, slots=True)
class TenantAnalytics:
    start: date
    end: date
    timezone: str
    tasks: TaskStats
    bookings: BookingStats
    service_requests: ServiceRequestStats
    compliance: ComplianceStats
    members: MemberStats


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date
    timezone: str


# --- SQL -----------------------------------------------------------------------------------------

# The tenant's stored time zone, and the transaction's clock.
_TIMEZONE = text(
    "SELECT coalesce("
    " (SELECT timezone FROM organization_settings WHERE tenant_id = :tenant),"
    " (SELECT timezone FROM organization_settings WHERE tenant_id IS NULL),"
    " 'UTC') AS name, now() AS now"
)


def _day_start(day: str) -> str:
    """The first instant of the local day `day` (a SQL date expression) in `:tz`.

    `wall AT TIME ZONE tz` reads an ambiguous wall time as the *later* of its two instants. Where
    clocks go back from 01:00 to 00:00 (the Azores and Cuba every autumn) midnight happens twice
    and the day begins at the first: read with the offset in force just before the later one,
    the same wall time gives that earlier instant."""
    tz = "CAST(:tz AS text)"
    wall = f"CAST({day} AS date)::timestamp"
    late = f"({wall} AT TIME ZONE {tz})"
    just_before = f"({late} - interval '1 microsecond')"
    offset = f"(({just_before} AT TIME ZONE {tz}) - ({just_before} AT TIME ZONE 'UTC'))"
    early = f"(({wall} - {offset}) AT TIME ZONE 'UTC')"
    return (
        f"(CASE WHEN {early} < {late} AND ({early} AT TIME ZONE {tz}) >= {wall}"
        f" THEN {early} ELSE {late} END)"
    )


# Local days → instants: the period [lo, hi), today's local date, and the instant today began
# there (a due instant before it is a due day before today, without converting every row).
# MATERIALIZED: computed once per statement. Inlined, every `t.created_at >= b.lo` would repeat
# the time-zone conversion (a stable function, never folded) for every row: that was most of
# the cost of a cold call on a large tenant.
_TODAY = "CAST(now() AT TIME ZONE CAST(:tz AS text) AS date)"
_BOUNDS = (
    "b AS MATERIALIZED (SELECT"
    f" {_day_start(':start')} AS lo,"
    f" {_day_start('CAST(:end AS date) + 1')} AS hi,"
    f" {_TODAY} AS today,"
    f" {_day_start(_TODAY)} AS today_start)"
)


def _local_day(column: str) -> str:
    return f"CAST({column} AT TIME ZONE CAST(:tz AS text) AS date)"


# Each figure is its own sub-select so that each reads only its rows through an index that leads
# with the tenant: created in the period (ix_tasks_page), open by due date (ix_tasks_open_due),
# completed in the period (ix_tasks_completed, which also holds created_at for the median).
_TASK_TOTALS = text(
    f"WITH {_BOUNDS} SELECT"
    " (SELECT count(*) FROM tasks t, b WHERE t.tenant_id = :tenant"
    "   AND t.created_at >= b.lo AND t.created_at < b.hi) AS total,"
    " (SELECT count(*) FROM tasks t, b WHERE t.tenant_id = :tenant"
    "   AND t.created_at >= b.lo AND t.created_at < b.hi AND t.status = 'DONE') AS done,"
    " (SELECT count(*) FROM tasks t, b WHERE t.tenant_id = :tenant"
    "   AND t.status <> 'DONE' AND t.due_at < b.today_start) AS overdue,"
    " (SELECT percentile_cont(0.5) WITHIN GROUP ("
    # date_part is double precision (extract is numeric, several times slower here)
    "   ORDER BY date_part('epoch', t.completed_at - t.created_at) / 3600)"
    "   FROM tasks t, b WHERE t.tenant_id = :tenant"
    "   AND t.status = 'DONE' AND t.completed_at >= b.lo AND t.completed_at < b.hi) AS median_hours"
)

_TASK_GROUPS = text(
    f"WITH {_BOUNDS} SELECT GROUPING(t.status) AS by_priority, t.status, t.priority,"
    " count(*) AS n"
    " FROM tasks t, b WHERE t.tenant_id = :tenant AND t.created_at >= b.lo AND t.created_at < b.hi"
    " GROUP BY GROUPING SETS ((t.status), (t.priority))"
)

_PER_DAY = text(
    f"WITH {_BOUNDS},"
    " days AS (SELECT CAST(d AS date) AS day FROM generate_series("
    "   CAST(:start AS date)::timestamp, CAST(:end AS date)::timestamp, interval '1 day') d),"
    f" created AS (SELECT {_local_day('t.created_at')} AS day, count(*) AS n FROM tasks t, b"
    "   WHERE t.tenant_id = :tenant AND t.created_at >= b.lo AND t.created_at < b.hi"
    "   GROUP BY 1),"
    f" completed AS (SELECT {_local_day('t.completed_at')} AS day, count(*) AS n FROM tasks t, b"
    "   WHERE t.tenant_id = :tenant AND t.status = 'DONE'"
    "   AND t.completed_at >= b.lo AND t.completed_at < b.hi GROUP BY 1),"
    f" booked AS (SELECT {_local_day('k.starts_at')} AS day, count(*) AS n FROM bookings k, b"
    "   WHERE k.tenant_id = :tenant AND k.starts_at >= b.lo AND k.starts_at < b.hi GROUP BY 1)"
    " SELECT days.day, coalesce(created.n, 0) AS created, coalesce(completed.n, 0) AS completed,"
    " coalesce(booked.n, 0) AS booked"
    " FROM days LEFT JOIN created USING (day) LEFT JOIN completed USING (day)"
    " LEFT JOIN booked USING (day) ORDER BY days.day"
)

_BOOKING_TOTALS = text(
    f"WITH {_BOUNDS} SELECT"
    " count(*) FILTER (WHERE k.starts_at >= b.lo AND k.starts_at < b.hi) AS total,"
    " count(*) FILTER (WHERE k.starts_at > now() AND k.status IN ('REQUESTED', 'CONFIRMED'))"
    "   AS upcoming"
    " FROM bookings k, b WHERE k.tenant_id = :tenant"
)

_BOOKING_STATUSES = text(
    f"WITH {_BOUNDS} SELECT k.status, count(*) AS n FROM bookings k, b"
    " WHERE k.tenant_id = :tenant AND k.starts_at >= b.lo AND k.starts_at < b.hi"
    " GROUP BY k.status"
)

_REVENUE = text(
    f"WITH {_BOUNDS} SELECT s.id, count(*) AS bookings, sum(s.price_cents) AS revenue"
    " FROM bookings k JOIN services s ON s.tenant_id = k.tenant_id AND s.id = k.service_id, b"
    " WHERE k.tenant_id = :tenant AND s.tenant_id = :tenant"
    " AND k.status IN ('CONFIRMED', 'COMPLETED') AND k.starts_at >= b.lo AND k.starts_at < b.hi"
    " GROUP BY s.id ORDER BY revenue DESC, s.id"
)

_REQUESTS = text(
    f"WITH {_BOUNDS} SELECT r.status, count(*) AS n,"
    # CONVERTED is final and only conversion sets it: the request stays converted when its
    # task is deleted later (which clears task_id)
    " count(*) FILTER (WHERE r.status = 'CONVERTED' OR r.task_id IS NOT NULL) AS converted"
    " FROM service_requests r, b"
    " WHERE r.tenant_id = :tenant AND r.created_at >= b.lo AND r.created_at < b.hi"
    " GROUP BY r.status"
)

_COMPLIANCE = text(
    f"WITH {_BOUNDS}, c AS (SELECT r.status,"
    " r.status IN ('PENDING', 'NON_COMPLIANT') AS open,"
    f" {_local_day('r.due_at')} - b.today AS days_left"
    " FROM compliance_records r, b WHERE r.tenant_id = :tenant)"
    " SELECT c.status, count(*) AS n,"
    " count(*) FILTER (WHERE c.open AND c.days_left >= 0 AND c.days_left < 7) AS within_7,"
    " count(*) FILTER (WHERE c.open AND c.days_left >= 0 AND c.days_left < 30) AS within_30,"
    " count(*) FILTER (WHERE c.open AND c.days_left < 0) AS overdue"
    " FROM c GROUP BY c.status"
)

_MEMBERS = text(
    "SELECT m.role, count(*) AS n FROM tenant_memberships m"
    " WHERE m.tenant_id = :tenant AND m.status = 'active' GROUP BY m.role"
)


# --- the repository ------------------------------------------------------------------------------


EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2199, 12, 31)


def checked_period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The days asked for, both included; by default the last 30 days up to `today`.
    BAD_USER_INPUT when reversed, longer than 366 days, or off the dashboard's calendar."""
    if end is None:
        end = today if start is None or start <= today else start
    if start is None:
        start = end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    for day in (start, end):
        # the driver sends date.min/max as -infinity/infinity, and a day series over them
        # never ends: the calendar a dashboard can ask about is bounded
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise BadUserInput(f"Dates must lie between {EARLIEST_DAY} and {LATEST_DAY}")
    if start > end:
        raise BadUserInput("`from` must not be after `to`")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise BadUserInput(f"The period may cover at most {MAX_PERIOD_DAYS} days")
    return start, end


class AnalyticsRepository(TenantRepository):
    """Dashboard aggregates of the context tenant; answers are cached under the tenant's key."""

    async def period(self, *, start: date | None = None, end: date | None = None) -> Period:
        """The period asked for, in the tenant's time zone: both days included; by default the
        last 30 days up to today. BAD_USER_INPUT when it is reversed or longer than 366 days."""
        row = (await self._execute(_TIMEZONE, {"tenant": self.tenant_id})).one()
        timezone = row.name
        if not known_timezone(timezone):
            # a value stored before the settings were validated (an adopted legacy database):
            # the dashboard counts UTC days, and says so, rather than failing every time
            log.warning("analytics.unknown_timezone", timezone=timezone)
            timezone = "UTC"
        today = row.now.astimezone(ZoneInfo(timezone)).date()
        first, last = checked_period(start, end, today)
        return Period(start=first, end=last, timezone=timezone)

    async def summary(
        self, *, start: date | None = None, end: date | None = None
    ) -> TenantAnalytics:
        """The dashboard of the period (see the module's definitions), from the cache when the
        tenant has not changed since it was computed."""
        period = await self.period(start=start, end=end)
        args = {"from": period.start.isoformat(), "to": period.end.isoformat()}
        args["timezone"] = period.timezone
        if self.cache is None:
            return _from_document(await self._compute(period))
        # the generation is read before computing: a change committing meanwhile leaves this
        # answer under the old generation, which no later read uses
        generation = await self.cache.generation(self.tenant_id)
        document = await self.cache.get(self.tenant_id, CACHE_NAME, args, generation=generation)
        if document is None:
            document = await self._compute(period)
            await self.cache.set(self.tenant_id, CACHE_NAME, args, document, generation=generation)
        return _from_document(document)

    async def _compute(self, period: Period) -> dict[str, Any]:
        params = {
            "tenant": self.tenant_id,
            "tz": period.timezone,
            "start": period.start,
            "end": period.end,
        }
        totals = (await self._execute(_TASK_TOTALS, params)).one()
        task_status: dict[str, int] = {}
        task_priority: dict[str, int] = {}
        for row in await self._execute(_TASK_GROUPS, params):
            if row.by_priority:
                task_priority[row.priority] = row.n
            else:
                task_status[row.status] = row.n
        days = (await self._execute(_PER_DAY, params)).all()
        bookings = (await self._execute(_BOOKING_TOTALS, params)).one()
        booking_status = {r.status: r.n for r in await self._execute(_BOOKING_STATUSES, params)}
        revenue = (await self._execute(_REVENUE, params)).all()
        requests = (await self._execute(_REQUESTS, params)).all()
        compliance = (await self._execute(_COMPLIANCE, params)).all()
        members = {r.role: r.n for r in await self._execute(_MEMBERS, params)}

        request_total = sum(r.n for r in requests)
        converted = sum(r.converted for r in requests)
        return {
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "timezone": period.timezone,
            "tasks": {
                "total": totals.total,
                "overdue": totals.overdue,
                "byStatus": _counts(TASK_STATUSES, task_status),
                "byPriority": _counts(TASK_PRIORITIES, task_priority),
                "completionRate": totals.done / totals.total if totals.total else None,
                "medianHoursToDone": (
                    float(totals.median_hours) if totals.median_hours is not None else None
                ),
                "createdPerDay": [[d.day.isoformat(), d.created] for d in days],
                "completedPerDay": [[d.day.isoformat(), d.completed] for d in days],
            },
            "bookings": {
                "total": bookings.total,
                "byStatus": _counts(BOOKING_STATUSES, booking_status),
                "upcoming": bookings.upcoming,
                "revenueCents": sum(int(r.revenue) for r in revenue),
                "revenueCentsByService": [[str(r.id), r.bookings, int(r.revenue)] for r in revenue],
                "perDay": [[d.day.isoformat(), d.booked] for d in days],
            },
            "serviceRequests": {
                "total": request_total,
                "byStatus": _counts(REQUEST_STATUSES, {r.status: r.n for r in requests}),
                "convertedToTasks": converted,
                "conversionRate": converted / request_total if request_total else None,
            },
            "compliance": {
                "total": sum(r.n for r in compliance),
                "byStatus": _counts(COMPLIANCE_STATUSES, {r.status: r.n for r in compliance}),
                "dueWithin7Days": sum(r.within_7 for r in compliance),
                "dueWithin30Days": sum(r.within_30 for r in compliance),
                "overdue": sum(r.overdue for r in compliance),
            },
            "members": {
                "active": sum(members.values()),
                "activeByRole": _counts(ROLES, members),
            },
        }


def _counts(keys: tuple[str, ...], found: dict[str, int]) -> list[list[Any]]:
    """Every known key in its fixed order, zero when none."""
    return [[key, int(found.get(key, 0))] for key in keys]


def _count_list(pairs: list[list[Any]]) -> tuple[Count, ...]:
    return tuple(Count(key, count) for key, count in pairs)


def _day_list(pairs: list[list[Any]]) -> tuple[DayCount, ...]:
    return tuple(DayCount(date.fromisoformat(day), count) for day, count in pairs)


def _from_document(doc: dict[str, Any]) -> TenantAnalytics:
    """The records of a computed (or cached) answer."""
    tasks, bookings = doc["tasks"], doc["bookings"]
    requests, compliance, members = doc["serviceRequests"], doc["compliance"], doc["members"]
    return TenantAnalytics(
        start=date.fromisoformat(doc["from"]),
        end=date.fromisoformat(doc["to"]),
        timezone=doc["timezone"],
        tasks=TaskStats(
            total=tasks["total"],
            overdue=tasks["overdue"],
            by_status=_count_list(tasks["byStatus"]),
            by_priority=_count_list(tasks["byPriority"]),
            completion_rate=tasks["completionRate"],
            median_hours_to_done=tasks["medianHoursToDone"],
            created_per_day=_day_list(tasks["createdPerDay"]),
            completed_per_day=_day_list(tasks["completedPerDay"]),
        ),
        bookings=BookingStats(
            total=bookings["total"],
            by_status=_count_list(bookings["byStatus"]),
            upcoming=bookings["upcoming"],
            revenue_cents=bookings["revenueCents"],
            revenue_cents_by_service=tuple(
                ServiceRevenue(uuid.UUID(service_id), count, cents)
                for service_id, count, cents in bookings["revenueCentsByService"]
            ),
            per_day=_day_list(bookings["perDay"]),
        ),
        service_requests=ServiceRequestStats(
            total=requests["total"],
            by_status=_count_list(requests["byStatus"]),
            converted_to_tasks=requests["convertedToTasks"],
            conversion_rate=requests["conversionRate"],
        ),
        compliance=ComplianceStats(
            total=compliance["total"],
            by_status=_count_list(compliance["byStatus"]),
            due_within_7_days=compliance["dueWithin7Days"],
            due_within_30_days=compliance["dueWithin30Days"],
            overdue=compliance["overdue"],
        ),
        members=MemberStats(
            active=members["active"], active_by_role=_count_list(members["activeByRole"])
        ),
    )

"""The jobs the product ships. Each is idempotent: a second run on the same tenant day adds
nothing (reminders have a unique key per subject and day or due date; health checks are written
once per check and tenant day)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from app.jobs.registry import registry
from app.jobs.runner import JobRun
from repositories.health_checks import HealthCheckRepository
from repositories.notifications import ReminderRepository
from repositories.settings import SettingsRepository

COMPLIANCE_WINDOW_DAYS = 14
"""Compliance records due within this many days are reminded before they are overdue."""


@dataclass(frozen=True, slots=True)
class TenantDay:
    timezone: str
    day: date
    start: datetime
    end: datetime


async def tenant_day(run: JobRun) -> TenantDay:
    """The day `run.now` falls on in the tenant's time zone (organization settings; UTC when
    the stored zone is unknown)."""
    settings = await run.repo(SettingsRepository).get(section="organization")
    timezone = str(settings.values["timezone"])
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        # a value stored before the settings were validated (an adopted legacy database): the
        # job runs on the UTC day rather than failing for this tenant every time
        structlog.get_logger("tenantgraph.jobs").warning("job.unknown_timezone", timezone=timezone)
        timezone, zone = "UTC", ZoneInfo("UTC")
    day = run.now.astimezone(zone).date()
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return TenantDay(timezone, day, start, end)


@registry.job("overdue-task-reminders")
async def overdue_task_reminders(run: JobRun) -> Mapping[str, int]:
    """Remind members of open tasks past their due time.

    The assignee is reminded; an unassigned task is reminded to every active ADMIN. Once per
    task, recipient and day (in the tenant's time zone).
    """
    today = await tenant_day(run)
    counts = await run.repo(ReminderRepository).remind_overdue_tasks(now=run.now, day=today.day)
    return {"found": counts.found, "created": counts.created}


@registry.job("upcoming-booking-reminders")
async def upcoming_booking_reminders(run: JobRun) -> Mapping[str, int]:
    """Remind the client and the staff member of bookings starting soon.

    "Soon" is the tenant's communication setting `reminderHoursBefore` (24 by default); no
    reminder when the tenant turned `remindersEnabled` off. Once per booking and start time.
    """
    settings = await run.repo(SettingsRepository).get(section="communication")
    if not settings.values["reminders_enabled"]:
        return {"found": 0, "created": 0, "disabled": 1}
    today = await tenant_day(run)
    hours = int(settings.values["reminder_hours_before"])
    counts = await run.repo(ReminderRepository).remind_upcoming_bookings(
        now=run.now, until=run.now + timedelta(hours=hours), timezone=today.timezone
    )
    return {"found": counts.found, "created": counts.created}


@registry.job("compliance-due-dates")
async def compliance_due_dates(run: JobRun) -> Mapping[str, int]:
    """Remind of open compliance records due within 14 days or overdue.

    PENDING and NON_COMPLIANT records count. ADMINs and the STAFF member who created the record
    are reminded: of a record still ahead once per due date, of an overdue one once per day.
    """
    today = await tenant_day(run)
    counts = await run.repo(ReminderRepository).remind_compliance_due(
        now=run.now,
        horizon=run.now + timedelta(days=COMPLIANCE_WINDOW_DAYS),
        day=today.day,
    )
    return {"due_soon": counts.due_soon, "overdue": counts.overdue, "created": counts.created}


@registry.job("health-check")
async def health_check(run: JobRun) -> Mapping[str, int]:
    """Record the tenant's health in health_logs, once per check and day.

    `tenant-database`: the tenant's transaction is bound to it and answers (latency, active
    members). `work-backlog`: overdue tasks and compliance records, bookings past their start
    still unconfirmed, open tasks of suspended members; WARNING when any is above zero.
    """
    today = await tenant_day(run)
    repo = run.repo(HealthCheckRepository)
    probe = await repo.probe()
    backlog = await repo.backlog(now=run.now)
    checks = {
        "tenant-database": (
            "OK" if probe.tenant_bound else "FAILED",
            {"latency_ms": probe.latency_ms, "active_members": probe.members},
        ),
        "work-backlog": ("WARNING" if any(backlog.values()) else "OK", dict(backlog)),
    }
    written = 0
    for check, (status, details) in checks.items():
        if await repo.record_once(
            check=check,
            status=status,
            details=details,
            now=run.now,
            day_start=today.start,
            day_end=today.end,
        ):
            written += 1
    return {
        "checks": len(checks),
        "written": written,
        "warnings": sum(status != "OK" for status, _ in checks.values()),
    }

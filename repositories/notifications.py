"""Notifications: a member's inbox, and the reminders the background jobs write into it.

Every reminder is inserted with `ON CONFLICT (tenant_id, user_id, dedupe_key) DO NOTHING`: the
dedupe key names what the reminder is about (the row, and the tenant's day or the row's due
date), so a job that runs twice writes each reminder once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, select, text, update

from repositories import pagination
from repositories.audit import AuditRepository
from repositories.base import TenantRepository
from repositories.models import Notification
from repositories.pagination import Cursor, Page


@dataclass(frozen=True, slots=True)
class ReminderCounts:
    found: int  # rows the reminders are about, times their recipients
    created: int  # reminders new in this run (the others were already there)


@dataclass(frozen=True, slots=True)
class ComplianceCounts:
    due_soon: int
    overdue: int
    created: int


class NotificationRepository(TenantRepository):
    """The signed-in member's own notifications (row-level security also says so)."""

    def _mine(self, *, unread_only: bool) -> list[ColumnElement[bool]]:
        n = Notification
        conditions: list[ColumnElement[bool]] = [
            n.tenant_id == self.tenant_id,
            n.user_id == self.user_id,
        ]
        if unread_only:
            conditions.append(n.read_at.is_(None))
        return conditions

    async def list_mine(
        self, *, first: int, after: Cursor | None = None, unread_only: bool = False
    ) -> Page[Notification]:
        """A page of the member's notifications, newest first, after the cursor."""
        n = Notification
        conditions = self._mine(unread_only=unread_only)
        if after is not None:
            conditions.append(pagination.after(n.created_at, n.id, after, descending=True))
        result = await self._execute(
            select(n)
            .where(*conditions)
            .order_by(*pagination.order(n.created_at, n.id, descending=True))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count_mine(self, *, unread_only: bool = False) -> int:
        """How many notifications the member has (unread ones only, if asked)."""
        result = await self._execute(
            select(func.count())
            .select_from(Notification)
            .where(*self._mine(unread_only=unread_only))
        )
        return int(result.scalar_one())

    async def mark_read(self, *, notification_id: uuid.UUID) -> Notification | None:
        """Mark one of the member's notifications read (the first time is kept, and audited);
        None when the member has no such notification."""
        n = Notification
        changed = await self._execute(
            update(n)
            .where(*self._mine(unread_only=True), n.id == notification_id)
            .values(read_at=func.now())
            .returning(n.id)
        )
        if changed.first() is not None:
            await AuditRepository(self.session, self.ctx).record(
                action="notification.read", target_type="notification", target_id=notification_id
            )
        result = await self._execute(
            select(n).where(*self._mine(unread_only=False), n.id == notification_id)
        )
        return result.scalar_one_or_none()


# --- reminders (jobs) ----------------------------------------------------------------------------

_OVERDUE_TASKS = text("""
    WITH due AS (
        SELECT t.id AS task_id, m.user_id, t.title, t.due_at
          FROM tasks t
          JOIN tenant_memberships m
            ON m.tenant_id = t.tenant_id AND m.status = 'active'
           AND (m.user_id = t.assignee_id OR (t.assignee_id IS NULL AND m.role = 'ADMIN'))
         WHERE t.tenant_id = :tenant AND t.status <> 'DONE' AND t.due_at < :now
    ), created AS (
        INSERT INTO notifications
            (tenant_id, user_id, kind, task_id, dedupe_key, message, due_at, created_at)
        SELECT CAST(:tenant AS uuid), user_id, 'TASK_OVERDUE', task_id,
               'task-overdue:' || task_id || ':' || CAST(:day AS text),
               left('Overdue task: ' || title, 500), due_at, :now
          FROM due
        ON CONFLICT (tenant_id, user_id, dedupe_key) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM due) AS found, (SELECT count(*) FROM created) AS created
""")

_UPCOMING_BOOKINGS = text("""
    WITH soon AS (
        SELECT b.id AS booking_id, m.user_id, b.starts_at, s.name AS service
          FROM bookings b
          JOIN services s ON s.tenant_id = b.tenant_id AND s.id = b.service_id
          JOIN tenant_memberships m
            ON m.tenant_id = b.tenant_id AND m.status = 'active'
           AND (m.user_id = b.client_id OR m.user_id = b.staff_id)
         WHERE b.tenant_id = :tenant AND b.status IN ('REQUESTED', 'CONFIRMED')
           AND b.starts_at > :now AND b.starts_at <= :until
    ), created AS (
        INSERT INTO notifications
            (tenant_id, user_id, kind, booking_id, dedupe_key, message, due_at, created_at)
        SELECT CAST(:tenant AS uuid), user_id, 'BOOKING_UPCOMING', booking_id,
               'booking-upcoming:' || booking_id || ':' || extract(epoch FROM starts_at)::bigint,
               left('Upcoming booking: ' || service || ' at '
                    || to_char(starts_at AT TIME ZONE CAST(:tz AS text), 'YYYY-MM-DD HH24:MI')
                    || ' (' || CAST(:tz AS text) || ')', 500),
               starts_at, :now
          FROM soon
        ON CONFLICT (tenant_id, user_id, dedupe_key) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM soon) AS found, (SELECT count(*) FROM created) AS created
""")

_COMPLIANCE = text("""
    WITH open AS (
        SELECT r.id, r.title, r.due_at, r.created_by_id, r.due_at < :now AS overdue
          FROM compliance_records r
         WHERE r.tenant_id = :tenant AND r.status IN ('PENDING', 'NON_COMPLIANT')
           AND r.due_at IS NOT NULL AND r.due_at < :horizon
    ), recipients AS (
        SELECT o.id, o.title, o.due_at, o.overdue, m.user_id
          FROM open o
          JOIN tenant_memberships m
            ON m.tenant_id = :tenant AND m.status = 'active'
           AND (m.role = 'ADMIN' OR (m.role = 'STAFF' AND m.user_id = o.created_by_id))
    ), created AS (
        INSERT INTO notifications (tenant_id, user_id, kind, compliance_record_id, dedupe_key,
                                   message, due_at, created_at)
        SELECT CAST(:tenant AS uuid), user_id,
               CASE WHEN overdue THEN 'COMPLIANCE_OVERDUE' ELSE 'COMPLIANCE_DUE' END, id,
               CASE WHEN overdue
                    THEN 'compliance-overdue:' || id || ':' || CAST(:day AS text)
                    ELSE 'compliance-due:' || id || ':' || extract(epoch FROM due_at)::bigint
               END,
               left(CASE WHEN overdue THEN 'Compliance overdue: ' ELSE 'Compliance due soon: ' END
                    || title, 500),
               due_at, :now
          FROM recipients
        ON CONFLICT (tenant_id, user_id, dedupe_key) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM open WHERE NOT overdue) AS due_soon,
           (SELECT count(*) FROM open WHERE overdue) AS overdue,
           (SELECT count(*) FROM created) AS created
""")


class ReminderRepository(TenantRepository):
    """The reminders of the context tenant's jobs: one statement each, bounded by the tenant."""

    async def remind_overdue_tasks(self, *, now: datetime, day: date) -> ReminderCounts:
        """Remind each open task past its due time to its assignee (or, unassigned, to every
        active ADMIN), once per task, recipient and tenant day."""
        row = (
            await self._execute(
                _OVERDUE_TASKS, {"tenant": self.tenant_id, "now": now, "day": day.isoformat()}
            )
        ).one()
        return ReminderCounts(found=int(row.found), created=int(row.created))

    async def remind_upcoming_bookings(
        self, *, now: datetime, until: datetime, timezone: str
    ) -> ReminderCounts:
        """Remind the client and the staff member of each open booking that starts after `now`
        and by `until`, once per booking and start time (a moved booking is reminded again)."""
        row = (
            await self._execute(
                _UPCOMING_BOOKINGS,
                {"tenant": self.tenant_id, "now": now, "until": until, "tz": timezone},
            )
        ).one()
        return ReminderCounts(found=int(row.found), created=int(row.created))

    async def remind_compliance_due(
        self, *, now: datetime, horizon: datetime, day: date
    ) -> ComplianceCounts:
        """Open compliance records (PENDING or NON_COMPLIANT) due before `horizon`: those still
        ahead are reminded once per due date, overdue ones once per tenant day; to every
        active ADMIN and to the STAFF member who created the record."""
        row = (
            await self._execute(
                _COMPLIANCE,
                {
                    "tenant": self.tenant_id,
                    "now": now,
                    "horizon": horizon,
                    "day": day.isoformat(),
                },
            )
        ).one()
        return ComplianceCounts(
            due_soon=int(row.due_soon), overdue=int(row.overdue), created=int(row.created)
        )

"""Security events: every refusal at a tenant boundary, written as a structured log line, counted,
and appended to the audit log of the tenant it concerns.

The refused request's own transaction is rolled back (or never began), so the audit row is
written afterwards in a short transaction of its own, bound to that tenant with the runtime role:
row-level security applies to it like to any other write. A row is only written for a tenant a
*verified* credential names (a valid token presented on the wrong host or with the wrong cookie,
a revoked token, an ended membership, a refused write of a signed-in user): anyone can send a
forged token, and such a request names no tenant it could be charged to, so it is a log line and
a counter only. Rows per tenant are rate-limited (`TENANTGRAPH_SECURITY_EVENTS_PER_MINUTE`):
beyond the limit an event is still logged and counted, only its row is skipped, so a holder of
one valid token cannot grow a tenant's audit log without bound."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from app import metrics

if TYPE_CHECKING:
    from app.context import TenantContext
    from app.database import Database

log = structlog.get_logger("tenantgraph.security")

# Event kinds, and the audit action each is written as.
UNAUTHENTICATED = "UNAUTHENTICATED"
TENANT_MISMATCH = "TENANT_MISMATCH"
FORBIDDEN = "FORBIDDEN"
CROSS_TENANT_WRITE = "CROSS_TENANT_WRITE"
RLS_VIOLATION = "RLS_VIOLATION"
SUPERADMIN_BYPASS = "SUPERADMIN_BYPASS"
ACTION_PREFIX = "security."


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    kind: str
    reason: str
    request_id: str
    tenant_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    status: int | None = None

    @property
    def action(self) -> str:
        return ACTION_PREFIX + self.kind.lower()


class TenantRateLimit:
    """At most `per_minute` rows per tenant in any fixed one-minute window (in this process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._windows: dict[uuid.UUID, tuple[int, int]] = {}

    def allow(self, tenant_id: uuid.UUID) -> bool:
        window = int(time.monotonic() // 60)
        with self._lock:
            if len(self._windows) > 10_000:  # tenants of past windows
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
            start, count = self._windows.get(tenant_id, (window, 0))
            if start != window:
                start, count = window, 0
            if count >= self.per_minute:
                return False
            self._windows[tenant_id] = (start, count + 1)
            return True


class SecurityEventRecorder:
    def __init__(self, database: Database, *, per_tenant_per_minute: int = 30) -> None:
        self.database = database
        self.limit = TenantRateLimit(per_tenant_per_minute)

    async def record(self, event: SecurityEvent) -> None:
        """Log, count and (within the rate limit) audit one event; never raises."""
        audit = await self._audit(event)
        log.warning(
            "security event",
            security_event=event.kind,
            reason=event.reason,
            status=event.status,
            request_id=event.request_id,
            tenant_id=str(event.tenant_id) if event.tenant_id else None,
            user_id=str(event.user_id) if event.user_id else None,
            audit=audit,
        )
        metrics.SECURITY_EVENTS.labels(kind=event.kind, audit=audit).inc()

    async def _audit(self, event: SecurityEvent) -> str:
        if event.tenant_id is None:
            return "no_tenant"
        if not self.limit.allow(event.tenant_id):
            return "suppressed"
        from app.context import TenantContext
        from repositories.audit import AuditRepository

        ctx = TenantContext(
            request_id=event.request_id, tenant_id=event.tenant_id, user_id=event.user_id
        )
        try:
            # the row's own lines (the audit repository's) name the tenant and user it is
            # written for, like any line logged under a bound context
            with structlog.contextvars.bound_contextvars(
                tenant_id=str(event.tenant_id),
                user_id=str(event.user_id) if event.user_id else None,
            ):
                async with self.database.unit_of_work(ctx) as uow:
                    await AuditRepository(uow.session, ctx).record(
                        action=event.action,
                        target_type="request",
                        changes={"reason": event.reason, "status": event.status},
                    )
        except Exception as exc:
            log.warning("security event not audited", error=type(exc).__name__)
            return "failed"
        return "written"


def superadmin_bound(ctx: TenantContext) -> None:
    """A transaction was bound with the super-admin flag (row-level security bypassed by the
    policies that honour it): noted on the running request, which audits it when it ends; a
    log line and a counter everywhere."""
    stats = metrics.current_stats()
    event = SecurityEvent(
        kind=SUPERADMIN_BYPASS,
        reason="super-admin context bound",
        request_id=ctx.request_id,
        tenant_id=ctx.tenant_id,
        user_id=ctx.user_id,
    )
    if stats is not None:
        if event not in stats.security_events:
            stats.security_events.append(event)
        return
    log.warning(
        "security event",
        security_event=event.kind,
        reason=event.reason,
        tenant_id=str(ctx.tenant_id) if ctx.tenant_id else None,
        user_id=str(ctx.user_id) if ctx.user_id else None,
        audit="none",
    )
    metrics.SECURITY_EVENTS.labels(kind=event.kind, audit="none").inc()


def classify_error(error: BaseException | None) -> tuple[str, str] | None:
    """(event kind, reason) when an error is a refusal at a tenant boundary, else None."""
    from sqlalchemy.exc import DBAPIError

    from app.errors import TenantMismatch

    if isinstance(error, TenantMismatch):
        return CROSS_TENANT_WRITE, str(error)
    if isinstance(error, DBAPIError):
        orig: Any = error.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(
            getattr(orig, "__cause__", None), "sqlstate", None
        )
        if sqlstate == "42501" and "row-level security" in str(orig):
            return RLS_VIOLATION, "the database refused a row outside the context tenant"
    return None

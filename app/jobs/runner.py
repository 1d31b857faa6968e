"""Running a job once per tenant, each tenant exactly as isolated as a request.

For every tenant the runner opens the same unit of work a request uses (`Database.unit_of_work`:
one transaction on the runtime role, whose first statement is SET_CONTEXT), with a context that
names the tenant and no user. Row-level security therefore confines whatever the job's code does
to that tenant, even a query that forgets its `WHERE tenant_id = …`. A tenant whose job raises is
rolled back and logged; the others still run.

The one cross-tenant step is knowing which tenants to run: `active_tenants` asks the owner role,
in a read-only transaction on a connection of its own that is closed before any tenant's work
starts. Job code never sees that connection.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

import structlog
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from app import metrics
from app.context import TenantContext, bind_context
from app.database import Database, create_engine
from app.jobs.registry import Job
from app.security_events import SecurityEvent, SecurityEventRecorder, classify_error
from repositories.base import Repository
from repositories.jobs import JobRepository
from repositories.platform import PlatformRepository
from repositories.records import TenantRecord

R = TypeVar("R", bound=Repository)


def _log() -> structlog.typing.FilteringBoundLogger:
    # a fresh proxy per run: it follows the logging configuration of the moment
    return structlog.get_logger("tenantgraph.jobs")  # type: ignore[no-any-return]


_MAX_ERROR_LENGTH = 300


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # not reached: the run was asked to stop
    # suspended or deleted since the run read the tenants: nothing was done, and that is no failure
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class JobRun:
    """What a job function is given for one tenant: a session in that tenant's transaction (the
    runner commits or rolls it back), the context it is bound to, and the run's clock."""

    job: str
    tenant: TenantRecord
    context: TenantContext
    session: AsyncSession
    now: datetime

    def repo(self, cls: type[R]) -> R:
        """A repository bound to this tenant's session and context."""
        return cls(self.session, self.context)


@dataclass(frozen=True, slots=True)
class TenantResult:
    tenant: TenantRecord
    outcome: Outcome
    counts: Mapping[str, int] = field(default_factory=dict)
    duration_ms: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunReport:
    job: str
    run_id: str
    now: datetime
    results: tuple[TenantResult, ...]

    @property
    def failed(self) -> list[TenantResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def inactive(self) -> list[TenantResult]:
        return [r for r in self.results if r.outcome is Outcome.INACTIVE]

    @property
    def skipped(self) -> list[TenantResult]:
        return [r for r in self.results if r.outcome is Outcome.SKIPPED]

    @property
    def succeeded(self) -> bool:
        """Every tenant ran (or was no longer active), and none failed."""
        return all(r.outcome in (Outcome.OK, Outcome.INACTIVE) for r in self.results)


def job_context(tenant: TenantRecord, run_id: str) -> TenantContext:
    """The context of a job in one tenant: the tenant, no user, no role, not a super-admin."""
    return TenantContext(request_id=f"job-{run_id}", tenant_id=tenant.id, tenant_slug=tenant.slug)


async def run_job(
    database: Database,
    job: Job,
    tenants: Sequence[TenantRecord],
    *,
    now: datetime | None = None,
    stop: asyncio.Event | None = None,
) -> RunReport:
    """Run `job` for each tenant in turn, each in its own transaction and tenant context. When
    `stop` is set, the tenant in progress finishes and the rest are reported as skipped."""
    run_id = uuid.uuid4().hex[:12]
    now = now or datetime.now(UTC)
    results: list[TenantResult] = []
    log = _log()
    tokens = structlog.contextvars.bind_contextvars(
        job=job.name, run_id=run_id, request_id=f"job-{run_id}"
    )
    try:
        log.info("job.started", tenants=len(tenants))
        for tenant in tenants:
            if stop is not None and stop.is_set():
                results.append(TenantResult(tenant, Outcome.SKIPPED))
                continue
            results.append(await _run_for_tenant(database, job, tenant, run_id, now))
        report = RunReport(job.name, run_id, now, tuple(results))
        log.info(
            "job.finished",
            tenants=len(results),
            failed=len(report.failed),
            skipped=len(report.skipped),
        )
        return report
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


async def _run_for_tenant(
    database: Database, job: Job, tenant: TenantRecord, run_id: str, now: datetime
) -> TenantResult:
    ctx = job_context(tenant, run_id)
    # every line logged while this tenant runs (here, in repositories, in the job) carries these
    tokens = structlog.contextvars.bind_contextvars(
        request_id=ctx.request_id, tenant_id=str(tenant.id), tenant_slug=tenant.slug
    )
    log = _log()
    started = time.perf_counter()
    try:
        with bind_context(ctx):
            async with database.unit_of_work(ctx) as uow:
                jobs = JobRepository(uow.session, ctx)
                await jobs.lock(job=job.name)
                # the list of tenants was read when the run started: a tenant suspended (or
                # deleted) since then gets nothing more, as a request to it would not
                status = await jobs.tenant_status()
                if status != "active":
                    duration = _since(started)
                    log.info("job.tenant_inactive", status=status or "deleted")
                    return TenantResult(
                        tenant, Outcome.INACTIVE, {}, duration, f"tenant {status or 'deleted'}"
                    )
                answer = await job.function(JobRun(job.name, tenant, ctx, uow.session, now))
                counts = {str(k): int(v) for k, v in dict(answer or {}).items()}
    except (Exception, asyncio.CancelledError) as exc:
        task = asyncio.current_task()
        if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
            raise  # the run itself is being cancelled, not a failure of this tenant's job
        duration = _since(started)
        error = _describe(exc)
        log.exception("job.tenant_failed", duration_ms=duration, error=error)
        await _security_event(database, exc, ctx)
        return TenantResult(tenant, Outcome.FAILED, {}, duration, error)
    else:
        duration = _since(started)
        log.info("job.tenant_done", duration_ms=duration, **counts)
        return TenantResult(tenant, Outcome.OK, counts, duration)
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


async def _security_event(database: Database, exc: BaseException, ctx: TenantContext) -> None:
    """A write refused at the tenant boundary (the flush guard, row-level security) is a
    security event like a request's: counted, logged, and audited in the job's tenant, in a
    transaction of its own (the tenant's was rolled back)."""
    noted = classify_error(exc)
    if noted is None:
        return
    kind, reason = noted
    metrics.isolation_refused(kind.lower(), ctx.tenant_id)
    await SecurityEventRecorder(database).record(
        SecurityEvent(kind=kind, reason=reason, request_id=ctx.request_id, tenant_id=ctx.tenant_id)
    )


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _describe(exc: BaseException) -> str:
    """A short description for the summary: the database's message without the statement."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        message = str(exc.orig).splitlines()[0] if str(exc.orig) else ""
    else:
        message = str(exc)
    text_ = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text_ if len(text_) <= _MAX_ERROR_LENGTH else text_[: _MAX_ERROR_LENGTH - 1] + "…"


# --- databases ---------------------------------------------------------------------------------


async def active_tenants(owner_url: URL, *, slug: str | None = None) -> list[TenantRecord]:
    """The active tenants (or the one with `slug`, if active), read by the owner role in a
    read-only transaction on a connection of its own, closed before this returns."""
    engine = create_async_engine(owner_url, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(text("SET TRANSACTION READ ONLY"))
            tenants = await PlatformRepository(session).list_active_tenants()
    finally:
        await engine.dispose()
    if slug is not None:
        tenants = [t for t in tenants if t.slug == slug]
    return tenants


def runtime_database(url: URL, *, pgbouncer: bool = False) -> Database:
    """The runtime role's engine for a job process: tenants run one after another, so one
    connection is enough. Statement parameters are kept out of error messages (and logs)."""
    engine = create_engine(url, pool_size=1, pgbouncer=pgbouncer, hide_parameters=True)
    return Database(async_sessionmaker(engine, expire_on_commit=False), engine)

"""`tenantgraph jobs …`: list the jobs, run one for every tenant (or one), or keep running them
on an interval until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, TypeVar

import structlog
import typer
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from app.database import Database, DatabaseUrls
from app.errortracking import close_sentry, init_sentry
from app.jobs.registry import Job, UnknownJob, registry
from app.jobs.runner import Outcome, RunReport, active_tenants, run_job, runtime_database
from app.logging import configure_logging
from app.settings import ConfigurationError, Settings

jobs_cli = typer.Typer(
    help="Background jobs, run once per tenant in that tenant's context.", no_args_is_help=True
)

log = structlog.get_logger("tenantgraph.jobs")
T = TypeVar("T")

_STYLE = {
    Outcome.OK: "green",
    Outcome.FAILED: "bold red",
    Outcome.SKIPPED: "yellow",
    Outcome.INACTIVE: "dim",
}


@jobs_cli.command("list")
def list_jobs() -> None:
    """List the registered jobs and what each does."""
    from app.cli import out

    table = Table("Job", "What it does", title="Registered jobs", title_justify="left")
    for job in registry:
        table.add_row(job.name, job.description)
    out.print(table)


@jobs_cli.command("run")
def run(
    name: Annotated[str, typer.Argument(help="The job's name (see `tenantgraph jobs list`).")],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Run for this tenant's slug only.")
    ] = None,
) -> None:
    """Run a job once for every active tenant (or one), each in its own transaction. Exits 1
    when any tenant failed."""
    from app.cli import _fail

    job = _job(name)
    settings = _prepare()
    slug = tenant.strip().lower() if tenant is not None else None

    async def action(urls: DatabaseUrls) -> RunReport:
        await _refuse_unsafe_database(urls)
        tenants = await active_tenants(urls.owner, slug=slug)
        if slug is not None and not tenants:
            raise _fail(f"no active tenant with slug {slug!r}", 2)
        database = runtime_database(urls.runtime, pgbouncer=settings.db_pgbouncer)
        try:
            return await run_job(database, job, tenants, stop=_stop_on_signals())
        finally:
            await database.dispose()

    try:
        report = _with_jobs_database(action)
    finally:
        close_sentry()  # what is queued is sent before the process exits
    print_report(report)
    if not report.succeeded:
        raise typer.Exit(1)


@jobs_cli.command("loop")
def loop(
    interval: Annotated[
        float,
        typer.Option("--interval", min=1, help="Seconds from the end of a round to the next."),
    ] = 3600,
    names: Annotated[
        list[str] | None,
        typer.Option("--job", help="Run only this job (repeatable); all jobs by default."),
    ] = None,
) -> None:
    """Run jobs for every active tenant, round after round, until SIGTERM or Ctrl-C (the tenant
    in progress finishes first; exit status 0). Failures are logged and retried next round."""
    jobs = [_job(n) for n in names] if names else list(registry)
    settings = _prepare()

    async def action(urls: DatabaseUrls) -> int:
        await _refuse_unsafe_database(urls)
        stop = _stop_on_signals()
        database = runtime_database(urls.runtime, pgbouncer=settings.db_pgbouncer)
        rounds = 0
        try:
            while not stop.is_set():
                rounds += 1
                await _round(urls, database, jobs, stop)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            await database.dispose()
        log.info("jobs.loop_stopped", rounds=rounds)
        return rounds

    try:
        _with_jobs_database(action)
    finally:
        close_sentry()


def _with_jobs_database(action: Callable[[DatabaseUrls], Awaitable[T]]) -> T:
    """`_with_database`, and a database that refuses the connection before any tenant runs (an
    unknown database or role, a wrong password) is a clear error, not a traceback."""
    from app.cli import _fail, _with_database

    try:
        return _with_database(action)
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise _fail(f"cannot reach the database: {reason}") from None


async def _round(
    urls: DatabaseUrls, database: Database, jobs: Sequence[Job], stop: asyncio.Event
) -> None:
    """One round: the tenants as they are now, then each job for all of them."""
    try:
        tenants = await active_tenants(urls.owner)
    except (OSError, DBAPIError) as exc:
        log.error("jobs.tenants_unavailable", error=type(exc).__name__)
        return
    for job in jobs:
        if stop.is_set():
            return
        print_report(await run_job(database, job, tenants, stop=stop))


def print_report(report: RunReport) -> None:
    """The summary of one run: a row per tenant, then the totals."""
    from app.cli import out

    table = Table(
        "Tenant",
        "Outcome",
        "Counts",
        "Duration (ms)",
        title=f"{report.job} (run {report.run_id})",
        title_justify="left",
    )
    for result in report.results:
        detail = result.error or " ".join(f"{k}={v}" for k, v in result.counts.items())
        table.add_row(
            result.tenant.slug,
            f"[{_STYLE[result.outcome]}]{result.outcome.value}[/]",
            detail,
            f"{result.duration_ms:.1f}",
        )
    out.print(table)
    ok = sum(r.outcome is Outcome.OK for r in report.results)
    ran = len(report.results)
    out.print(
        f"{report.job}: {ran} tenant{'' if ran == 1 else 's'}, {ok} ok, "
        f"{len(report.failed)} failed, "
        f"{len(report.skipped)} skipped"
        + (f", {inactive} no longer active" if (inactive := len(report.inactive)) else ""),
        highlight=False,
    )


def _job(name: str) -> Job:
    from app.cli import _fail

    try:
        return registry.get(name)
    except UnknownJob as exc:
        raise _fail(str(exc), 2) from None


def _prepare() -> Settings:
    """The settings, the log format, and Sentry (when `SENTRY_DSN` is set), as `serve` has them:
    a tenant's failure is an error line with its exception, reported tagged with the tenant and
    the job."""
    from app.cli import _fail, _settings

    settings = _settings()
    configure_logging(json=settings.json_logs)
    if settings.sentry_dsn is not None:
        try:
            init_sentry(settings.sentry_dsn.get_secret_value(), environment=settings.env.value)
        except ConfigurationError as exc:
            raise _fail(str(exc), 2) from None
    return settings


async def _refuse_unsafe_database(urls: DatabaseUrls) -> None:
    """Jobs rely on row-level security exactly as requests do: refuse what `serve` refuses."""
    from app.cli import _fail, _runtime_checks, err

    problems = await _runtime_checks(urls)
    if problems:
        for problem in problems:
            err.print(f"[bold red]refusing to run jobs:[/] {problem}", highlight=False)
        raise _fail("the database is not safe for tenant jobs (see above)")


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (the work in progress then ends cleanly)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stopping(stop, signum))
    return stop


def _stopping(stop: asyncio.Event, signum: int) -> Callable[[], None]:
    def handler() -> None:
        if not stop.is_set():
            log.info("jobs.stopping", signal=signal.Signals(signum).name)
        stop.set()

    return handler

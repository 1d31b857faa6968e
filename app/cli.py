"""`tenantgraph`: serve the API and administer the database (typer + rich)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.context import Role
from app.database import DatabaseUrls, current_revision
from app.errors import AppError
from app.jobs.commands import jobs_cli
from app.settings import ConfigurationError, Settings, load_settings

if TYPE_CHECKING:
    from app.verify import Report

T = TypeVar("T")

cli = typer.Typer(
    name="tenantgraph",
    help="Multi-tenant GraphQL API: serve it and administer its database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tenants_cli = typer.Typer(help="Manage tenants (organizations).", no_args_is_help=True)
users_cli = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
members_cli = typer.Typer(help="Manage memberships of users in tenants.", no_args_is_help=True)
cli.add_typer(tenants_cli, name="tenants")
cli.add_typer(users_cli, name="users")
cli.add_typer(members_cli, name="members")
cli.add_typer(jobs_cli, name="jobs")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    # the message is text, not markup: `[otlp]` in a pip extra, brackets in a database's message
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        raise _fail(str(exc), 2) from None


def _with_database(action: Callable[[DatabaseUrls], Awaitable[T]]) -> T:
    """Run `action` with the database ready (the embedded server runs for its duration)."""
    from app.provision import provisioned

    settings = _settings()
    try:
        with provisioned(settings) as urls:
            return asyncio.run(action(urls))
    except AppError as exc:
        raise _fail(exc.message) from None
    except ConfigurationError as exc:
        raise _fail(str(exc), 2) from None
    except OSError as exc:
        raise _fail(f"cannot reach the database: {exc}") from None


async def _as_owner(urls: DatabaseUrls, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """One committed transaction on the owner connection."""
    engine = create_async_engine(urls.owner, poolclass=NullPool)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


async def _verify(urls: DatabaseUrls, *, data: bool, serving: bool = False) -> Report:
    """The checks of `app.verify` on a read-only owner connection."""
    from app.verify import SERVE_SKIPS, run_checks

    engine = create_async_engine(urls.owner, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            skip = SERVE_SKIPS if serving else ()
            return await run_checks(conn, urls.runtime_role, data=data, skip=skip)
    finally:
        await engine.dispose()


async def _runtime_checks(urls: DatabaseUrls) -> list[str]:
    """What `serve` and the jobs refuse to run on: the schema and role checks (no row scans)."""
    return (await _verify(urls, data=False, serving=True)).problems()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the API (the embedded PostgreSQL unless DATABASE_URL is set)."""
    import uvicorn

    from app.logging import UVICORN_LOG_CONFIG, configure_logging
    from app.provision import provisioned
    from app.telemetry import Telemetry

    settings = _settings()
    configure_logging(json=settings.json_logs)
    try:
        Telemetry.check(settings)  # metrics token, Sentry DSN, span exporter
        settings.signing_secret()  # generated once, before workers race to create it
    except ConfigurationError as exc:
        raise _fail(str(exc), 2) from None
    with provisioned(settings) as urls:
        # the schema and role checks (no row scans): refuse what would let a request bypass RLS
        try:
            problems = asyncio.run(_runtime_checks(urls))
        except (OSError, DBAPIError) as exc:
            reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
            raise _fail(f"cannot reach the database: {str(reason).splitlines()[0]}") from None
        if problems:
            for problem in problems:
                err.print(f"[bold red]refusing to serve:[/] {problem}", highlight=False)
            raise typer.Exit(1)
        # Workers connect with the runtime role only; they never see the owner's URL.
        os.environ["TENANTGRAPH_APP_DATABASE_URL"] = urls.runtime.render_as_string(
            hide_password=False
        )
        if settings.platform_database_url is None:
            os.environ["TENANTGRAPH_PLATFORM_DATABASE_URL"] = urls.platform.render_as_string(
                hide_password=False
            )
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("TENANTGRAPH_DATABASE_URL", None)
        out.print(
            f"tenantgraph: serving http://{settings.base_domain}:{port}/graphql "
            f"(a tenant at http://<slug>.{settings.base_domain}:{port}/graphql); Ctrl-C stops it",
            highlight=False,
        )
        # uvicorn re-raises the signal that stopped it once it has shut down; turn that into a
        # normal exit so that the embedded PostgreSQL is stopped on the way out.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        signal.signal(signal.SIGINT, _exit_cleanly)
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=False,  # X-Forwarded-* are judged by the app's trusted-proxy list
            server_header=False,
            access_log=False,
            log_level="info",
            # uvicorn's own lines in the product's format, with its redaction and context
            log_config=UVICORN_LOG_CONFIG,
        )


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(0)


@cli.command()
def migrate() -> None:
    """Bring the database schema to the latest revision (as the owner role)."""
    from app.provision import migrate as run

    async def action(urls: DatabaseUrls) -> str | None:
        engine = create_async_engine(urls.owner, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                await _refuse_legacy(conn)
                await run(conn, urls.runtime_role)
                return await current_revision(conn)
        except DBAPIError as exc:
            raise _fail(
                f"the migration failed and was rolled back, nothing changed: {exc.orig}"
            ) from None
        finally:
            await engine.dispose()

    revision = _with_database(action)
    out.print(f"database at revision {revision}")


async def _refuse_legacy(conn: AsyncConnection) -> None:
    """`migrate` builds the schema in an empty database or moves ours forward; a legacy database,
    adopted halfway or not at all, is `tenantgraph adopt`'s."""
    from app.adopt.runner import ADOPT_HEAD, adopt_revision, main_revision

    adopting = await conn.run_sync(adopt_revision)
    if adopting is not None and adopting != ADOPT_HEAD:
        raise _fail(
            f"an adoption of this legacy database is under way (revision {adopting}): finish it "
            "with `tenantgraph adopt`, or undo it with `tenantgraph adopt --rollback`",
            2,
        )
    if adopting is None and await conn.run_sync(main_revision) is None:
        taken = await conn.scalar(
            text(
                "SELECT to_regclass('public.tenants') IS NOT NULL OR to_regclass('public.tasks')"
                " IS NOT NULL"
            )
        )
        if taken:
            raise _fail(
                "this database already has tables of its own but no tenantgraph revision: a "
                "legacy database is adopted with `tenantgraph adopt` (see the README), not "
                "migrated",
                2,
            )


@cli.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo tenants and users.")] = False,
) -> None:
    """Load data. `--demo` creates whatever part of the demo data is missing."""
    if not demo:
        raise _fail("say what to seed: `tenantgraph seed --demo`", 2)
    from app.seed import DEMO_PASSWORD, seed_demo

    created = _with_database(lambda urls: _as_owner(urls, seed_demo))
    summary = ", ".join(f"{count} {kind}" for kind, count in created.items())
    out.print(f"demo data ready (new: {summary}); every demo password is {DEMO_PASSWORD!r}")


@tenants_cli.command("create")
def tenants_create(
    slug: Annotated[str, typer.Argument(help="Lower-case name used in the host: <slug>.<domain>.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
) -> None:
    """Create a tenant."""
    from repositories.platform import PlatformRepository

    slug = slug.strip().lower()
    tenant = _with_database(
        lambda urls: _as_owner(
            urls, lambda s: PlatformRepository(s).create_tenant(slug=slug, name=name.strip())
        )
    )
    out.print(f"created tenant {tenant.slug} ({tenant.name}), id {tenant.id}")


def _read_password() -> str:
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@users_cli.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="Sign-in email, unique in any letter case.")],
    superadmin: Annotated[
        bool, typer.Option("--superadmin", help="A platform super-admin.")
    ] = False,
) -> None:
    """Create a user; the password is read from the prompt, or from stdin when piped."""
    from app.auth.passwords import hash_password
    from repositories.platform import PlatformRepository

    if "@" not in email.strip():
        raise _fail(f"{email!r} is not an email address", 2)
    try:
        password_hash = hash_password(_read_password())
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    user_id = _with_database(
        lambda urls: _as_owner(
            urls,
            lambda s: PlatformRepository(s).create_user(
                email=email, password_hash=password_hash, is_superadmin=superadmin
            ),
        )
    )
    out.print(f"created user {email.strip()}, id {user_id}")


@members_cli.command("add")
def members_add(
    slug: Annotated[str, typer.Argument(help="The tenant's slug.")],
    email: Annotated[str, typer.Argument(help="The user's email.")],
    role: Annotated[
        Role, typer.Option("--role", case_sensitive=False, help="ADMIN, STAFF or CLIENT.")
    ],
    default: Annotated[bool, typer.Option("--default", help="The user's default tenant.")] = False,
) -> None:
    """Add a user to a tenant with a role (or change the role of a member)."""
    from repositories.platform import PlatformRepository

    change = _with_database(
        lambda urls: _as_owner(
            urls,
            lambda s: PlatformRepository(s).add_member(
                slug=slug.strip().lower(), email=email, role=role, is_default=default
            ),
        )
    )
    verb = "added" if change.created else "updated"
    note = "" if change.status == "active" else f" (the membership stays {change.status})"
    out.print(f"{verb} {email} in {slug} as {role.value}{note}")


@cli.command()
def verify(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (for machines).")
    ] = False,
    data: Annotated[
        bool,
        typer.Option(
            "--data/--no-data",
            help="Scan the rows too (NULL tenant ids, child rows in another tenant than their "
            "parent); --no-data checks the schema and roles only.",
        ),
    ] = True,
) -> None:
    """Check the database's integrity and tenant isolation. Exit 0: every check passed; 1: at
    least one failed; 2: the checks could not run (configuration, database unreachable)."""
    from app.provision import provisioned

    settings = _settings()
    try:
        with provisioned(settings) as urls:
            report = asyncio.run(_verify(urls, data=data))
    except (AppError, ConfigurationError, OSError, SQLAlchemyError) as exc:
        message = getattr(exc, "message", None) or str(exc).splitlines()[0]
        if as_json:
            sys.stdout.write(json.dumps({"ok": False, "error": message}) + "\n")
        raise _fail(f"cannot verify: {message}", 2) from None
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        _print_report(report)
    if not report.ok:
        failed = ", ".join(c.id for c in report.failed)
        raise _fail(f"{len(report.failed)} of {len(report.checks)} checks failed: {failed}", 1)


def _print_report(report: Report) -> None:
    from rich.markup import escape

    for check in report.checks:
        mark = "[green]PASS[/]" if check.passed else "[bold red]FAIL[/]"
        out.print(f"{mark} [bold]{check.id}[/] {escape(check.title)}", highlight=False)
        for finding in check.findings:
            out.print(
                f"     [red]✗[/] {escape(finding.object)}: {escape(finding.detail)}",
                highlight=False,
            )
        for allowed in check.allowed:
            out.print(
                f"     [dim]allowed {escape(allowed.object)}: {escape(allowed.detail)}[/]",
                highlight=False,
            )
    passed = len(report.checks) - len(report.failed)
    colour = "green" if report.ok else "red"
    out.print(
        f"[{colour}]{passed} of {len(report.checks)} checks passed[/] "
        f"(runtime role {escape(report.runtime_role)})",
        highlight=False,
    )


class OrphanPolicy(StrEnum):
    system = "system"
    archive = "archive"


@cli.command()
def adopt(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go where; change nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=100_000, help="Rows per committed batch.")
    ] = 1000,
    orphans: Annotated[
        OrphanPolicy | None,
        typer.Option(
            "--orphans",
            case_sensitive=False,
            help="Rows no relationship leads to a tenant: to a system tenant, or archived "
            "(default: system, or what an interrupted run recorded).",
        ),
    ] = None,
    system_tenant: Annotated[
        str | None,
        typer.Option("--system-tenant", help="Slug of the system tenant (default: system)."),
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Undo an adoption: the legacy tables come back.")
    ] = False,
    backfill_only: Annotated[
        bool,
        typer.Option(
            "--backfill-only",
            help="Stop after the backfill, while the legacy application still runs; a later "
            "`tenantgraph adopt` finishes.",
        ),
    ] = False,
) -> None:
    """Adopt a legacy single-tenant database: give every row a tenant, then the current schema."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from app.adopt.report import render
    from app.adopt.runner import AdoptionError, BackfillSummary, Hooks, Requested
    from app.adopt.runner import adopt as run_adoption
    from app.adopt.runner import rollback as run_rollback

    if rollback:
        # `--rollback --dry-run` reads like a preview: it must not undo the adoption for real
        others = [
            name
            for name, given in (
                ("--dry-run", dry_run),
                ("--backfill-only", backfill_only),
                ("--orphans", orphans is not None),
                ("--system-tenant", system_tenant is not None),
                ("--batch-size", batch_size != 1000),
            )
            if given
        ]
        if others:
            raise _fail(
                f"--rollback takes no other option (given: {', '.join(others)}); nothing was "
                "changed. `tenantgraph adopt --rollback` alone undoes the adoption",
                2,
            )
    if system_tenant is not None:
        system_tenant = system_tenant.strip().lower()
    requested = Requested(
        orphans=orphans.value if orphans else None,
        system_tenant=system_tenant,
        batch_size=batch_size,
        backfill_only=backfill_only,
    )
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def on_step(step: Any, total: int) -> None:
        tasks[step.name] = progress.add_task(step.name, total=max(total, 1))

    def on_batch(step: Any, seen: int) -> None:
        task = tasks[step.name]
        if step.kind in ("setup", "settings"):
            progress.update(task, completed=progress.tasks[task].total)
        else:
            progress.advance(task, seen)

    async def action(urls: DatabaseUrls) -> Any:
        try:
            if rollback:
                return await run_rollback(urls.owner, urls.runtime_role)
            with progress:
                return await run_adoption(
                    urls.owner,
                    urls.runtime_role,
                    requested,
                    dry_run=dry_run,
                    hooks=Hooks(
                        on_step=on_step,
                        on_batch=on_batch,
                        on_phase=lambda what: progress.console.print(f"… {what}", highlight=False),
                    ),
                )
        except AdoptionError as exc:
            raise _fail(str(exc), 2) from None
        except DBAPIError as exc:
            if exc.statement is None:  # refused at connect: no step ran
                raise _fail(f"cannot connect to the database: {exc.orig}", 2) from None
            raise _fail(
                "the database refused a step and it was rolled back, nothing lost "
                f"(re-run after fixing the data): {exc.orig}"
            ) from None

    try:
        result = _with_database(action)
    except KeyboardInterrupt:
        raise _fail(
            "interrupted: the batches committed so far are kept; run `tenantgraph adopt` again "
            "to resume",
            130,
        ) from None
    if rollback:
        out.print(f"adoption rolled back (it was at {result}); the legacy tables are in public")
        return
    if isinstance(result, BackfillSummary):
        for table, (placed, pending, orphans) in result.tables.items():
            out.print(
                f"{table}: {placed:,} with a tenant, {pending:,} without ({orphans:,} orphans)",
                highlight=False,
            )
        out.print(
            "backfill done; stop the legacy application, then run `tenantgraph adopt` again to "
            "sweep up its last writes and switch to the current schema"
        )
        return
    render(result, out)
    if not result.ok:
        raise typer.Exit(1)
    if not dry_run:
        verify()


@cli.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema import export_sdl

    sys.stdout.write(export_sdl())


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

"""Database access for the process: where to connect, as which role, and the unit of work.

Two roles, never mixed:
- the *owner* runs migrations and the operator CLI (`DATABASE_URL`, or the embedded server's
  `tenantgraph_owner`);
- the *runtime* role serves requests: not superuser, not BYPASSRLS, owns nothing, so row-level
  security always applies to it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.context import TenantContext
from app.settings import ConfigurationError, Settings
from repositories.session import apply_context

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
EMBEDDED_DATABASE = "tenantgraph"
EMBEDDED_OWNER = "tenantgraph_owner"


def asyncpg_url(url: str | URL) -> URL:
    """Normalise any PostgreSQL URL to the asyncpg driver."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        # the text itself is left out: it may carry a password
        raise ConfigurationError(
            "a database URL cannot be read: write it as "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    if not parsed.drivername.startswith("postgresql"):
        raise ConfigurationError(f"not a PostgreSQL URL: {parsed.render_as_string()}")
    return parsed.set(drivername="postgresql+asyncpg")


@dataclass(frozen=True)
class DatabaseUrls:
    owner: URL
    runtime: URL

    @property
    def runtime_role(self) -> str:
        assert self.runtime.username is not None
        return self.runtime.username

    @property
    def platform(self) -> URL:
        """The platform role's URL: the runtime URL under the platform role's name."""
        return self.runtime.set(username=platform_role_for(self.runtime_role), password=None)


def platform_role_for(runtime_role: str) -> str:
    """The role of the one cross-tenant path (super-admin platform analytics). It logs in, but
    holds nothing except EXECUTE on the two platform functions; the runtime role holds neither
    that privilege nor membership in it, so no SQL a request can run reaches them."""
    return f"{runtime_role}_platform"


def external_urls(settings: Settings) -> DatabaseUrls:
    """The owner and runtime URLs for an external server (DATABASE_URL)."""
    assert settings.database_url is not None
    owner = asyncpg_url(settings.database_url.get_secret_value())
    if settings.app_database_url is not None:
        runtime = asyncpg_url(settings.app_database_url.get_secret_value())
    else:
        runtime = owner.set(username=settings.app_role, password=None)
    return DatabaseUrls(owner=owner, runtime=runtime)


def platform_url(settings: Settings) -> URL:
    """The URL the platform path of an API worker connects with."""
    if settings.platform_database_url is not None:
        return asyncpg_url(settings.platform_database_url.get_secret_value())
    runtime = runtime_url(settings)
    assert runtime.username is not None
    return runtime.set(username=platform_role_for(runtime.username), password=None)


def runtime_url(settings: Settings) -> URL:
    """The URL an API worker connects with."""
    if settings.app_database_url is not None:
        return asyncpg_url(settings.app_database_url.get_secret_value())
    if settings.database_url is not None:
        return external_urls(settings).runtime
    raise ConfigurationError(
        "no database configured for the API: start it with `tenantgraph serve` (which runs the "
        "embedded PostgreSQL), or set DATABASE_URL"
    )


def create_engine(
    url: URL, *, pool_size: int = 5, pgbouncer: bool = False, **kwargs: Any
) -> AsyncEngine:
    """The runtime engine. No `pool_pre_ping` (a round trip before every request): a connection
    that died with the server fails on its first statement, SQLAlchemy then invalidates it and
    every connection pooled before it, and the unit of work runs that first statement again on a
    fresh one (`Database.unit_of_work`), so a restart still costs no request an error once the
    server is back.

    Behind PgBouncer in transaction pooling mode nothing prepared may be reused across
    transactions: neither asyncpg's statement cache nor SQLAlchemy's, and the statements SQLAlchemy
    still prepares (to learn the result columns) get unique names, so that two clients sharing a
    server connection never collide on `__asyncpg_stmt_1__`.

    Bound parameters are kept out of the text of database errors (`hide_parameters`): they are
    what callers typed (contact details, descriptions, settings), and an unexpected error is
    logged with its traceback and reported to Sentry."""
    kwargs.setdefault("hide_parameters", True)
    connect_args: dict[str, Any] = {"server_settings": {"application_name": "tenantgraph"}}
    if pgbouncer:
        connect_args.update(
            statement_cache_size=0,
            prepared_statement_cache_size=0,
            prepared_statement_name_func=_unique_statement_name,
        )
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args=connect_args,
        **kwargs,
    )


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


# --- the unit of work ----------------------------------------------------------------------------


@dataclass
class UnitOfWork:
    session: AsyncSession
    rollback_only: bool = field(default=False)

    def mark_rollback_only(self) -> None:
        """Roll back instead of committing when the request ends (its answer carries an error)."""
        self.rollback_only = True


class Database:
    """The runtime role's engine and sessions; one per process, created in the app lifespan."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine | None):
        self.sessionmaker = sessionmaker
        self.engine = engine

    @classmethod
    def connect(cls, url: URL, *, pool_size: int = 5, pgbouncer: bool = False) -> Database:
        engine = create_engine(url, pool_size=pool_size, pgbouncer=pgbouncer)
        return cls(async_sessionmaker(engine, expire_on_commit=False), engine)

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> Database:
        """Sessions inside an outer transaction, each in a savepoint (tests)."""
        maker = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        return cls(maker, None)

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    @asynccontextmanager
    async def unit_of_work(self, ctx: TenantContext) -> AsyncIterator[UnitOfWork]:
        """One transaction whose first statement binds the tenant, user and super-admin flag."""
        async with self.sessionmaker() as session:
            uow = UnitOfWork(session)
            try:
                await _bind(session, ctx)
                yield uow
            except BaseException:
                await session.rollback()
                raise
            if uow.rollback_only:
                await session.rollback()
            else:
                await session.commit()


async def _bind(session: AsyncSession, ctx: TenantContext) -> None:
    """The unit of work's first statement, once more on a fresh connection if the pooled one was
    dead (the server restarted or dropped it since it was pooled). Nothing of the unit of work
    has run yet, so the retry repeats nothing; a second failure is the caller's (503)."""
    try:
        await apply_context(session, ctx)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        await session.rollback()  # gives the dead connection back; the next checkout is new
        await apply_context(session, ctx)


# --- provisioning and checks ---------------------------------------------------------------------


async def ensure_runtime_role(owner: AsyncConnection, role: str) -> None:
    """Create the runtime role and the platform role if they are missing (needs CREATEROLE),
    and make sure neither can bypass row-level security."""
    me = (await owner.execute(text("SELECT current_user"))).scalar_one()
    if role == me:
        # the legacy product's own role often owns its tables: made the runtime role too, it
        # would own the schema, and an owner's maintenance policies and privileges see every row
        raise ConfigurationError(
            f'the runtime role "{role}" is the role of DATABASE_URL, the one that owns the '
            "schema and runs migrations, while requests must run as a role that owns nothing: "
            "point DATABASE_URL at the owner, or set TENANTGRAPH_APP_ROLE to another name (it "
            "is created if missing)"
        )
    for name in (role, platform_role_for(role)):
        await _ensure_plain_role(owner, name)


async def _ensure_plain_role(owner: AsyncConnection, role: str) -> None:
    row = (
        await owner.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
        )
    ).first()
    if row is None:
        can_create = (
            await owner.execute(
                text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
            )
        ).scalar()
        if not can_create:
            raise ConfigurationError(
                f'the role "{role}" does not exist and the owner cannot create it; '
                "run as a "
                f'superuser: CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT'
            )
        await owner.execute(
            text(
                f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE '
                "NOINHERIT"
            )
        )
    elif row.rolsuper or row.rolbypassrls:
        raise ConfigurationError(
            f'the role "{role}" is a superuser or has BYPASSRLS: row-level security would '
            "not apply to it; use a plain role"
        )


async def isolation_problems(conn: AsyncConnection, runtime_role: str | None = None) -> list[str]:
    """What would let a request bypass row-level security: the schema and role checks of
    `app.verify` (without the row scans) for `runtime_role`, by default the connected role.
    One line per problem, prefixed with the id of the check that found it."""
    from app.verify import run_checks

    if runtime_role is None:
        runtime_role = (await conn.execute(text("SELECT current_user"))).scalar_one()
    report = await run_checks(conn, runtime_role, data=False)
    return report.problems()


def _alembic_config(owner_url: URL | None, app_role: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if owner_url is not None:
        cfg.set_main_option(
            "sqlalchemy.url", owner_url.render_as_string(hide_password=False).replace("%", "%%")
        )
    cfg.attributes["app_role"] = app_role
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None, "")).get_current_head()


async def current_revision(conn: AsyncConnection) -> str | None:
    exists = (await conn.execute(text("SELECT to_regclass('public.alembic_version')"))).scalar()
    if exists is None:
        return None
    return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()


async def run_migrations(owner: AsyncConnection, app_role: str, target: str = "head") -> None:
    """`alembic upgrade` on the owner's connection (in its transaction)."""
    from alembic import command

    def _upgrade(sync_conn: Any) -> None:
        cfg = _alembic_config(None, app_role)
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, target)

    await owner.run_sync(_upgrade)


async def run_downgrade(owner: AsyncConnection, app_role: str, target: str) -> None:
    from alembic import command

    def _downgrade(sync_conn: Any) -> None:
        cfg = _alembic_config(None, app_role)
        cfg.attributes["connection"] = sync_conn
        command.downgrade(cfg, target)

    await owner.run_sync(_downgrade)

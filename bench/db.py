"""The benchmark's own PostgreSQL: the embedded server in `.pgdata-bench/` (or the server of
`DATABASE_URL`), databases named `tenantgraph_bench*` only, built by the real migrations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL

from app.database import DatabaseUrls, asyncpg_url, head_revision
from app.provision import bootstrap_embedded, migrate
from bench.data import LoadResult, Spec, load

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATA_DIR = ROOT / ".pgdata-bench"
DATABASE_PREFIX = "tenantgraph_bench"
RUNTIME_ROLE = "tenantgraph_app"
# Baseline (b) only: a login role with BYPASSRLS that holds the runtime role's grants. Created in
# the benchmark's own embedded cluster, never by `migrate` or any production code path.
BYPASS_ROLE = "tenantgraph_bench_bypass"


@dataclass(frozen=True)
class BenchServer:
    admin: URL  # superuser (embedded) or DATABASE_URL
    embedded: bool

    @property
    def log_file(self) -> Path | None:
        """The server log (statement counting needs it): the embedded server's only."""
        return BENCH_DATA_DIR / "pg" / "log" if self.embedded else None


@contextmanager
def bench_server() -> Iterator[BenchServer]:
    external = os.environ.get("DATABASE_URL")
    if external:
        yield BenchServer(asyncpg_url(external), embedded=False)
        return
    from app.embedded import running_server

    with running_server(BENCH_DATA_DIR) as admin:
        yield BenchServer(asyncpg_url(admin), embedded=True)


def dsn(url: URL) -> str:
    """An asyncpg / libpq connection string from a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _check_name(name: str) -> None:
    if not name.startswith(DATABASE_PREFIX):
        raise ValueError(f"the benchmark writes only to databases named {DATABASE_PREFIX}*")


async def _admin(server: BenchServer, database: str | None = None) -> asyncpg.Connection:
    url = server.admin if database is None else server.admin.set(database=database)
    return await asyncpg.connect(dsn(url))


async def database_urls(server: BenchServer, name: str) -> DatabaseUrls:
    _check_name(name)
    if server.embedded:
        urls = await bootstrap_embedded(server.admin, RUNTIME_ROLE)
        return DatabaseUrls(
            owner=urls.owner.set(database=name), runtime=urls.runtime.set(database=name)
        )
    owner = server.admin.set(database=name)
    return DatabaseUrls(owner=owner, runtime=owner.set(username=RUNTIME_ROLE, password=None))


async def existing_label(server: BenchServer, name: str) -> str | None:
    conn = await _admin(server)
    try:
        return await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
    finally:
        await conn.close()


async def prepare(
    server: BenchServer, name: str, spec: Spec, *, force: bool = False, progress: bool = True
) -> tuple[DatabaseUrls, LoadResult | None]:
    """The database `name` holding `spec`'s dataset: reused when it already does (its comment
    names the spec and the schema revision), else dropped, created, migrated and loaded."""
    _check_name(name)
    urls = await database_urls(server, name)
    # a dataset made under an older schema is made again (the migrations changed its tables)
    label = f"tenantgraph-bench {spec.label()} schema={head_revision()}"
    if not force and await existing_label(server, name) == label:
        print(f"{name}: reusing the dataset ({spec.label()}); --force regenerates it")
        return urls, None
    conn = await _admin(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        owner = urls.owner.username if server.embedded else None
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))
    finally:
        await conn.close()
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(urls.owner, poolclass=NullPool)
    try:
        async with engine.begin() as owner_conn:
            await migrate(owner_conn, urls.runtime_role)
    finally:
        await engine.dispose()
    conn = await _admin(server, name)
    try:
        print(f"{name}: generating {spec.label()}")
        result = await load(conn, spec, show_progress=progress)
        await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{label}'")
    finally:
        await conn.close()
    rows = sum(result.counts.values())
    print(f"{name}: {rows:,} rows in {result.seconds:.0f} s")
    return urls, result


async def bypass_url(server: BenchServer, urls: DatabaseUrls) -> URL | None:
    """Baseline (b): the runtime URL as a BYPASSRLS role with the runtime role's grants, so the
    policies do not apply. Embedded cluster only (creating such a role on a shared server is not
    the benchmark's business); None elsewhere."""
    if not server.embedded:
        return None
    conn = await _admin(server)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", BYPASS_ROLE)
        if not exists:
            await conn.execute(
                f'CREATE ROLE "{BYPASS_ROLE}" LOGIN BYPASSRLS NOSUPERUSER INHERIT '
                f'IN ROLE "{RUNTIME_ROLE}"'
            )
    finally:
        await conn.close()
    return urls.runtime.set(username=BYPASS_ROLE)

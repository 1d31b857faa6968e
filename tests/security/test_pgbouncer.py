"""The same interleaved load through PgBouncer in transaction pooling mode, where consecutive
transactions of one client connection land on different server connections: the engine's
statement handling must cope (TENANTGRAPH_DB_PGBOUNCER), and the tenant settings, being
transaction-local, must never reach another request.

PgBouncer is started here when its binary is installed (Debian: `apt-get install pgbouncer`);
otherwise the module is skipped. It runs against the embedded server's Unix socket, or against
DATABASE_URL's server."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.database import Database, DatabaseUrls, create_engine
from app.main import create_app
from tests.security.stress import (
    dedicated_database,
    drive,
    errors_of,
    isolation_problems_after,
    plan,
    read_world,
    sign_in_everyone,
    stress_settings,
)

pytestmark = pytest.mark.slow  # starts a PgBouncer process

PGBOUNCER = shutil.which("pgbouncer") or next(
    (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None
)
if PGBOUNCER is None:
    pytest.skip(
        "pgbouncer is not installed (Debian/Ubuntu: apt-get install pgbouncer); "
        "the PgBouncer tests need its binary",
        allow_module_level=True,
    )

REQUESTS = 800
CONCURRENCY = 50
SERVER_POOL = 4  # server connections PgBouncer keeps per database and user


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_address(url: URL) -> str:
    """PgBouncer's `[databases]` connection string for the server behind `url`."""
    host = url.query.get("host") or url.host or "localhost"
    if isinstance(host, tuple):
        host = host[0]
    parts = [f"host={host}", f"port={url.port or 5432}", f"dbname={url.database}"]
    if url.password:
        parts.append(f"password={url.password}")
    return " ".join(parts)


def _run_as() -> list[str]:
    """PgBouncer refuses to run as root: then it runs as the embedded server's system user
    (which can reach that server's socket), else as nobody."""
    if os.geteuid() != 0:
        return []
    for user in ("pgserver", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["-u", user]
    pytest.skip("running as root without an unprivileged user for PgBouncer")


@pytest.fixture(scope="module")
async def stress_urls(admin_url: URL) -> AsyncIterator[DatabaseUrls]:
    async with dedicated_database(admin_url, f"tenantgraph_bouncer_{os.getpid()}") as urls:
        yield urls


@pytest.fixture(scope="module")
def bouncer(stress_urls: DatabaseUrls) -> Iterator[URL]:
    """A PgBouncer in transaction mode in front of the stress database; yields the runtime URL
    through it. Its `control` database has a single server connection, for the control case."""
    runtime = stress_urls.runtime
    workdir = Path(tempfile.mkdtemp(prefix="tenantgraph-pgbouncer-"))
    workdir.chmod(0o777)
    port = _free_port()
    server = _server_address(runtime)
    (workdir / "users.txt").write_text(f'"{runtime.username}" ""\n')
    # server_reset_query DEALLOCATE ALL: the uniquely named statements do not pile up on the
    # server connections; it deliberately resets no settings, so a leaked one would show.
    (workdir / "pgbouncer.ini").write_text(
        f"""
[databases]
stress = {server} pool_size={SERVER_POOL}
control = {server} pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir / "users.txt"}
pool_mode = transaction
max_client_conn = 500
server_reset_query = DEALLOCATE ALL
server_reset_query_always = 1
ignore_startup_parameters = extra_float_digits
logfile = {workdir / "pgbouncer.log"}
pidfile = {workdir / "pgbouncer.pid"}
"""
    )
    for f in workdir.iterdir():
        f.chmod(0o644)
    process = subprocess.Popen(
        [PGBOUNCER, *_run_as(), str(workdir / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = workdir / "pgbouncer.log"
                    raise RuntimeError(
                        f"pgbouncer did not start: {process.stderr.read() if process.stderr else ''}"
                        f"{log.read_text() if log.exists() else ''}"
                    ) from None
                time.sleep(0.05)
        yield URL.create(
            "postgresql+asyncpg",
            username=runtime.username,
            host="127.0.0.1",
            port=port,
            database="stress",
        )
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def _raw(url: URL, database: str | None = None) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        database=database or url.database,
        statement_cache_size=0,
    )


async def test_the_pooler_shares_server_connections_between_clients(bouncer: URL) -> None:
    """The control case: a session-level setting made by one client is seen by the next client
    of the same server connection. This is the leak transaction-local settings avoid."""
    # given a client that sets a setting for the session (plain SET semantics) and leaves
    first = await _raw(bouncer, "control")
    try:
        await first.execute("SELECT set_config('app.control_probe', 'left behind', false)")
    finally:
        await first.close()

    # when another client uses the same single server connection
    second = await _raw(bouncer, "control")
    try:
        seen = await second.fetchval("SELECT current_setting('app.control_probe', true)")
        # then it inherits the setting
        assert seen == "left behind"
        # and a transaction-local one does not outlive its transaction
        async with second.transaction():
            await second.execute("SELECT set_config('app.current_tenant_id', 'probe', true)")
        after = await second.fetchval("SELECT current_setting('app.current_tenant_id', true)")
        assert after in (None, "")
    finally:
        await second.close()


async def test_interleaved_load_through_pgbouncer(stress_urls: DatabaseUrls, bouncer: URL) -> None:
    # given the app configured for PgBouncer, on a pool of two connections to the pooler
    settings = stress_settings().model_copy(update={"db_pgbouncer": True})
    owner = create_async_engine(stress_urls.owner, pool_size=1)
    database = Database.connect(bouncer, pool_size=2, pgbouncer=True)
    app = create_app(settings=settings, database=database)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40200))
    try:
        async with httpx.AsyncClient(transport=transport, timeout=30) as client:
            world = await read_world(owner)
            actors = await sign_in_everyone(client, world)
            calls = plan(actors, world, total=REQUESTS, seed=7, prefix="bouncer")

            # when three tenants and anonymous callers interleave through the pooler
            outcomes = await drive(client, calls, concurrency=CONCURRENCY)

        # then no statement name collided, nothing crossed a tenant, nothing half-written stayed
        problems = await isolation_problems_after(owner, world, outcomes, "bouncer")
    finally:
        await database.dispose()
        await owner.dispose()
    assert problems == [], "\n".join(problems[:30])
    assert sum(1 for o in outcomes if o.call.writes and not errors_of(o)) >= 80

    # and no server connection behind the pooler kept a tenant: hold every one of them at once
    # (all clients inside a transaction together) and read the settings outside any request
    together = asyncio.Barrier(SERVER_POOL)

    async def leftover() -> list[str | None]:
        conn = await _raw(bouncer)
        try:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT current_setting('app.current_tenant_id', true) AS tenant,"
                    " current_setting('app.current_user_id', true) AS usr,"
                    " pg_backend_pid() AS pid"
                )
                await together.wait()
                assert row is not None
                return [row["tenant"], row["usr"], str(row["pid"])]
        finally:
            await conn.close()

    async with asyncio.timeout(20):
        rows = await asyncio.gather(*(leftover() for _ in range(SERVER_POOL)))
    assert len({pid for _, _, pid in rows}) == SERVER_POOL, rows
    assert all(tenant in (None, "") and usr in (None, "") for tenant, usr, _ in rows), rows


@pytest.mark.parametrize("pgbouncer", [False, True], ids=["default engine", "pgbouncer engine"])
async def test_statements_do_not_outlive_their_transaction(bouncer: URL, pgbouncer: bool) -> None:
    """Two transactions in a row on one client connection, through a pooler that cleans its
    server connection in between (as transaction pooling may hand the second one to any server
    connection): the default engine reuses a statement prepared by the first and fails; the
    engine built for PgBouncer does not."""
    # given one client connection to the pooler
    engine = create_engine(bouncer.set(database="control"), pool_size=1, pgbouncer=pgbouncer)
    query = text("SELECT count(*) FROM pg_class WHERE relname = :name")
    try:
        async with engine.connect() as conn:
            # when the same statement runs in two transactions
            async with conn.begin():
                await conn.execute(query, {"name": "tasks"})
            try:
                async with conn.begin():
                    await conn.execute(query, {"name": "bookings"})
            except DBAPIError as exc:
                failure: str | None = str(exc.orig)
            else:
                failure = None
    finally:
        await engine.dispose()

    # then only the default engine tripped over a statement the pooler had already dropped
    if pgbouncer:
        assert failure is None
    else:
        assert failure is not None
        assert "prepared statement" in failure

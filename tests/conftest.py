"""A real PostgreSQL for the suite: the embedded server in `.pgdata-test/` by default, or the
server named by DATABASE_URL (a role that may create databases and roles). A fresh database is
created per run, brought to head by the real migrations, and loaded with the demo data; each test
then runs inside an outer transaction that is rolled back."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app.cache import Cache, MemoryCache, RedisCache
from app.database import Database, DatabaseUrls, asyncpg_url
from app.main import create_app
from app.provision import bootstrap_embedded, migrate
from app.seed import seed_demo
from app.settings import Settings
from tests.helpers import DemoData, load_demo_data

REDIS_URL = os.environ.get("TENANTGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA_DIR = ROOT / ".pgdata-test"
TEST_SECRET = secrets.token_urlsafe(48)


@dataclass(frozen=True)
class SuiteDatabase:
    admin: URL  # may create databases and roles
    urls: DatabaseUrls


def _admin_url() -> Iterator[URL]:
    external = os.environ.get("DATABASE_URL")
    if external:
        yield asyncpg_url(external)
        return
    from app.embedded import running_server

    with running_server(TEST_DATA_DIR) as admin:
        yield asyncpg_url(admin)


@pytest.fixture(scope="session")
def admin_url() -> Iterator[URL]:
    yield from _admin_url()


async def _create_database(admin: URL, name: str, owner: str | None) -> None:
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            owner_clause = f' OWNER "{owner}"' if owner else ""
            await conn.execute(text(f'CREATE DATABASE "{name}"{owner_clause}'))
    finally:
        await engine.dispose()


async def drop_database(admin: URL, name: str) -> None:
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def fresh_database(admin: URL, name: str) -> DatabaseUrls:
    """An empty database with an owner and a runtime role, like a real installation."""
    if os.environ.get("DATABASE_URL"):
        await _create_database(admin, name, None)
        owner = admin.set(database=name)
        return DatabaseUrls(
            owner=owner, runtime=owner.set(username="tenantgraph_app", password=None)
        )
    urls = await bootstrap_embedded(admin, "tenantgraph_app")
    await _create_database(admin, name, urls.owner.username)
    return DatabaseUrls(
        owner=urls.owner.set(database=name), runtime=urls.runtime.set(database=name)
    )


async def migrate_database(urls: DatabaseUrls) -> None:
    engine = create_async_engine(urls.owner, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await migrate(conn, urls.runtime_role)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def test_database(admin_url: URL) -> AsyncIterator[SuiteDatabase]:
    name = f"tenantgraph_test_{os.getpid()}"
    urls = await fresh_database(admin_url, name)
    await migrate_database(urls)
    engine = create_async_engine(urls.owner, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session, session.begin():
            await seed_demo(session)
    finally:
        await engine.dispose()
    yield SuiteDatabase(admin=admin_url, urls=urls)
    await drop_database(admin_url, name)


@pytest.fixture(scope="session")
async def owner_engine(test_database: SuiteDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(test_database.urls.owner, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def runtime_engine(test_database: SuiteDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(test_database.urls.runtime, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def demo(owner_engine: AsyncEngine) -> DemoData:
    async with owner_engine.connect() as conn:
        return await load_demo_data(conn)


@pytest.fixture
async def runtime_conn(runtime_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A runtime-role connection in an outer transaction that is rolled back after the test."""
    async with runtime_engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        await transaction.rollback()


@pytest.fixture
async def owner_conn(owner_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """An owner connection (row-level security does not restrict it), rolled back afterwards."""
    async with owner_engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        await transaction.rollback()


@pytest.fixture
def settings() -> Settings:
    return Settings(secret_key=TEST_SECRET, token_ttl=3600)


@pytest.fixture(scope="session")
async def platform_database(test_database: SuiteDatabase) -> AsyncIterator[Database]:
    """The platform role's connections (super-admin analytics). They commit: what they read is
    the committed data, what they write (platform audit rows) stays."""
    database = Database.connect(test_database.urls.platform, pool_size=1)
    yield database
    await database.dispose()


@pytest.fixture
async def client(
    runtime_conn: AsyncConnection, settings: Settings, platform_database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app over HTTP; its unit of work runs in savepoints of `runtime_conn`."""
    app = create_app(
        settings=settings,
        database=Database.bound_to(runtime_conn),
        platform_database=platform_database,
    )
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as http:
        yield http


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


# --- the app over one cache backend ------------------------------------------------------------


async def _redis_or_skip() -> RedisCache:
    cache = RedisCache(REDIS_URL, prefix=f"tg-test-{uuid.uuid4().hex}:")
    try:
        await cache._redis.ping()
    except Exception as exc:
        await cache.close()
        pytest.skip(f"no Redis reachable at {REDIS_URL} ({type(exc).__name__})")
    return cache


async def drop_redis_keys(cache: RedisCache) -> None:
    """Delete what `cache` stored under its prefix, and close it."""
    keys = [key async for key in cache._redis.scan_iter(match=f"{cache.prefix}*")]
    if keys:
        await cache._redis.delete(*keys)
    await cache.close()


@pytest.fixture(params=["memory", "redis"])
async def any_cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    """The in-process cache, and Redis (the machine's server when reachable, else skipped)."""
    if request.param == "memory":
        yield MemoryCache()
        return
    cache = await _redis_or_skip()
    yield cache
    await drop_redis_keys(cache)


@pytest.fixture
async def redis_cache() -> AsyncIterator[RedisCache]:
    cache = await _redis_or_skip()
    yield cache
    await drop_redis_keys(cache)


@pytest.fixture
async def cached_client(
    runtime_conn: AsyncConnection, settings: Settings, any_cache: Cache
) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, over the cache backend of the test's parameter."""
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn), cache=any_cache)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as http:
        yield http


@pytest.fixture
async def committing(
    runtime_engine: AsyncEngine,
    owner_engine: AsyncEngine,
    settings: Settings,
    platform_database: Database,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on real, committed transactions: what the audit log keeps is read back by the
    owner, as an operator would."""
    database = Database(async_sessionmaker(runtime_engine, expire_on_commit=False), None)
    app = create_app(settings=settings, database=database, platform_database=platform_database)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40021))
    async with httpx.AsyncClient(transport=transport) as client:
        yield client

"""The ASGI application factory (`uvicorn app.main:create_app --factory`)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth.ratelimit import LoginLimits, RedisCounter, create_login_limiter
from app.auth.tokens import TokenService
from app.cache import Cache, create_cache, deployment_namespace
from app.cors import CorsMiddleware
from app.database import Database, current_revision, head_revision, platform_url, runtime_url
from app.endpoint import GraphQLEndpoint
from app.hosts import TenantResolver
from app.logging import configure_logging
from app.middleware import RequestContextMiddleware
from app.observability import RequestObserver
from app.responses import JSONResponse
from app.security_events import SecurityEventRecorder
from app.settings import Settings, load_settings
from app.telemetry import Telemetry
from app.tracing import tracer_of
from repositories.platform_analytics import PlatformGateway
from schema import build_schema

_frozen = False


def _freeze_startup_objects() -> None:
    """What exists when the first app starts (modules, the schema, the app) lives as long as the
    worker: out of the collector's reach, a full collection no longer walks ~175,000 objects (a
    pause of ~100 ms under load) to find none of them garbage. Once per process."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    cache: Cache | None = None,
    platform_database: Database | None = None,
) -> Starlette:
    """Build the app. Without `database`, one is connected (as the runtime role) in the lifespan
    and disposed of at shutdown, and so is the platform role's (`platform_database`, used only
    for super-admin platform sessions; given a `database` but no `platform_database`, the
    platform operations are unavailable). Without `cache`, one is made from the settings (Redis when
    REDIS_URL is set, else in-process) and closed at shutdown."""
    settings = settings or load_settings()
    configure_logging(json=settings.json_logs)
    telemetry = Telemetry.from_settings(settings)
    tokens = TokenService(
        settings.signing_secret(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=settings.token_ttl,
        previous_secret=settings.previous_signing_secret(),
    )
    login_limiter = create_login_limiter(
        settings.redis_url.get_secret_value() if settings.redis_url else None,
        LoginLimits(
            per_account=settings.login_attempts_per_account,
            per_address=settings.login_attempts_per_address,
            window_seconds=settings.login_window_seconds,
        ),
    )
    owns_database = database is None
    db = database or Database.connect(
        runtime_url(settings), pool_size=settings.db_pool_size, pgbouncer=settings.db_pgbouncer
    )
    owns_platform = database is None and platform_database is None
    platform_db = platform_database
    if owns_platform:
        platform_db = Database.connect(
            platform_url(settings), pool_size=2, pgbouncer=settings.db_pgbouncer
        )
    owns_cache = cache is None
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    results = (
        cache
        if cache is not None
        else create_cache(
            redis_url,
            ttl=settings.analytics_cache_seconds,
            # the database this app connects to names the deployment (tests bring their own)
            namespace=deployment_namespace(runtime_url(settings)) if owns_database else "",
        )
    )
    head = head_revision()
    observer = RequestObserver(
        SecurityEventRecorder(db, per_tenant_per_minute=settings.security_events_per_minute),
        tracer_of(telemetry.tracer_provider),
    )
    endpoint = GraphQLEndpoint(
        schema=build_schema(introspection=settings.is_development),
        database=db,
        tokens=tokens,
        settings=settings,
        login_limiter=login_limiter,
        cache=results,
        observer=observer,
        platform=PlatformGateway(platform_db.sessionmaker) if platform_db is not None else None,
    )

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        try:
            async with db.sessionmaker() as session:
                conn = await session.connection()
                await conn.execute(text("SELECT 1"))
                revision = await current_revision(conn)
        except Exception:
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        if revision != head:
            return JSONResponse(
                {"status": "unavailable", "database": "migrations pending", "revision": revision},
                503,
            )
        return JSONResponse({"status": "ready", "revision": revision})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        telemetry.start()
        await telemetry.learn_tenant_slugs(resolver)
        _freeze_startup_objects()
        try:
            yield
        finally:
            telemetry.stop()
            if isinstance(login_limiter.counter, RedisCounter):
                await login_limiter.counter.close()
            if owns_cache:
                await results.close()
            if owns_database:
                await db.dispose()
            if owns_platform and platform_db is not None:
                await platform_db.dispose()

    resolver = TenantResolver(db, ttl=settings.host_cache_seconds)
    app = Starlette(
        routes=[
            Route("/graphql", endpoint.handle, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *telemetry.routes(),
        ],
        middleware=[
            Middleware(
                RequestContextMiddleware,
                resolver=resolver,
                base_domain=settings.base_domain,
                trusted_proxies=settings.trusted_proxies,
            ),
            Middleware(
                CorsMiddleware,
                resolver=resolver,
                base_domain=settings.base_domain,
                require_https=not settings.is_development,
                extra_origins=settings.cors_extra_origins,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.database = db
    app.state.tokens = tokens
    app.state.login_limiter = login_limiter
    app.state.cache = results
    app.state.observer = observer
    return app

"""Where a request's time goes: the API in-process (over httpx's ASGI transport) against the
benchmark database, one scenario repeated under cProfile, the top functions printed.

    python -m bench profile [--scenario portal] [--calls 200] [--database tenantgraph_bench]
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import secrets

import httpx

from bench.data import BENCH_PASSWORD, BIG_SLUG
from bench.db import bench_server, database_urls
from bench.run import BOOKINGS, PORTAL, actors


async def _profile(database: str, scenario: str, calls: int, top: int) -> str:
    from app.database import Database
    from app.main import create_app
    from app.settings import Settings

    with bench_server() as server:
        urls = await database_urls(server, database)
        a = await actors(server, database)
        settings = Settings(
            env="production",
            secret_key=secrets.token_urlsafe(48),
            login_attempts_per_account=10**8,
            login_attempts_per_address=10**8,
        )
        db = Database.connect(urls.runtime, pool_size=settings.db_pool_size)
        app = create_app(settings=settings, database=db)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        host = f"http://{BIG_SLUG}.localhost"
        async with httpx.AsyncClient(transport=transport, base_url=host) as client:
            email = a.client_email if scenario == "bookings-client" else a.admin_email
            login = await client.post(
                "/graphql",
                json={
                    "query": "mutation($e: String!, $p: String!) "
                    "{ login(email: $e, password: $p) { token } }",
                    "variables": {"e": email, "p": BENCH_PASSWORD},
                },
            )
            token = login.json()["data"]["login"]["token"]
            cookie = login.cookies.get("tenant_sig") or ""
            client.cookies.clear()
            query = {"portal": PORTAL % 50, "bookings-client": BOOKINGS}[scenario]
            headers = {"Authorization": f"Bearer {token}", "Cookie": f"tenant_sig={cookie}"}

            async def call() -> None:
                response = await client.post("/graphql", json={"query": query}, headers=headers)
                assert "errors" not in response.json(), response.text[:300]

            for _ in range(10):
                await call()
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                await call()
            profiler.disable()
        await db.dispose()
    out = io.StringIO()
    out.write(by_package(profiler, calls))
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


PACKAGES = (
    "graphql",
    "strawberry",
    "sqlalchemy",
    "asyncpg",
    "starlette",
    "httpx",
    "structlog",
    "joserfc",
    "aiodataloader",
    "asyncio",
    "schema",
    "repositories",
    "app",
)


def by_package(profiler: cProfile.Profile, calls: int) -> str:
    """Own time (tottime) per package, per request: where the time goes in one table."""
    stats = pstats.Stats(profiler)
    totals: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        parts = filename.replace("\\", "/").split("/")
        package = next((p for p in PACKAGES if p in parts), "other (builtins, C calls)")
        if "site-packages" not in parts and package in ("schema", "repositories", "app"):
            package = f"tenantgraph {package}/"
        totals[package] = totals.get(package, 0.0) + tottime
    whole = sum(totals.values())
    lines = [f"own time per request by package ({calls} requests, under cProfile):"]
    for package, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {package:<28} {seconds / calls * 1000:7.2f} ms  {seconds / whole:6.1%}")
    return "\n".join(lines) + "\n\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench profile")
    parser.add_argument("--scenario", choices=("portal", "bookings-client"), default="portal")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--database", default="tenantgraph_bench")
    args = parser.parse_args(argv)
    print(json.dumps({"scenario": args.scenario, "calls": args.calls}))
    print(asyncio.run(_profile(args.database, args.scenario, args.calls, args.top)))
    return 0

"""Where a request's time goes: the API in-process against the benchmark database, one scenario
repeated, its requests handed to the ASGI app directly (no HTTP client in the numbers).

    python -m bench profile [--scenario portal] [--calls 200] [--database tenantgraph_bench]
    python -m bench profile --plain ...   # no profiler: CPU per request, median and p99

With `--plain`, the instructions one request costs are repeatable on a noisy machine:
`valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench profile
--plain --calls N` for two values of N, the difference of the two totals divided by the
difference of N (startup and warm-up cancel out).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import json
import pstats
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bench.data import BENCH_PASSWORD, BIG_SLUG
from bench.db import bench_server, database_urls
from bench.run import BOOKINGS, LOGIN, PORTAL, actors

SCENARIOS = {
    "portal": PORTAL % 50,
    "portal-1": PORTAL % 1,
    "bookings-client": BOOKINGS,
    "viewer": "query Me { viewer { role } }",
}
WARMUP = 20


def asgi_caller(app: Any, host: str) -> Callable[..., Awaitable[tuple[int, bytes, list[Any]]]]:
    """`call(body, headers)`: one POST /graphql straight into the ASGI app."""

    async def call(
        body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, list[Any]]:
        payload = orjson.dumps(body)
        raw_headers = [
            (b"host", host.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            return {}  # pragma: no cover

        status, chunks, response_headers = 0, [], []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status, response_headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return status, b"".join(chunks), response_headers

    return call


async def _run(database: str, scenario: str, calls: int, top: int, plain: bool) -> str:
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
        call = asgi_caller(app, f"{BIG_SLUG}.localhost")
        email = a.client_email if scenario == "bookings-client" else a.admin_email
        _, body, headers = await call(
            {"query": LOGIN, "variables": {"email": email, "password": BENCH_PASSWORD}}
        )
        token = orjson.loads(body)["data"]["login"]["token"]
        cookie = next(
            v.decode().split(";", 1)[0] for k, v in headers if k == b"set-cookie"
        )  # "tenant_sig=…"
        auth = {"Authorization": f"Bearer {token}", "Cookie": cookie}
        request = {"query": SCENARIOS[scenario]}

        async def one() -> None:
            status, answer, _ = await call(request, auth)
            assert status == 200, answer[:300]
            assert b'"errors"' not in answer, answer[:300]

        async with app.router.lifespan_context(app):  # as a served worker: gc frozen, telemetry
            for _ in range(WARMUP):
                await one()
            profiler = None if plain else cProfile.Profile()
            times: list[float] = []
            cpu = time.process_time()
            collections = sum(s["collections"] for s in gc.get_stats())
            if profiler:
                profiler.enable()
            for _ in range(calls):
                started = time.perf_counter()
                await one()
                times.append((time.perf_counter() - started) * 1000)
            if profiler:
                profiler.disable()
            cpu = (time.process_time() - cpu) * 1000 / calls
            collections = sum(s["collections"] for s in gc.get_stats()) - collections
        await db.dispose()
    times.sort()
    out = io.StringIO()
    out.write(
        f"{scenario}: {calls} requests, CPU {cpu:.2f} ms a request, median "
        f"{statistics.median(times):.2f} ms, p99 {times[int(len(times) * 0.99)]:.2f} ms, "
        f"slowest {times[-1]:.2f} ms, {collections} garbage collections"
        f"{' (under cProfile)' if profiler else ''}\n\n"
    )
    if profiler:
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
    parser.add_argument("--scenario", choices=tuple(SCENARIOS), default="portal")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--database", default="tenantgraph_bench")
    parser.add_argument("--plain", action="store_true", help="no profiler: timings only")
    args = parser.parse_args(argv)
    print(json.dumps({"scenario": args.scenario, "calls": args.calls}))
    print(asyncio.run(_run(args.database, args.scenario, args.calls, args.top, args.plain)))
    return 0

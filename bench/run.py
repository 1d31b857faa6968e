"""`make bench`: generate (or reuse) the datasets, start the API and its baselines, drive each
scenario from a separate load-driver process in interleaved rounds, count SQL statements per
request from the server log, measure analytics latency and peak RSS, and print one Markdown
report (also written to `.pgdata-bench/results-<scale>.md` and `.json`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import asyncpg

from app.auth.tokens import _derive
from bench.data import BENCH_PASSWORD, BIG_SLUG, SECOND_SLUG, Spec
from bench.db import BENCH_DATA_DIR, BenchServer, bench_server, bypass_url, dsn, prepare
from bench.load import Connection, build_request, percentile
from bench.servers import (
    Server,
    postgraphile_problem,
    start_api,
    start_floor,
    start_postgraphile,
)
from schema.ids import encode_id


@dataclass(frozen=True)
class Scale:
    name: str
    large: Spec
    large_db: str
    runs: int
    warmup: float
    duration: float
    concurrency: int
    latency_calls: int
    rss_requests: int


SCALES = {
    "small": Scale("small", Spec(100, 100_000), "tenantgraph_bench_small", 2, 1.0, 3.0, 8, 20, 0),
    "full": Scale("full", Spec(1_000, 1_000_000), "tenantgraph_bench", 3, 2.0, 8.0, 8, 40, 100_000),
}
TEN = Spec(10, 20_000)
TEN_DB = "tenantgraph_bench_10"

PORTAL = (
    "query Portal { tasks(first: %d) { edges { cursor node { id title status priority dueAt "
    "createdAt assignee { id email displayName } createdBy { id email displayName } } } "
    "pageInfo { hasNextPage endCursor } } }"
)
BOOKINGS = (
    "query MyBookings { myBookings(first: 50) { edges { node { id startsAt endsAt status "
    "service { id name } } } pageInfo { hasNextPage endCursor } } }"
)
ANALYTICS = """query Analytics($from: Date, $to: Date) { analytics(from: $from, to: $to) {
  tasks { total overdue byStatus { status count } byPriority { priority count }
          completionRate medianHoursToDone createdPerDay { date count } completedPerDay { date count } }
  bookings { total byStatus { status count } upcoming revenueCents
             revenueCentsByService { revenueCents } perDay { date count } }
  serviceRequests { total byStatus { status count } convertedToTasks conversionRate }
  compliance { total byStatus { status count } dueWithin7Days dueWithin30Days overdue }
  members { active activeByRole { role count } } } }"""
LOGIN = "mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { token } }"
SWITCH = "mutation Switch($t: ID!) { switchTenant(tenantId: $t) { token } }"
CREATE = "mutation Create($input: CreateTaskInput!) { createTask(input: $input) { id title } }"
# PostGraphile's names for the same page (tasks -> membership -> user over the composite keys)
PG_PORTAL = (
    "query Portal { allTasks(first: %d, orderBy: [CREATED_AT_DESC, ID_DESC]) { edges { cursor "
    "node { id title status priority dueAt createdAt "
    "assignee: tenantMembershipByTenantIdAndAssigneeId { displayName userByUserId { id email } } "
    "createdBy: tenantMembershipByTenantIdAndCreatedById { displayName userByUserId { id email } } "
    "} } pageInfo { hasNextPage endCursor } } }"
)


def body(query: str, variables: dict[str, Any] | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}})


@dataclass(frozen=True)
class Session:
    token: str
    cookie: str
    host: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Cookie": f"tenant_sig={self.cookie}"}


async def exchange(
    port: int, host: str, text: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    conn = await Connection.open("127.0.0.1", port)
    try:
        return await conn.request(build_request(host, "/graphql", headers or {}, text))
    finally:
        conn.close()


async def login(port: int, email: str, host: str) -> Session:
    status, head, data = await exchange(
        port, host, body(LOGIN, {"email": email, "password": BENCH_PASSWORD})
    )
    payload = json.loads(data)
    if status != 200 or "errors" in payload:
        raise RuntimeError(f"login of {email} failed: {status} {data[:300]!r}")
    cookie = ""
    for line in head.decode().split("\r\n"):
        if line.lower().startswith("set-cookie:"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(line.split(":", 1)[1].strip())
            if "tenant_sig" in jar:
                cookie = jar["tenant_sig"].value
    return Session(payload["data"]["login"]["token"], cookie, host)


# --- what the run needs from the database ------------------------------------------------------


@dataclass
class Actors:
    admin_email: str
    client_email: str
    second_tenant_gid: str
    second_tenant_id: str
    login_users: list[tuple[str, str]]  # (email, host)


async def actors(server: BenchServer, database: str) -> Actors:
    conn = await asyncpg.connect(dsn(server.admin.set(database=database)))
    try:
        admin = await conn.fetchval(
            "SELECT u.email FROM users u JOIN tenant_memberships m ON m.user_id = u.id "
            "JOIN tenants t ON t.id = m.tenant_id WHERE t.slug = $1 AND m.role = 'ADMIN' "
            "AND m.is_default ORDER BY u.email LIMIT 1",
            BIG_SLUG,
        )
        client = await conn.fetchval(
            "SELECT u.email FROM users u JOIN tenant_memberships m ON m.user_id = u.id "
            "JOIN tenants t ON t.id = m.tenant_id WHERE t.slug = $1 AND m.role = 'CLIENT' "
            "ORDER BY (SELECT count(*) FROM bookings b WHERE b.tenant_id = t.id "
            "AND b.client_id = u.id) DESC, u.email LIMIT 1",
            BIG_SLUG,
        )
        second = await conn.fetchval("SELECT id FROM tenants WHERE slug = $1", SECOND_SLUG)
        users = await conn.fetch(
            "SELECT u.email, t.slug FROM users u JOIN tenant_memberships m ON m.user_id = u.id "
            "AND m.is_default JOIN tenants t ON t.id = m.tenant_id "
            "WHERE m.role <> 'CLIENT' ORDER BY md5(u.email) LIMIT 200"
        )
    finally:
        await conn.close()
    return Actors(
        admin_email=admin,
        client_email=client,
        second_tenant_gid=encode_id("Tenant", second),
        second_tenant_id=str(second),
        login_users=[(r["email"], f"{r['slug']}.localhost") for r in users],
    )


async def cleanup(server: BenchServer, database: str, tenant_id: str) -> None:
    """Take the tasks the createTask scenario wrote back out (the dataset stays as generated)."""
    conn = await asyncpg.connect(dsn(server.admin.set(database=database)))
    try:
        await conn.execute(
            "DELETE FROM tasks WHERE tenant_id = $1 AND title LIKE 'Bench created %'", tenant_id
        )
        await conn.execute(
            "DELETE FROM audit_logs WHERE tenant_id = $1 AND action LIKE 'task.%'", tenant_id
        )
    finally:
        await conn.close()


# --- scenarios ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    server: str
    requests: list[dict[str, Any]]
    concurrency: int | None = None


def scenarios(
    a: Actors, admin: Session, client: Session, second: Session, today: date
) -> dict[str, list[dict[str, Any]]]:
    def req(session: Session | None, text: str, host: str | None = None) -> dict[str, Any]:
        return {
            "path": "/graphql",
            "host_header": host or (session.host if session else "localhost"),
            "headers": session.headers() if session else {},
            "body": text,
        }

    return {
        "portal": [req(admin, body(PORTAL % 50))],
        "portal-10": [req(admin, body(PORTAL % 10))],
        "viewer": [req(admin, body("query Me { viewer { user { id email } role } }"))],
        "portal-100": [req(admin, body(PORTAL % 100))],
        "bookings-client": [req(client, body(BOOKINGS))],
        # a different period each call (all within the data's year): never a cache hit
        "analytics-cold": [
            req(admin, body(ANALYTICS, {"from": start.isoformat(), "to": end.isoformat()}))
            for start, end in cold_periods(today)
        ],
        "analytics-cached": [
            req(
                admin,
                body(ANALYTICS, {"from": (today - timedelta(89)).isoformat(), "to": str(today)}),
            )
        ],
        "login": [
            req(None, body(LOGIN, {"email": email, "password": BENCH_PASSWORD}), host)
            for email, host in a.login_users
        ],
        "switchTenant": [req(admin, body(SWITCH, {"t": a.second_tenant_gid}))],
        "createTask": [
            req(second, body(CREATE, {"input": {"title": f"Bench created {i}"}}))
            for i in range(100)
        ],
        "pg-portal": [req(admin, body(PG_PORTAL % 50))],
        "pg-portal-10": [req(admin, body(PG_PORTAL % 10))],
        "pg-portal-100": [req(admin, body(PG_PORTAL % 100))],
    }


# distinct cold periods per load round: more calls than a round of 10 s makes at 200 req/s
COLD_ROUND = 2000


def cold_periods(today: date) -> list[tuple[date, date]]:
    """7,750 distinct periods of 70–100 days ending in the last 250 days (all within the data's
    year), in a fixed shuffled order; slices of it are handed out so that no two measurements
    share a period: [0:2000], [2000:4000], [4000:6000] the load rounds (see COLD_ROUND),
    [6000:…] and [6500:…] the latency calls, [7700] the statement count (after a warm-up call
    with [7701])."""
    import random

    periods = [
        (today - timedelta(days=e + length - 1), today - timedelta(days=e))
        for e in range(250)
        for length in range(70, 101)
    ]
    random.Random(5).shuffle(periods)
    return periods


def drive(
    server: Server,
    requests: list[dict[str, Any]],
    *,
    concurrency: int,
    warmup: float,
    duration: float | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """One measurement by the load driver, in a process of its own."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"host": "127.0.0.1", "port": server.port, "requests": requests}, f)
        path = f.name
    args = [
        sys.executable,
        "-m",
        "bench.load",
        path,
        "--concurrency",
        str(concurrency),
        "--warmup",
        str(warmup),
    ]
    args += ["--requests", str(total)] if total else ["--duration", str(duration)]
    server.reset_peak()
    try:
        out = subprocess.run(args, check=True, capture_output=True, text=True)
    finally:
        os.unlink(path)
    result = json.loads(out.stdout)
    result["peak_rss_mib"] = server.peak_rss_kib() / 1024
    result["rss_mib"] = server.rss_kib() / 1024
    return result


# --- statements per request, from the server log -----------------------------------------------

STATEMENT = re.compile(r" LOG:  (statement|execute [^:]*): (.*)")


async def count_statements(
    server_info: BenchServer,
    target: Server,
    database: str,
    request: dict[str, Any],
    n: int = 20,
    warm: dict[str, Any] | None = None,
) -> dict[str, float] | None:
    """Statements the database received per request, over `n` sequential requests, read from the
    embedded server's log with `log_statement = all` (only during this count). `warm` is the
    warm-up request when it must differ from the counted one (a cold call would be cached)."""
    log_file = server_info.log_file
    if log_file is None or not log_file.exists():
        return None

    def raw_of(r: dict[str, Any]) -> bytes:
        return build_request(r["host_header"], r["path"], r["headers"], r["body"])

    raw = raw_of(request)
    conn = await Connection.open("127.0.0.1", target.port)
    try:
        # warm: prepared statements, type introspection
        await conn.request(raw_of(warm) if warm is not None else raw)
        await asyncio.sleep(0.3)
        offset = log_file.stat().st_size
        for _ in range(n):
            await conn.request(raw)
        await asyncio.sleep(0.5)
    finally:
        conn.close()
    with log_file.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    total = transaction = pings = 0
    last: dict[str, str] = {}  # backend pid -> its previous statement
    shapes: dict[str, int] = {}
    for line in text.splitlines():
        if f"db={database} " not in line:
            continue
        m = STATEMENT.search(line)
        if not m:
            continue
        total += 1
        pid = line.split("[", 1)[1].split("]", 1)[0]
        sql = m.group(2).strip().rstrip(";").upper()
        if sql in ("BEGIN", "COMMIT", "ROLLBACK") or sql.startswith(
            ("BEGIN ", "START TRANSACTION")
        ):
            transaction += 1
            # the pool's pre-ping: a transaction opened and rolled back with nothing in it
            if sql == "ROLLBACK" and last.get(pid) == "BEGIN":
                pings += 1
        shape = re.sub(r"__asyncpg_stmt_[0-9a-f]+__", "stmt", m.group(0).split(": ", 1)[1])[:90]
        shapes[shape] = shapes.get(shape, 0) + 1
        last[pid] = sql
    return {
        "statements": total / n,
        "queries": (total - transaction) / n,
        "pre_pings": pings / n,
        "shapes": {k: v / n for k, v in shapes.items()},
    }


async def statement_logging(server: BenchServer, on: bool) -> None:
    conn = await asyncpg.connect(dsn(server.admin))
    try:
        if on:
            await conn.execute("ALTER SYSTEM SET log_statement = 'all'")
            await conn.execute("ALTER SYSTEM SET log_line_prefix = '%m [%p] db=%d '")
        else:
            await conn.execute("ALTER SYSTEM RESET log_statement")
            await conn.execute("ALTER SYSTEM RESET log_line_prefix")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    await asyncio.sleep(0.5)


# --- sequential latency (analytics, one tenant at two database sizes) ------------------------


async def paired_latencies(
    a: tuple[Server, list[dict[str, Any]]], b: tuple[Server, list[dict[str, Any]]], calls: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sequential calls alternating between two servers; each side's median and p95."""
    sides = []
    for server, requests in (a, b):
        conn = await Connection.open("127.0.0.1", server.port)
        raws = [
            build_request(r["host_header"], r["path"], r["headers"], r["body"]) for r in requests
        ]
        await conn.request(raws[-1])  # warm (the last one is never measured)
        sides.append((conn, raws, []))
    errors = [0, 0]
    try:
        for i in range(calls):
            for k, (conn, raws, samples) in enumerate(sides):
                started = time.perf_counter()
                status, _head, data = await conn.request(raws[i % len(raws)])
                samples.append((time.perf_counter() - started) * 1000)
                if status != 200 or b'"errors"' in data:
                    errors[k] += 1
    finally:
        for conn, _raws, _samples in sides:
            conn.close()
    out = []
    for k, (_conn, _raws, samples) in enumerate(sides):
        ordered = sorted(samples)
        out.append(
            {
                "calls": calls,
                "errors": errors[k],
                "median_ms": statistics.median(ordered),
                "p95_ms": percentile(ordered, 0.95),
            }
        )
    return out[0], out[1]


async def latencies(server: Server, requests: list[dict[str, Any]], calls: int) -> dict[str, Any]:
    conn = await Connection.open("127.0.0.1", server.port)
    samples = []
    errors = 0
    try:
        raws = [
            build_request(r["host_header"], r["path"], r["headers"], r["body"]) for r in requests
        ]
        await conn.request(raws[-1])  # warm (the last one is never measured)
        for i in range(calls):
            started = time.perf_counter()
            status, _head, data = await conn.request(raws[i % len(raws)])
            samples.append((time.perf_counter() - started) * 1000)
            if status != 200 or b'"errors"' in data:
                errors += 1
    finally:
        conn.close()
    ordered = sorted(samples)
    return {
        "calls": calls,
        "errors": errors,
        "median_ms": statistics.median(ordered),
        "p95_ms": percentile(ordered, 0.95),
    }


# --- the whole run -----------------------------------------------------------------------------


async def sql_rls_cost(
    server: BenchServer, database: str, runtime: Any, bypass: Any, email: str, calls: int
) -> dict[str, Any]:
    """The portal page's statements alone (the floor's: BEGIN, `tenantgraph_begin`, the page,
    its users, COMMIT) for `email`, alternating call by call between the runtime role and the
    BYPASSRLS role on one connection each: what the policies cost in the database, without the
    noise of Python around it."""
    from bench.floor import PAGE, SET_CONTEXT, USERS
    from repositories.session import STATEMENT_TIMEOUT

    admin = await asyncpg.connect(dsn(server.admin.set(database=database)))
    try:
        row = await admin.fetchrow(
            "SELECT m.tenant_id, m.user_id FROM tenant_memberships m JOIN users u "
            "ON u.id = m.user_id JOIN tenants t ON t.id = m.tenant_id "
            "WHERE u.email = $1 AND t.slug = $2",
            email,
            BIG_SLUG,
        )
    finally:
        await admin.close()
    tenant, user = row["tenant_id"], row["user_id"]
    conns = [await asyncpg.connect(dsn(url)) for url in (runtime, bypass)]
    times: list[list[float]] = [[], []]
    try:
        for i in range(calls + 20):
            order = (0, 1) if i % 2 else (1, 0)
            for which in order:
                conn = conns[which]
                started = time.perf_counter()
                async with conn.transaction():
                    await conn.fetchrow(
                        SET_CONTEXT, str(tenant), str(user), "false", "", STATEMENT_TIMEOUT
                    )
                    rows = await conn.fetch(PAGE, tenant, 51)
                    ids = {r["assignee_id"] for r in rows} | {r["created_by_id"] for r in rows}
                    ids.discard(None)
                    await conn.fetch(USERS, tenant, list(ids))
                if i >= 20:  # after a warm-up: plans cached, pages in memory
                    times[which].append((time.perf_counter() - started) * 1000)
    finally:
        for conn in conns:
            await conn.close()
    rls, norls = (sorted(t) for t in times)
    return {
        "calls": calls,
        "rls_median_ms": statistics.median(rls),
        "norls_median_ms": statistics.median(norls),
        "rls_p95_ms": percentile(rls, 0.95),
        "norls_p95_ms": percentile(norls, 0.95),
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    node = None
    with contextlib.suppress(OSError):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": node,
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Report:
    scale: str
    machine: dict[str, Any]
    postgres: str = ""
    datasets: dict[str, Any] = field(default_factory=dict)
    load: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    statements: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    rls: dict[str, Any] = field(default_factory=dict)
    rls_sql: dict[str, Any] = field(default_factory=dict)
    rss: list[dict[str, Any]] = field(default_factory=list)
    loadavg: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    same_json: bool | None = None


def run_benchmark(scale: str = "full", output: str | None = None) -> int:
    cfg = SCALES[scale]
    report = Report(scale=scale, machine=machine())
    report.loadavg.append(f"start {loadavg()}")
    with bench_server() as server:
        asyncio.run(_run(server, cfg, report))
    report.loadavg.append(f"end {loadavg()}")
    text = render(report, cfg)
    print(text)
    out = Path(output) if output else BENCH_DATA_DIR / f"results-{scale}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(report.__dict__, indent=2, default=str))
    print(f"\nwritten to {out} (and .json)")
    return 0


async def _run(server: BenchServer, cfg: Scale, report: Report) -> None:
    large_urls, large_load = await prepare(server, cfg.large_db, cfg.large)
    ten_urls, ten_load = await prepare(server, TEN_DB, TEN)
    for name, spec, loaded in ((cfg.large_db, cfg.large, large_load), (TEN_DB, TEN, ten_load)):
        report.datasets[name] = {
            "spec": spec.label(),
            "load_seconds": round(loaded.seconds, 1) if loaded else None,
            "rows": sum(loaded.counts.values()) if loaded else None,
        }
    conn = await asyncpg.connect(dsn(server.admin))
    report.postgres = (await conn.fetchval("SELECT version()")).split(" on ")[0]
    await conn.close()

    secret = secrets.token_urlsafe(48)
    servers: dict[str, Server] = {}
    try:
        servers["api"] = start_api("api", large_urls.runtime, secret)
        bypass = await bypass_url(server, large_urls)
        if bypass is not None:
            servers["api-norls"] = start_api("api-norls", bypass, secret)
        else:
            report.notes.append("baseline (b) skipped: needs the embedded server (BYPASSRLS role)")
        servers["floor"] = start_floor(large_urls.runtime, secret)
        problem = postgraphile_problem()
        if problem is None:
            try:
                servers["postgraphile"] = start_postgraphile(
                    large_urls.runtime, _derive(secret.encode(), b"jwt/v1"),
                    "tenantgraph", "tenantgraph-api",
                )  # fmt: skip
            except RuntimeError as exc:
                problem = f"PostGraphile did not start, baseline (c) skipped: {exc}"
        if problem is not None:
            print(problem, flush=True)
            report.notes.append(problem)
        servers["api-10"] = start_api("api-10", ten_urls.runtime, secret)

        a = await actors(server, cfg.large_db)
        host = f"{BIG_SLUG}.localhost"
        admin = await login(servers["api"].port, a.admin_email, host)
        client = await login(servers["api"].port, a.client_email, host)
        second = await _switched(servers["api"].port, admin, a.second_tenant_gid)
        today = date.today()
        sc = scenarios(a, admin, client, second, today)
        await _check_same_json(servers, sc, report)

        # Sequential comparisons first, while every server is fresh and in the same state (after
        # the load phase the main API's heap and caches differ from the others').
        try:
            # one tenant, two database sizes: analytics cold / cached and the portal page
            admin10 = await login(servers["api-10"].port, a.admin_email, host)
            sc10 = scenarios(a, admin10, admin10, admin10, today)
            # alternating calls (1,000-tenant server, then 10-tenant server), so that the machine's
            # noise falls on both alike; cold: periods no earlier call asked for, the same at both
            pairs = {
                "analytics-cold": (
                    sc["analytics-cold"][6000 : 6001 + cfg.latency_calls],
                    sc10["analytics-cold"][6000 : 6001 + cfg.latency_calls],
                    cfg.latency_calls,
                ),
                "analytics-cached": (
                    sc["analytics-cached"],
                    sc10["analytics-cached"],
                    cfg.latency_calls,
                ),
                "portal": (sc["portal"], sc10["portal"], cfg.latency_calls * 5),
            }
            for call, (big_requests, small_requests, calls) in pairs.items():
                big, small = await paired_latencies(
                    (servers["api"], big_requests), (servers["api-10"], small_requests), calls
                )
                report.latency[f"{call}|1000"] = big
                report.latency[f"{call}|10"] = small
        except Exception as exc:  # report what was measured, say what was not
            _failed(report, "latency at two sizes", exc)
        try:
            # the cost of the policies: the same calls alternating between the API as the runtime
            # role and as the bypass role
            if "api-norls" in servers:
                for call, requests, calls in (
                    ("portal", sc["portal"], cfg.latency_calls * 5),
                    ("bookings-client", sc["bookings-client"], cfg.latency_calls * 5),
                    (
                        "analytics-cold",
                        sc["analytics-cold"][6500 : 6501 + cfg.latency_calls],
                        cfg.latency_calls,
                    ),
                ):
                    rls, norls = await paired_latencies(
                        (servers["api"], requests),
                        (
                            servers["api-norls"],
                            requests[::-1] if call == "analytics-cold" else requests,
                        ),
                        calls,
                    )
                    report.rls[call] = {"rls": rls, "norls": norls}
                report.rls_sql = await sql_rls_cost(
                    server, cfg.large_db, large_urls.runtime, bypass, a.admin_email,
                    cfg.latency_calls * 25,
                )  # fmt: skip
        except Exception as exc:  # report what was measured, say what was not
            _failed(report, "RLS cost", exc)
        report.loadavg.append(f"after latency {loadavg()}")

        # the matrix: (row label, server, scenario); rounds interleave every row
        matrix = [
            ("portal page (tasks first 50)", "api", "portal"),
            ("portal page (tasks first 50)", "api-norls", "portal"),
            ("portal page (tasks first 50)", "floor", "portal"),
            ("portal page (tasks first 50)", "postgraphile", "pg-portal"),
            ("booking list (CLIENT)", "api", "bookings-client"),
            ("booking list (CLIENT)", "api-norls", "bookings-client"),
            ("analytics, cold", "api", "analytics-cold"),
            ("analytics, cold", "api-norls", "analytics-cold"),
            ("analytics, cached", "api", "analytics-cached"),
            ("login", "api", "login"),
            ("switchTenant", "api", "switchTenant"),
            ("createTask", "api", "createTask"),
        ]
        matrix = [m for m in matrix if m[1] in servers]
        for round_no in range(cfg.runs):
            print(f"round {round_no + 1}/{cfg.runs} (load {loadavg()})", flush=True)
            for label, name, scenario in matrix:
                requests = sc[scenario]
                if scenario == "analytics-cold":
                    requests = requests[round_no * COLD_ROUND : (round_no + 1) * COLD_ROUND]
                # a sign-in is an argon2 hash (~64 MiB, a CPU for tens of ms): fewer at once
                slow = scenario == "login"
                result = drive(
                    servers[name],
                    requests,
                    concurrency=2 if slow else cfg.concurrency,
                    warmup=cfg.warmup,
                    duration=max(cfg.duration, 6.0) if slow else cfg.duration,
                )
                result["round"] = round_no + 1
                report.load.setdefault(f"{label}|{name}", []).append(result)
                sent = result["rps"] * (cfg.warmup + cfg.duration)
                if scenario == "analytics-cold" and sent > len(requests):
                    report.notes.append(
                        f"{label} on {name}, round {round_no + 1}: about {sent:.0f} calls for "
                        f"{len(requests)} distinct periods, so some were cache hits"
                    )
                print(
                    f"  {label:<30} {name:<13} {result['rps']:8.1f} req/s  "
                    f"p50 {result['p50_ms']:7.1f}  p99 {result['p99_ms']:7.1f} ms  "
                    f"errors {result['errors']}",
                    flush=True,
                )
                if result["errors"]:
                    print(f"    first error: {result['first_error']}", flush=True)
        report.loadavg.append(f"after load {loadavg()}")
        await cleanup(server, cfg.large_db, a.second_tenant_id)

        try:
            # statements per request (embedded server log)
            if server.log_file is not None:
                await statement_logging(server, True)
                try:
                    for name, scenario in (
                        ("api", "portal-10"),
                        ("api", "portal"),
                        ("api", "portal-100"),
                        ("api", "bookings-client"),
                        ("api", "analytics-cold"),
                        ("api", "analytics-cached"),
                        ("api", "login"),
                        ("api", "switchTenant"),
                        ("api", "createTask"),
                        ("floor", "portal"),
                        ("postgraphile", "pg-portal-10"),
                        ("postgraphile", "pg-portal"),
                        ("postgraphile", "pg-portal-100"),
                    ):
                        if name not in servers:
                            continue
                        requests = sc[scenario]
                        n, warm = 20, None
                        if scenario == "analytics-cold":
                            # a period not asked for so far, warmed up with another one (the
                            # same period would be a cache hit)
                            requests, n, warm = [requests[7700]], 1, requests[7701]
                        counted = await count_statements(
                            server, servers[name], cfg.large_db, requests[0], n, warm
                        )
                        report.statements[f"{name}|{scenario}"] = counted
                finally:
                    await statement_logging(server, False)
                await cleanup(server, cfg.large_db, a.second_tenant_id)
            else:
                report.notes.append("statements per request: counted only on the embedded server")

        except Exception as exc:  # report what was measured, say what was not
            _failed(report, "statement count", exc)

        try:
            # peak RSS of a fresh worker across many requests (full scale): the portal page,
            # the CLIENT's bookings and the viewer, in turn
            rss_requests = int(os.environ.get("BENCH_RSS_REQUESTS", cfg.rss_requests))
            if rss_requests:
                api = servers["api-rss"] = start_api("api-rss", large_urls.runtime, secret)
                mix = sc["portal-10"] + sc["bookings-client"] + sc["viewer"]
                chunk = max(1, rss_requests // 10)
                for done in range(0, rss_requests, chunk):
                    result = drive(api, mix, concurrency=cfg.concurrency, warmup=0.2, total=chunk)
                    report.rss.append(
                        {
                            "requests": done + chunk,
                            "rss_mib": api.rss_kib() / 1024,
                            "peak_rss_mib": api.peak_rss_kib() / 1024,
                            "rps": result["rps"],
                            "errors": result["errors"],
                        }
                    )
                    print(
                        f"  after {done + chunk:,} requests: RSS {api.rss_kib() / 1024:.1f} MiB, "
                        f"peak {api.peak_rss_kib() / 1024:.1f} MiB ({result['rps']:.0f} req/s)",
                        flush=True,
                    )
        except Exception as exc:  # report what was measured, say what was not
            _failed(report, "RSS", exc)
    finally:
        for srv in servers.values():
            srv.stop()


def _failed(report: Report, section: str, exc: Exception) -> None:
    import traceback

    traceback.print_exc()
    report.notes.append(f"{section}: failed ({type(exc).__name__}: {exc})")


async def _switched(port: int, admin: Session, tenant_gid: str) -> Session:
    """The admin's session moved to the second tenant (createTask writes there, away from the
    measured tenant)."""
    status, head, data = await exchange(
        port, admin.host, body(SWITCH, {"t": tenant_gid}), admin.headers()
    )
    payload = json.loads(data)
    if status != 200 or "errors" in payload:
        raise RuntimeError(f"switchTenant failed: {status} {data[:300]!r}")
    cookie = admin.cookie
    for line in head.decode().split("\r\n"):
        if line.lower().startswith("set-cookie:"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(line.split(":", 1)[1].strip())
            if "tenant_sig" in jar:
                cookie = jar["tenant_sig"].value
    return Session(payload["data"]["switchTenant"]["token"], cookie, f"{SECOND_SLUG}.localhost")


async def _check_same_json(servers: dict[str, Server], sc: dict[str, Any], report: Report) -> None:
    """The floor must answer exactly what the API answers for the portal page."""
    r = sc["portal"][0]
    answers = []
    for name in ("api", "floor"):
        _status, _head, data = await exchange(
            servers[name].port, r["host_header"], r["body"], r["headers"]
        )
        answers.append(json.loads(data))
    report.same_json = answers[0] == answers[1]
    if not report.same_json:
        report.notes.append("the floor's JSON differs from the API's for the portal page")
    if "postgraphile" in servers:
        p = sc["pg-portal"][0]
        _status, _head, data = await exchange(
            servers["postgraphile"].port, p["host_header"], p["body"], p["headers"]
        )
        edges = json.loads(data).get("data", {}).get("allTasks", {}).get("edges", [])
        ours = answers[0]["data"]["tasks"]["edges"]
        same = [e["node"]["title"] for e in edges] == [e["node"]["title"] for e in ours]
        if not same:
            report.notes.append(f"PostGraphile's page differs from the API's: {data[:300]!r}")


# --- the report --------------------------------------------------------------------------------


def _median(results: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def render(report: Report, cfg: Scale) -> str:
    lines = [f"## Results ({report.scale} scale)", ""]
    m = report.machine
    lines.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"Python {m['python']}, Node {m['node'] or 'absent'}, {report.postgres}."
    )
    lines.append(f"Load average (1/5/15 min): {'; '.join(report.loadavg)}.")
    for name, d in report.datasets.items():
        how = (
            f"generated in {d['load_seconds']} s ({d['rows']:,} rows)"
            if d["load_seconds"] is not None
            else "reused"
        )
        lines.append(f"Dataset `{name}`: {d['spec']}, {how}.")
    lines += [
        "",
        f"Load: {cfg.runs} interleaved rounds × {cfg.duration:g} s after {cfg.warmup:g} s warm-up,"
        f" {cfg.concurrency} connections; medians of the rounds (spread: min–max req/s).",
        "",
        "| scenario | server | req/s | (min–max) | p50 ms | p95 ms | p99 ms | errors | peak RSS MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, results in report.load.items():
        label, name = key.split("|")
        rps = [r["rps"] for r in results]
        lines.append(
            f"| {label} | {name} | {statistics.median(rps):.1f} | {min(rps):.0f}–{max(rps):.0f} "
            f"| {_median(results, 'p50_ms'):.1f} | {_median(results, 'p95_ms'):.1f} "
            f"| {_median(results, 'p99_ms'):.1f} | {sum(r['errors'] for r in results)} "
            f"| {max(r['peak_rss_mib'] for r in results):.0f} |"
        )
    if report.statements:
        lines += [
            "",
            "SQL statements per request (server log, `log_statement = all`, 20 sequential "
            "requests): all statements; queries (without BEGIN/COMMIT/ROLLBACK); the pool's "
            "pre-ping (an empty BEGIN/ROLLBACK):",
            "",
            "| server | scenario | statements | queries | pre-ping |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for key, counted in report.statements.items():
            name, scenario = key.split("|")
            if counted:
                lines.append(
                    f"| {name} | {scenario} | {counted['statements']:.2f} "
                    f"| {counted['queries']:.2f} | {counted['pre_pings']:.2f} |"
                )
    if report.rls:
        lines += [
            "",
            "Row-level security's cost: the same sequential calls alternating between the API as "
            "the runtime role and as a BYPASSRLS role (policies off):",
            "",
            "| call | calls | median ms, RLS | median ms, no RLS | p95 RLS | p95 no RLS | cost |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for call, r in report.rls.items():
            a, b = r["rls"], r["norls"]
            lines.append(
                f"| {call} | {a['calls']} | {a['median_ms']:.1f} | {b['median_ms']:.1f} "
                f"| {a['p95_ms']:.1f} | {b['p95_ms']:.1f} | {a['median_ms'] / b['median_ms'] - 1:+.1%} |"
            )
    if report.rls_sql:
        r = report.rls_sql
        lines += [
            "",
            "The portal page's statements alone, in the database (BEGIN, `tenantgraph_begin`, the "
            "page, its users, COMMIT, as the floor sends them), alternating between the runtime "
            "role and the BYPASSRLS role:",
            "",
            "| calls | median ms, RLS | median ms, no RLS | p95 RLS | p95 no RLS | difference |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {r['calls']} | {r['rls_median_ms']:.2f} | {r['norls_median_ms']:.2f} "
            f"| {r['rls_p95_ms']:.2f} | {r['norls_p95_ms']:.2f} "
            f"| {r['rls_median_ms'] - r['norls_median_ms']:+.2f} ms |",
        ]
    portal = report.statements.get("api|portal")
    if portal:
        lines += ["", "The API's portal page, statement by statement (per request):", ""]
        lines += [f"- {count:g} × `{shape}`" for shape, count in portal["shapes"].items()]
    if report.latency:
        lines += [
            "",
            f"One tenant ({BIG_SLUG}, 10,000 tasks) at two database sizes, sequential calls "
            "alternating between the two servers (analytics: a 90-day period; cold = a period "
            "not asked before):",
            "",
            "| call | database | calls | median ms | p95 ms |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for key, r in report.latency.items():
            call, db = key.split("|")
            desc = {
                "1000": f"{cfg.large.tenants:,} tenants / {cfg.large.tasks:,} tasks",
                "10": f"{TEN.tenants} tenants / {TEN.tasks:,} tasks",
            }.get(db, db)
            lines.append(
                f"| {call} | {desc} | {r['calls']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} |"
            )
    if report.rss:
        lines += [
            "",
            "Peak RSS of a fresh API worker, per slice of requests (portal page of 10, the "
            "CLIENT's bookings, the viewer, in turn):",
            "",
            "| after requests | RSS MiB | peak RSS in the slice MiB | req/s | errors |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in report.rss:
            lines.append(
                f"| {r['requests']:,} | {r['rss_mib']:.1f} | {r['peak_rss_mib']:.1f} "
                f"| {r['rps']:.0f} | {r['errors']} |"
            )
    lines += ["", "### Targets", ""]
    lines += targets(report)
    if report.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in report.notes]
    if report.same_json is not None:
        lines.append(f"- the floor answers the same JSON as the API: {report.same_json}")
    return "\n".join(lines) + "\n"


def targets(report: Report) -> list[str]:
    out = []

    def rps(name: str) -> float | None:
        results = report.load.get(f"portal page (tasks first 50)|{name}")
        return statistics.median(r["rps"] for r in results) if results else None

    api, floor, pg, norls = rps("api"), rps("floor"), rps("postgraphile"), rps("api-norls")
    if api and pg:
        out.append(
            f"- portal page ≥ PostGraphile: {api:.0f} vs {pg:.0f} req/s = {api / pg:.2f}× "
            f"({'met' if api >= pg else 'not met'})"
        )
    if api and floor:
        out.append(
            f"- portal page ≥ 50% of the floor: {api / floor:.0%} "
            f"({'met' if api >= floor / 2 else 'not met'})"
        )
    if api and norls:
        cost = norls / api - 1
        out.append(
            f"- RLS cost ≤ 5%, portal page by throughput under load: {cost:+.1%} "
            f"({'met' if cost <= 0.05 else 'not met'}; noisy, see the sequential figures)"
        )
    for call, r in report.rls.items():
        cost = r["rls"]["median_ms"] / r["norls"]["median_ms"] - 1
        out.append(
            f"- RLS cost ≤ 5%, {call} by median latency: {cost:+.1%} "
            f"({'met' if cost <= 0.05 else 'not met'})"
        )
    portal_rls = report.rls.get("portal")
    if report.rls_sql and portal_rls:
        extra = report.rls_sql["rls_median_ms"] - report.rls_sql["norls_median_ms"]
        share = extra / portal_rls["rls"]["median_ms"]
        out.append(
            f"- RLS cost ≤ 5%, portal, the policies' time in the database over the API's request: "
            f"{extra:+.2f} of {portal_rls['rls']['median_ms']:.1f} ms = {share:+.1%} "
            f"({'met' if share <= 0.05 else 'not met'})"
        )
    counts = {k: v for k, v in report.statements.items() if v and k.startswith("api|portal")}
    if counts:
        per = {k.split("|")[1]: v["queries"] for k, v in counts.items()}
        full = {k.split("|")[1]: v["statements"] for k, v in counts.items()}
        constant = len(set(per.values())) == 1
        worst = max(per.values())
        out.append(
            f"- statements per portal page ≤ 3 and constant in page size: queries {per}, "
            f"with BEGIN/COMMIT {full} ({'met' if worst <= 3 and constant else 'not met'})"
        )
    for call in ("portal", "analytics-cold"):
        big = report.latency.get(f"{call}|1000")
        small = report.latency.get(f"{call}|10")
        if big and small:
            ratio = big["median_ms"] / small["median_ms"]
            out.append(
                f"- {call} median at {next(iter(report.datasets))} vs 10 "
                f"tenants (same tenant): {big['median_ms']:.1f} / {small['median_ms']:.1f} ms = {ratio:.2f}× "
                f"({'met' if ratio <= 1.2 else 'not met'}, target ≤ 1.2×)"
            )
    cold = report.latency.get("analytics-cold|1000")
    if cold:
        out.append(
            f"- analytics cold call on the 10,000-task tenant < 50 ms: median "
            f"{cold['median_ms']:.1f} ms, p95 {cold['p95_ms']:.1f} ms "
            f"({'met' if cold['median_ms'] < 50 else 'not met'})"
        )
    if len(report.rss) >= 2:
        values = [r["peak_rss_mib"] for r in report.rss]
        first = values[0]
        spread = max(abs(v - first) / first for v in values)
        out.append(
            f"- peak RSS stable ±5% over {report.rss[-1]['requests']:,} requests: "
            f"{values[0]:.1f} → {values[-1]:.1f} MiB, largest move {spread:.1%} "
            f"({'met' if spread <= 0.05 else 'not met'})"
        )
    return out

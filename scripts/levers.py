"""A quick, repeatable probe of the portal task page against a running `tenantgraph serve`.

    .venv/bin/tenantgraph migrate && .venv/bin/tenantgraph seed --demo
    .venv/bin/tenantgraph serve --port 8731 &
    .venv/bin/python scripts/levers.py --port 8731 --requests 2000 --concurrency 8

Signs in as alice@acme.test (demo password), then fires the page (`tasks(first: 50)` with
assignee and createdBy, no totalCount) with a fixed concurrency after a warm-up, and prints
throughput and latency percentiles, and with `--pid` (the server's process) the CPU time the
server process and PostgreSQL (every process under the postmaster of `--pgdata`) spent per
request: on a shared machine wall-clock figures follow the neighbours' load, CPU time per
request much less. Not the benchmark of `make bench`: a probe for one change
at a time, run before and after it on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from pathlib import Path

import httpx

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> tuple[float, float]:
    """(own, reaped children's) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _postmaster(pgdata: str) -> int:
    return int(Path(pgdata, "postmaster.pid").read_text().split()[0])


def database_cpu(postmaster: int) -> float:
    own, reaped = _cpu(postmaster)
    total = own + reaped
    for child in _children(postmaster):
        with contextlib.suppress(OSError):
            total += sum(_cpu(child))
    return total


PAGE = (
    "query { tasks(first: 50) { edges { node { id title status assignee { email } "
    "createdBy { email } } } } }"
)
LOGIN = 'mutation { login(email: "alice@acme.test", password: "demo-password") { token } }'


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pid", type=int, help="the server process (CPU per request)")
    parser.add_argument("--pgdata", default=".pgdata/pg", help="the embedded server's cluster")
    args = parser.parse_args()
    postmaster = None
    if args.pid:
        postmaster = _postmaster(args.pgdata)
    url = f"http://127.0.0.1:{args.port}/graphql"
    host = {"Host": f"acme.localhost:{args.port}"}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        response = await client.post(url, json={"query": LOGIN}, headers=host)
        response.raise_for_status()
        token = response.json()["data"]["login"]["token"]
        cookie = response.cookies["tenant_sig"]
        client.cookies.clear()
        headers = {**host, "Authorization": f"Bearer {token}", "Cookie": f"tenant_sig={cookie}"}

        async def one() -> float:
            started = time.perf_counter()
            r = await client.post(url, json={"query": PAGE}, headers=headers)
            elapsed = time.perf_counter() - started
            body = r.json()
            if r.status_code != 200 or "errors" in body or not body["data"]["tasks"]["edges"]:
                raise SystemExit(f"unexpected answer: {body}")
            return elapsed

        async def run(total: int) -> tuple[float, list[float]]:
            queue = iter(range(total))
            latencies: list[float] = []

            async def worker() -> None:
                for _ in queue:
                    latencies.append(await one())

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            return time.perf_counter() - started, latencies

        await run(args.warmup)
        for i in range(args.runs):
            if args.pid:
                app_before, db_before = sum(_cpu(args.pid)), database_cpu(postmaster)
            wall, lat = await run(args.requests)
            q = statistics.quantiles(lat, n=100)
            cpu = ""
            if args.pid:
                app_ms = (sum(_cpu(args.pid)) - app_before) * 1000 / args.requests
                db_ms = (database_cpu(postmaster) - db_before) * 1000 / args.requests
                cpu = f"  CPU/request: app {app_ms:5.2f} ms, PostgreSQL {db_ms:5.2f} ms"
            print(
                f"run {i + 1}: {args.requests / wall:7.1f} req/s  p50 {q[49] * 1000:6.2f} ms  "
                f"p95 {q[94] * 1000:6.2f} ms  p99 {q[98] * 1000:6.2f} ms  "
                f"(concurrency {args.concurrency}){cpu}"
            )


if __name__ == "__main__":
    asyncio.run(main())

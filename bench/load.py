"""The load driver: a process of its own that keeps a fixed number of HTTP/1.1 keep-alive
connections busy, after a warm-up, and reports throughput and latency percentiles as JSON.

A minimal client over asyncio streams (uvloop when available) so that the driver spends as little
of the shared CPU as possible: it writes prepared request bytes and reads `Content-Length` or
chunked bodies. Usage (the orchestrator, `bench.run`, calls it):

    python -m bench.load SCENARIO.json --concurrency 8 --warmup 2 --duration 5
    python -m bench.load SCENARIO.json --concurrency 8 --requests 10000

SCENARIO.json: {"host": "127.0.0.1", "port": 8001, "requests": [{"path": ..., "headers": {...},
"body": "..."}, ...]}; connections cycle through the requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any


def build_request(host_header: str, path: str, headers: dict[str, str], body: str) -> bytes:
    data = body.encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host_header}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes, bytes]:
        """Status, head and body of one exchange."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length >= 0:
            return status, head, await self.reader.readexactly(length)
        if not chunked:
            raise RuntimeError("a response without Content-Length or chunked encoding")
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return status, head, b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Recorder:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    recording: bool = False

    def add(self, seconds: float, status: int, body: bytes) -> None:
        if not self.recording:
            return
        self.latencies.append(seconds)
        if status != 200 or b'"errors"' in body:
            self.errors += 1
            if self.first_error is None:
                self.first_error = f"{status} {body[:300].decode(errors='replace')}"


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(latencies: list[float], seconds: float, errors: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "errors": errors,
        "seconds": seconds,
        "rps": len(ordered) / seconds if seconds else 0.0,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p95_ms": percentile(ordered, 0.95) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
    }


async def drive(
    scenario: dict[str, Any],
    *,
    concurrency: int,
    warmup: float,
    duration: float | None,
    total: int | None,
) -> dict[str, Any]:
    host, port = scenario["host"], scenario["port"]
    raws = [
        build_request(r.get("host_header", host), r["path"], r.get("headers", {}), r["body"])
        for r in scenario["requests"]
    ]
    rec = Recorder()
    remaining = [total if total is not None else -1]
    stop = asyncio.Event()
    counter = [0]

    async def worker(offset: int) -> None:
        conn = await Connection.open(host, port)
        i = offset
        try:
            while not stop.is_set():
                if rec.recording and remaining[0] == 0:
                    break
                if rec.recording and remaining[0] > 0:
                    remaining[0] -= 1
                raw = raws[i % len(raws)]
                i += concurrency
                started = time.perf_counter()
                status, _head, body = await conn.request(raw)
                rec.add(time.perf_counter() - started, status, body)
                counter[0] += 1
        finally:
            conn.close()

    tasks = [asyncio.create_task(worker(k)) for k in range(concurrency)]
    await asyncio.sleep(warmup)
    rec.recording = True
    started = time.perf_counter()
    if total is None:
        assert duration is not None
        await asyncio.sleep(duration)
        stop.set()
        elapsed = time.perf_counter() - started
        rec.recording = False
        await asyncio.gather(*tasks)
    else:
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    result = summary(rec.latencies, elapsed, rec.errors)
    result["first_error"] = rec.first_error
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("scenario")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--requests", type=int, default=None, help="a fixed number instead")
    args = parser.parse_args(argv)
    with open(args.scenario, encoding="utf-8") as f:
        scenario = json.load(f)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    result = runner(
        drive(
            scenario,
            concurrency=args.concurrency,
            warmup=args.warmup,
            duration=args.duration,
            total=args.requests,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

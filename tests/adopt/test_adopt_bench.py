"""A legacy database of about 100,000 rows adopted in one go (`make bench`; never in `make test`).
Prints the time of each phase; asserts only what must hold (counts, isolation checks)."""

from __future__ import annotations

import time

import pytest
from rich.console import Console
from sqlalchemy.engine import URL, Connection

from app.adopt.legacy import create_legacy_schema, generate_legacy_data
from app.adopt.report import render
from app.adopt.runner import Requested, adopt
from tests.adopt.fixtures import run_sync, scratch_database
from tests.adopt.test_adopt import _runtime_problems

pytestmark = pytest.mark.bench

TASKS = 48_000  # with the rows that hang off them: about 100,000 legacy rows


def _generate(conn: Connection) -> dict[str, int]:
    create_legacy_schema(conn)
    return generate_legacy_data(conn, tasks=TASKS)


@pytest.mark.parametrize("orphans", ["system", "archive"])
async def test_adopt_100k_rows(admin_url: URL, orphans: str) -> None:
    async with scratch_database(admin_url) as urls:
        started = time.perf_counter()
        legacy = await run_sync(urls.owner, _generate)
        generated = time.perf_counter()
        total = sum(legacy.values())
        assert total >= 100_000

        report = await adopt(
            urls.owner, urls.runtime_role, Requested(orphans=orphans, batch_size=5000)
        )
        adopted = time.perf_counter()

        render(report, Console(width=140))
        assert report.ok
        assert {c.table: c.legacy for c in report.counts} == legacy
        for c in report.counts:
            assert c.adopted == c.legacy - c.archived + c.copies
        assert await _runtime_problems(urls) == []
        print(
            f"\nadopt ({orphans}): {total:,} legacy rows generated in {generated - started:.1f} s,"
            f" adopted in {adopted - generated:.1f} s"
            f" ({total / (adopted - generated):,.0f} rows/s, batches of 5,000)"
        )

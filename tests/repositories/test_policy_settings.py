"""Policies read the request's settings once per statement, not once per row: every
`current_setting(...)` in a policy sits in a sub-select (an InitPlan, evaluated once), so the
cost of row-level security does not grow with the rows a statement reads."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers import DemoData

SET_TENANT = text("SELECT set_config('app.current_tenant_id', :t, true)")


def _per_row_reads(expression: str) -> list[str]:
    """The `current_setting(` calls of a policy expression that are not alone in a sub-select
    (`( SELECT current_setting(...)` or `( SELECT (NULLIF(current_setting(...)`)."""
    found = []
    for match in re.finditer(r"current_setting\(", expression):
        before = re.sub(r"[\s(]", "", expression[: match.start()])
        if not (before.endswith("SELECT") or before.endswith("SELECTNULLIF")):
            found.append(expression[max(0, match.start() - 40) : match.end() + 30])
    return found


async def test_every_policy_reads_the_settings_in_a_sub_select(owner_conn: AsyncConnection) -> None:
    rows = (
        await owner_conn.execute(
            text(
                "SELECT tablename, policyname, coalesce(qual, '') AS qual,"
                " coalesce(with_check, '') AS with_check FROM pg_policies"
                " WHERE schemaname = 'public'"
            )
        )
    ).all()
    reading = [r for r in rows if "current_setting" in r.qual + r.with_check]
    assert len(reading) >= 20  # the tenant policies are there to be checked
    problems = {
        f"{r.tablename}.{r.policyname}": _per_row_reads(r.qual) + _per_row_reads(r.with_check)
        for r in reading
    }
    assert {name: calls for name, calls in problems.items() if calls} == {}


def test_the_check_itself_tells_a_per_row_read() -> None:
    once = "(tenant_id = ( SELECT (NULLIF(current_setting('app.current_tenant_id'::text, true)"
    assert _per_row_reads(once) == []
    assert _per_row_reads("(tenant_id = (current_setting('app.current_tenant_id'))::uuid)")


async def test_the_setting_is_read_once_per_statement(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    # given each of two tenants bound in turn, on the runtime role
    for slug, other in (("acme", "globex"), ("globex", "acme")):
        await runtime_conn.execute(SET_TENANT, {"t": str(demo.tenants[slug])})
        # when its tasks are read
        plan = "\n".join(
            r[0]
            for r in await runtime_conn.execute(
                text("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT id FROM tasks")
            )
        )
        seen = {r.id for r in await runtime_conn.execute(text("SELECT id FROM tasks"))}
        # then the policy's setting is an InitPlan run once, and only that tenant's rows come back
        assert re.search(
            r"InitPlan \d+[^\n]*\n\s+->  Result \(actual rows=1(\.00)? loops=1\)", plan
        ), plan
        assert seen == demo.tasks[slug]
        assert not seen & demo.tasks[other]

"""Helpers shared by the admin-surface tests: statement counting on the test connection, and
reading rows back through the runtime role bound to one tenant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection


@contextmanager
def counting_statements(conn: AsyncConnection) -> Iterator[list[str]]:
    """Collect the SQL statements run on `conn` (savepoint bookkeeping left out)."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sync_conn = conn.sync_connection
    assert sync_conn is not None
    event.listen(sync_conn, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(sync_conn, "before_cursor_execute", count)


@pytest.fixture
def as_tenant(runtime_conn: AsyncConnection):  # type: ignore[no-untyped-def]
    """Run one statement on the test connection as the runtime role bound to a tenant (what a
    request of that tenant could see)."""

    async def run(tenant_id: Any, sql: str, **params: Any) -> list[Any]:
        await runtime_conn.execute(
            text("SELECT set_config('app.current_tenant_id', :t, true)"), {"t": str(tenant_id)}
        )
        result = await runtime_conn.execute(text(sql), params)
        return list(result.all()) if result.returns_rows else []

    return run

"""Reading the database as the runtime role inside the test's transaction (so that what the
requests wrote is visible), bound to one tenant like a request would be."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

BIND = text(
    "SELECT set_config('app.current_tenant_id', :t, true),"
    " set_config('app.current_user_id', '', true), set_config('app.public_tenant_id', '', true)"
)


async def rows(
    conn: AsyncConnection, tenant_id: uuid.UUID, sql: str, params: dict[str, Any] | None = None
) -> list[Any]:
    """The rows `sql` returns when run in `tenant_id`."""
    await conn.execute(BIND, {"t": str(tenant_id)})
    return list((await conn.execute(text(sql), params or {})).all())


async def scalar(
    conn: AsyncConnection, tenant_id: uuid.UUID, sql: str, params: dict[str, Any] | None = None
) -> Any:
    """The single value `sql` returns when run in `tenant_id`."""
    await conn.execute(BIND, {"t": str(tenant_id)})
    return (await conn.execute(text(sql), params or {})).scalar_one()


class StatementCounter:
    """Counts the statements sent on `conn` while active (savepoint bookkeeping excluded)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.statements: list[str] = []
        sync = conn.sync_connection
        assert sync is not None
        self._sync = sync

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            self.statements.append(statement)

    def __enter__(self) -> Callable[[], int]:
        event.listen(self._sync, "before_cursor_execute", self._count)
        return lambda: len(self.statements)

    def __exit__(self, *_exc: object) -> None:
        event.remove(self._sync, "before_cursor_execute", self._count)

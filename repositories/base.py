"""The one place tenancy is applied to data access."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, Executable, Result, Row, any_, bindparam
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.cache import Cache
from app.context import Role, TenantContext
from app.errors import BadUserInput, Conflict, Unauthenticated

T = TypeVar("T")

# A read-only result row: a model's columns under their attribute names (see `columns`).
Values: TypeAlias = Row[Any]

# PostgreSQL SQLSTATEs mapped to API errors.
_UNIQUE_VIOLATION = "23505"
_FOREIGN_KEY_VIOLATION = "23503"
_CHECK_VIOLATION = "23514"
_EXCLUSION_VIOLATION = "23P01"
# What a refused row means to a caller, for constraints whose name is worth explaining.
_CONSTRAINT_MESSAGES = {
    "ex_bookings_staff_overlap": "The staff member already has a booking at that time",
}


def _session_lock(session: AsyncSession) -> asyncio.Lock:
    """GraphQL resolves sibling fields concurrently, but one session runs one statement at a
    time: every repository on a session shares this lock."""
    lock = session.info.get("lock")
    if lock is None:
        lock = session.info["lock"] = asyncio.Lock()
    return lock


class Repository:
    def __init__(
        self, session: AsyncSession, ctx: TenantContext, *, cache: Cache | None = None
    ) -> None:
        self.session = session
        self.ctx = ctx
        # per-tenant results (app.cache builds every key from the tenant id); None: no caching
        self.cache = cache
        self._lock = _session_lock(session)

    async def _serialised(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one database operation alone on the session and to its end.

        graphql-core cancels sibling resolvers when one of them fails into a non-null parent; a
        statement cut off mid-flight would leave the connection unusable (and the request's
        rollback with it). So the operation runs shielded: a cancelled caller waits for it to
        finish, then gives way."""

        async def run() -> T:
            async with self._lock:
                try:
                    return await operation()
                except IntegrityError as exc:
                    raise _integrity_error(exc) from None

        task = asyncio.ensure_future(run())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task])
            raise

    async def _execute(self, statement: Executable, params: Any = None) -> Result[Any]:
        return await self._serialised(lambda: self.session.execute(statement, params))

    async def _flush(self) -> None:
        await self._serialised(self.session.flush)

    async def _refresh(self, instance: object) -> None:
        await self._serialised(lambda: self.session.refresh(instance))

    async def _delete(self, instance: object) -> None:
        await self._serialised(lambda: self.session.delete(instance))


class TenantRepository(Repository):
    """Reads filter by the context tenant, inserts are stamped with it, updates and deletes are
    bounded by it. Without a tenant in the context every method refuses."""

    @property
    def tenant_id(self) -> uuid.UUID:
        if self.ctx.tenant_id is None:
            raise Unauthenticated()
        return self.ctx.tenant_id

    @property
    def user_id(self) -> uuid.UUID:
        if self.ctx.user_id is None:
            raise Unauthenticated()
        return self.ctx.user_id

    @property
    def is_client(self) -> bool:
        return self.ctx.role is Role.CLIENT


def _integrity_error(exc: IntegrityError) -> Exception:
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
        getattr(exc.orig, "__cause__", None), "sqlstate", None
    )
    if sqlstate in (_UNIQUE_VIOLATION, _EXCLUSION_VIOLATION):
        constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
        return Conflict(_CONSTRAINT_MESSAGES.get(constraint or ""))
    if sqlstate in (_FOREIGN_KEY_VIOLATION, _CHECK_VIOLATION):
        return BadUserInput("The input refers to something that does not exist or is invalid")
    return exc


def one_of(column: Any, ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """`column = ANY($1::uuid[])`: one statement text whatever the number of ids, so a batched
    load is prepared once per connection and reused (an `IN` list renders one placeholder per
    id, which makes a new prepared statement for every batch size)."""
    return column == any_(bindparam(None, list(ids), type_=ARRAY(UUID(as_uuid=True))))


@functools.cache
def columns(model: type) -> tuple[Any, ...]:
    """The mapped columns of `model`, for `select(*columns(Model))` in reads that only hand
    values on (a page of a list): plain result rows with the model's attribute names instead of
    ORM instances, several times cheaper to build and never tracked by the session."""
    return tuple(getattr(model, attr.key) for attr in sa_inspect(model).column_attrs)

"""A super-admin's platform session reaches no organization's rows through any field.

The platform session names no tenant: every query and mutation of the schema (but the platform
dashboard itself) is called in one, with ids, filters and inputs that belong to globex. Each
must be refused or answer empty, carry nothing of globex, and leave globex's rows unchanged."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers import Session, error_codes
from tests.schema.platform.test_platform import platform_login
from tests.security.foreign import ForeignTenant, fingerprint
from tests.security.schema_walk import Operation
from tests.security.test_cross_tenant_sweep import (  # noqa: F401  (module fixtures)
    SWEPT,
    call,
    foreign_values,
    globex,
    tables,
)

PLATFORM_OPERATIONS = frozenset({"platformAnalytics"})
REFUSED = {"FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND", "BAD_USER_INPUT"}
_SESSIONS: dict[str, Session] = {}


async def platform_session(client: httpx.AsyncClient) -> Session:
    """Signing in is slow on purpose (password hashing); the token stays valid across tests."""
    if "root" not in _SESSIONS:
        _SESSIONS["root"] = await platform_login(client)
    return _SESSIONS["root"]


@pytest.mark.parametrize(
    "op",
    [op for op in SWEPT if op.field_name not in PLATFORM_OPERATIONS],
    ids=lambda op: op.name.replace(" ", "-"),
)
async def test_a_platform_session_reaches_no_organization_through_any_field(
    op: Operation,
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    globex: ForeignTenant,  # noqa: F811
    tables: list[str],  # noqa: F811
) -> None:
    before = await fingerprint(runtime_conn, globex.tenant_id, tables)
    # given a super-admin's platform session, when it calls the field with globex's values
    session = await platform_session(client)
    _, body = await call(client, op, foreign_values(globex), session)
    # then it is refused, or answers nothing of globex
    assert set(error_codes(body)) <= REFUSED, (op.name, body)
    assert not globex.leaks(body.get("data") or {}), (op.name, body)
    assert not globex.leaks([e for e in body.get("errors", []) if "path" in e]), (op.name, body)
    # and globex's rows are exactly as they were
    assert await fingerprint(runtime_conn, globex.tenant_id, tables) == before, op.name

"""Every query and mutation of the schema, called by members of acme (alice, ADMIN; dave, STAFF;
carol, CLIENT) with ids, filters and inputs that belong to globex. The calls are generated from
the exported schema (tests/security/schema_walk.py): a new field is swept as soon as it exists,
and a field whose ids the generator cannot type fails here until it is taught.

For each call:
- the answer is `null`, empty, NOT_FOUND, BAD_USER_INPUT (validation), FORBIDDEN only where the
  role is too low whatever the tenant, or a success that only touched acme; never INTERNAL;
- globex's ids answer exactly like ids that exist nowhere (same codes, same null-ness). This is
  also what shows that a FORBIDDEN is the role check, made before any lookup: the same call
  naming objects that exist nowhere answers FORBIDDEN too;
- no answer, error or data, carries globex's ids (uuid or global id), slug, name or the emails of
  its own members (errors about the variables may quote back only what the caller sent);
- globex's rows are unchanged: count and checksum of each of its tables, its tenant row and its
  members' user rows, before and after. They are read in the test's own transaction, bound to
  globex like a request of globex: the requests' writes are uncommitted there, so the owner
  connection (a separate transaction) could not see them.

Left out, each with tests of its own in tests/schema/auth/test_auth.py: `login`, `logout`,
`revokeAllSessions` and `switchTenant` (the session operations; switching to a tenant without a
membership is test_switch_tenant_needs_a_membership).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schema.ids import encode_id
from tests.helpers import Session, error_codes, gql, login
from tests.security.foreign import ForeignTenant, fingerprint, load_foreign, tenant_tables
from tests.security.schema_walk import (
    Operation,
    Values,
    build_arguments,
    document,
    graphql_schema,
    operations,
)

SESSION_OPERATIONS = frozenset({"login", "logout", "revokeAllSessions", "switchTenant"})
SWEPT = [op for op in operations(graphql_schema()) if op.field_name not in SESSION_OPERATIONS]
# acme ADMIN, acme STAFF (initech's admin), acme CLIENT
CALLERS = ("alice@acme.test", "dave@initech.test", "carol@acme.test")
ALLOWED_CODES = {"NOT_FOUND", "BAD_USER_INPUT", "FORBIDDEN"}
# A custom domain serves one organization platform-wide: adding globex's answers CONFLICT (as
# any taken name does), which tells only that the name the caller typed is in use.
CONFLICT_ALLOWED = frozenset({"addDomain"})
# The caller's own memberships name globex for alice, who is also a globex STAFF member.
OWN_MEMBERSHIPS = frozenset({"viewer"})


@pytest.fixture(scope="module")
async def globex(owner_engine: AsyncEngine) -> ForeignTenant:
    async with owner_engine.connect() as conn:
        return await load_foreign(conn, "globex", home="acme")


@pytest.fixture(scope="module")
async def tables(owner_engine: AsyncEngine) -> list[str]:
    async with owner_engine.connect() as conn:
        return await tenant_tables(conn)


_SESSIONS: dict[str, Session] = {}


async def session_of(client: httpx.AsyncClient, email: str) -> Session:
    """Logins are slow on purpose (password hashing); a token stays valid across tests."""
    if email not in _SESSIONS:
        _SESSIONS[email] = await login(client, email, host="acme.localhost", tenant="acme")
    return _SESSIONS[email]


def _tag() -> str:
    return uuid.uuid4().hex[:6]


def foreign_values(globex: ForeignTenant) -> Values:
    strings = {
        "TaskFilter.search": globex.task_title,
        "ServiceFilter.search": globex.service_name,
        "MemberFilter.search": sorted(globex.member_emails)[0],
    }
    if globex.domains:
        strings["domain"] = globex.domains[0]
    return Values(ids=globex.gids, strings=strings, now=datetime.now(UTC), tag=_tag())


def missing_values() -> Values:
    """The same calls naming objects that exist nowhere."""

    def ids(type_name: str) -> list[str]:
        return [encode_id(type_name, uuid.uuid4()) for _ in range(2)]

    strings = {
        "TaskFilter.search": "no such task title",
        "ServiceFilter.search": "no such service name",
        "MemberFilter.search": "nobody-at-all@nowhere.example",
        "domain": "nowhere-at-all.example",
    }
    return Values(ids=ids, strings=strings, now=datetime.now(UTC), tag=_tag())


def outcome(body: dict[str, Any], field: str) -> tuple[tuple[str, ...], str]:
    """What a caller can tell apart: the error codes and the shape of the data."""
    data = (body.get("data") or {}).get(field)
    if data is None:
        shape = "null"
    elif isinstance(data, dict) and "totalCount" in data:
        shape = f"{data['totalCount']} items"
    elif isinstance(data, list):
        shape = f"{len(data)} items"
    else:
        shape = "value"
    return tuple(sorted(str(c) for c in error_codes(body))), shape


async def call(
    client: httpx.AsyncClient, op: Operation, values: Values, session: Session
) -> tuple[dict[str, Any], dict[str, Any]]:
    arguments = build_arguments(op, values)
    response = await gql(client, document(op, arguments), arguments, session=session)
    assert response.status_code == 200, (op.name, response.status_code, response.text)
    return arguments, response.json()


def check_answer(
    op: Operation,
    email: str,
    arguments: dict[str, Any],
    body: dict[str, Any],
    globex: ForeignTenant,
) -> None:
    codes = set(error_codes(body))
    allowed = ALLOWED_CODES | ({"CONFLICT"} if op.field_name in CONFLICT_ALLOWED else set())
    assert codes <= allowed, (op.name, email, body)
    for error in body.get("errors", []):
        assert "Not a valid" not in error["message"], (
            f"{op.name}: the sweep sent an id of the wrong type; fix ID_ARGUMENTS",
            error,
        )
    # Errors raised while resolving must not name globex at all; errors about the document and
    # its variables (no `path`) may quote back only what the caller itself sent.
    resolving = [e for e in body.get("errors", []) if "path" in e]
    assert not globex.leaks(resolving), (op.name, email, resolving)
    sent = globex.leaks(arguments)
    quoting = [e for e in body.get("errors", []) if "path" not in e]
    assert globex.leaks(quoting) <= sent, (op.name, email, quoting)
    data = body.get("data") or {}
    if op.field_name in OWN_MEMBERSHIPS:
        data = {k: v for k, v in data.items() if k not in OWN_MEMBERSHIPS}
    assert not globex.leaks(data), (op.name, email, globex.leaks(data), data)


@pytest.mark.parametrize("op", SWEPT, ids=lambda op: op.name.replace(" ", "-"))
async def test_another_tenants_objects_answer_like_missing_ones(
    op: Operation,
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    globex: ForeignTenant,
    tables: list[str],
) -> None:
    before = await fingerprint(runtime_conn, globex.tenant_id, tables)
    for email in CALLERS:
        # given an acme member, when it calls the field with globex's ids and values
        session = await session_of(client, email)
        arguments, foreign = await call(client, op, foreign_values(globex), session)
        _, missing = await call(client, op, missing_values(), session)

        # then the answer is one a missing object gives, and carries nothing of globex
        check_answer(op, email, arguments, foreign, globex)
        if op.field_name not in CONFLICT_ALLOWED:
            assert outcome(foreign, op.field_name) == outcome(missing, op.field_name), (
                op.name,
                email,
                arguments,
                foreign,
                missing,
            )
    # and globex's rows are exactly as they were
    assert await fingerprint(runtime_conn, globex.tenant_id, tables) == before, op.name


async def test_the_fingerprint_sees_every_row_of_globex(
    runtime_conn: AsyncConnection,
    owner_engine: AsyncEngine,
    globex: ForeignTenant,
    tables: list[str],
) -> None:
    # given globex's rows counted by the owner, when the sweep fingerprints globex
    seen = await fingerprint(runtime_conn, globex.tenant_id, tables)
    async with owner_engine.connect() as conn:
        for table in tables:
            counted = await conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": globex.tenant_id}
            )
            # then it sees every one of them (an empty fingerprint would prove nothing)
            assert seen[table][0] == counted.scalar_one(), table
    assert seen["tasks"][0] == len(globex.ids["Task"]) > 0
    assert seen["tenants"][0] == 1
    assert seen["users"][0] >= len(globex.member_emails) > 0


def test_every_field_is_swept_or_named_as_left_out() -> None:
    # given the schema, when the sweep lists its fields, then only the session operations are
    # left out, and arguments can be built for every field swept
    names = {op.field_name for op in operations(graphql_schema())}
    assert names >= SESSION_OPERATIONS
    assert {op.field_name for op in SWEPT} == names - SESSION_OPERATIONS
    for op in SWEPT:
        assert document(op, build_arguments(op, missing_values())).startswith(op.kind)

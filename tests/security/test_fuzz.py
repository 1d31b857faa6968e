"""Property-based fuzzing (hypothesis) of every input object type and of every field's own
arguments, as acme's ADMIN: values drawn from each type's definition in the exported schema
(unicode, NUL bytes and very long strings; extreme and out-of-range integers; datetimes of year 1
and 9999, naive and offset; ids of acme, of globex, of the wrong type, random and garbage; long
lists and duplicates), sent to every field that takes them.

Whatever is sent: never HTTP 5xx, never INTERNAL, every error has a code, no answer carries
globex's ids, slug, name or members, and globex's rows are unchanged.

Deterministic in CI (`derandomize=True`, no example database) and quick (five examples per type
and field). To search longer, with fresh random examples on each run:

    TENANTGRAPH_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/security/test_fuzz.py
"""

from __future__ import annotations

import base64
import os
import string
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schema.ids import encode_id
from tests.helpers import Session, gql, login
from tests.security.foreign import ForeignTenant, fingerprint, load_foreign, tenant_tables
from tests.security.schema_walk import (
    ID_TYPES,
    Operation,
    Values,
    build_arguments,
    document,
    graphql_schema,
    id_type,
    operations,
)

EXAMPLES = int(os.environ.get("TENANTGRAPH_FUZZ_EXAMPLES", "5"))
FUZZ = settings(
    max_examples=EXAMPLES,
    # the same examples on every CI run; a longer local run draws new ones each time (a failure
    # prints the @reproduce_failure line that replays it)
    derandomize="TENANTGRAPH_FUZZ_EXAMPLES" not in os.environ,
    print_blob=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one client for all examples: state only grows
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
SCHEMA = graphql_schema()
# the session operations have their own tests (tests/schema/auth); login is rate limited
LEFT_OUT = frozenset({"login", "logout", "revokeAllSessions", "switchTenant"})
FIELDS = [op for op in operations(SCHEMA) if op.field_name not in LEFT_OUT]
INPUT_TYPES = sorted(
    name
    for name, type_ in SCHEMA.type_map.items()
    if isinstance(type_, GraphQLInputObjectType) and not name.startswith("__")
)


# --- the two tenants --------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def tenants(owner_engine: AsyncEngine) -> tuple[ForeignTenant, ForeignTenant, list[str]]:
    """acme (the caller's), globex (the other one) and the tables that hold tenant rows."""
    async with owner_engine.connect() as conn:
        acme = await load_foreign(conn, "acme", home="globex")
        globex = await load_foreign(conn, "globex", home="acme")
        return acme, globex, await tenant_tables(conn)


_SESSIONS: dict[str, Session] = {}


async def admin_session(client: httpx.AsyncClient) -> Session:
    if "alice" not in _SESSIONS:
        _SESSIONS["alice"] = await login(client, "alice@acme.test", tenant="acme")
    return _SESSIONS["alice"]


# --- strategies from the schema ---------------------------------------------------------------

NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "x" * 100_000,
    "' OR 1=1 --",
    "%s%s%n",
    "\u202eevil",
    "😀" * 300,
    "../../etc/passwd",
    "<script>alert(1)</script>",
]
TEXT = st.one_of(st.text(max_size=40), st.sampled_from(NASTY_STRINGS))
INTS = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.sampled_from([0, -1, 1, 101, 2**31 - 1, -(2**31), 2**31, 2**53, -(2**63), 10**30]),
)
OFFSETS = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))]
)
DATETIMES = st.one_of(
    st.builds(
        lambda moment, tz: moment.replace(tzinfo=tz).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        OFFSETS,
    ),
    st.sampled_from(
        ["0001-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "not a date", "", "2026-02-30T10:00"]
    ),
)
DATES = st.one_of(
    st.dates().map(lambda d: d.isoformat()), st.sampled_from(["0000-00-00", "9999-99-99", ""])
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
GARBAGE_IDS = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-_=+/", max_size=60),
    st.sampled_from(["", "=", "VGFzazo=", encode_id("Task", uuid.UUID(int=0))]),
    st.builds(
        lambda kind, raw: base64.urlsafe_b64encode(f"{kind}:{raw}".encode()).decode(),
        st.sampled_from(sorted(ID_TYPES)),
        TEXT,
    ),
)


def id_strategy(type_name: str, acme: ForeignTenant, globex: ForeignTenant) -> Any:
    """Ids of the right type from both tenants, of other types, random and garbage."""
    choices = [
        st.uuids().map(lambda u: encode_id(type_name, u)),
        st.sampled_from(sorted(ID_TYPES)).flatmap(
            lambda other: st.uuids().map(lambda u: encode_id(other, u))
        ),
        GARBAGE_IDS,
    ]
    for tenant in (acme, globex):
        if tenant.gids(type_name):
            choices.append(st.sampled_from(tenant.gids(type_name)))
    return st.one_of(*choices)


def value_strategy(
    type_: GraphQLInputType,
    op: Operation,
    owner: str,
    name: str,
    acme: ForeignTenant,
    globex: ForeignTenant,
) -> Any:
    """Values for `type_`, mostly well-typed, sometimes not; null where the type allows it."""
    if isinstance(type_, GraphQLNonNull):
        return value_strategy(type_.of_type, op, owner, name, acme, globex)
    nullable = st.none()
    if isinstance(type_, GraphQLList):
        element = value_strategy(type_.of_type, op, owner, name, acme, globex)
        return nullable | st.one_of(
            st.lists(element, max_size=5),
            st.lists(element, min_size=95, max_size=130),  # around the page limit of 100
            element.flatmap(lambda v: st.lists(st.just(v), min_size=2, max_size=4)),  # duplicates
        )
    if isinstance(type_, GraphQLEnumType):
        return nullable | st.sampled_from([*type_.values, "NOT_A_VALUE"])
    if isinstance(type_, GraphQLInputObjectType):
        return nullable | input_strategy(type_, op, acme, globex)
    assert isinstance(type_, GraphQLScalarType)
    if type_.name == "ID":
        field = op.field if owner == "" else None
        return nullable | id_strategy(id_type(op.field_name, field, name), acme, globex)
    scalars = {
        "String": TEXT,
        "Int": INTS,
        "Boolean": st.booleans(),
        "Float": st.floats(allow_nan=False, allow_infinity=False),
        "DateTime": DATETIMES,
        "Date": DATES,
        "JSON": JSON_VALUES,
    }
    if type_.name not in scalars:
        raise AssertionError(f"{op.name}: teach the fuzzer the scalar {type_.name}")
    # now and then a value of another scalar type
    return nullable | scalars[type_.name] | st.sampled_from([True, 7, "seven"])


def input_strategy(
    type_: GraphQLInputObjectType, op: Operation, acme: ForeignTenant, globex: ForeignTenant
) -> Any:
    fields = {
        name: value_strategy(field.type, op, type_.name, name, acme, globex)
        for name, field in type_.fields.items()
    }
    return st.fixed_dictionaries({}, optional=fields)


# --- calling ----------------------------------------------------------------------------------


def takers(input_type: str) -> list[tuple[Operation, str]]:
    """Every (field, argument) that takes the input type."""
    found = []
    for op in FIELDS:
        for arg_name, arg in op.field.args.items():
            named = get_named_type(arg.type)
            if named is not None and named.name == input_type:
                found.append((op, arg_name))
    return found


def own_values(acme: ForeignTenant) -> Values:
    return Values(ids=acme.gids, strings={}, now=datetime.now(UTC))


async def send(
    client: httpx.AsyncClient,
    session: Session,
    op: Operation,
    arguments: dict[str, Any],
    globex: ForeignTenant,
) -> None:
    response = await gql(client, document(op, arguments), arguments, session=session)
    assert response.status_code < 500, (op.name, arguments, response.status_code, response.text)
    body = response.json()
    for error in body.get("errors", []):
        code = error.get("extensions", {}).get("code")
        assert code, (op.name, arguments, error)
        assert code != "INTERNAL", (op.name, arguments, error)
    # errors about the variables may quote back what was sent; nothing else may name globex
    quoted = globex.leaks(arguments)
    assert not globex.leaks(body.get("data")), (op.name, arguments, body)
    assert globex.leaks([e for e in body.get("errors", []) if "path" in e]) == set(), body
    assert globex.leaks(body.get("errors", [])) <= quoted, (op.name, arguments, body)


def test_every_input_type_is_taken_by_some_field() -> None:
    # given the schema, then every input type it declares can be fuzzed through a field
    assert INPUT_TYPES
    assert [name for name in INPUT_TYPES if not takers(name)] == []


@pytest.mark.parametrize("input_type", INPUT_TYPES)
@FUZZ
@given(data=st.data())
async def test_input_types_never_break_or_leak(
    input_type: str,
    data: st.DataObject,
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    tenants: tuple[ForeignTenant, ForeignTenant, list[str]],
) -> None:
    acme, globex, tables = tenants
    session = await admin_session(client)
    before = await fingerprint(runtime_conn, globex.tenant_id, tables)
    type_ = SCHEMA.type_map[input_type]
    assert isinstance(type_, GraphQLInputObjectType)
    for op, arg_name in takers(input_type):
        # given any value of the input type, when acme's admin sends it to each field taking it
        value = data.draw(input_strategy(type_, op, acme, globex), label=op.name)
        arguments = {**build_arguments(op, own_values(acme)), arg_name: value}
        # then nothing breaks and nothing of globex shows
        await send(client, session, op, arguments, globex)
    # and globex's rows are as they were
    assert await fingerprint(runtime_conn, globex.tenant_id, tables) == before


def _own_arguments(op: Operation) -> dict[str, GraphQLInputType]:
    """A field's arguments that are not input objects (those are fuzzed by type above)."""
    return {
        name: arg.type
        for name, arg in op.field.args.items()
        if not isinstance(get_named_type(arg.type), GraphQLInputObjectType)
    }


ARGUMENT_FIELDS = [op for op in FIELDS if _own_arguments(op)]


@pytest.mark.parametrize("op", ARGUMENT_FIELDS, ids=lambda op: op.name.replace(" ", "-"))
@FUZZ
@given(data=st.data())
async def test_field_arguments_never_break_or_leak(
    op: Operation,
    data: st.DataObject,
    client: httpx.AsyncClient,
    runtime_conn: AsyncConnection,
    tenants: tuple[ForeignTenant, ForeignTenant, list[str]],
) -> None:
    acme, globex, tables = tenants
    session = await admin_session(client)
    before = await fingerprint(runtime_conn, globex.tenant_id, tables)
    # given any values of the field's own arguments (ids, cursors, page sizes, dates, ...)
    strategies = {
        name: value_strategy(type_, op, "", name, acme, globex)
        for name, type_ in _own_arguments(op).items()
    }
    fuzzed = data.draw(st.fixed_dictionaries({}, optional=strategies))
    arguments = {**build_arguments(op, own_values(acme)), **fuzzed}
    # when acme's admin sends them, then nothing breaks and nothing of globex shows
    await send(client, session, op, arguments, globex)
    # and globex's rows are as they were
    assert await fingerprint(runtime_conn, globex.tenant_id, tables) == before


# --- what the fuzzer found, kept as plain examples --------------------------------------------

CREATE_COMPLIANCE_RECORD = """
mutation Create($input: CreateComplianceRecordInput!) {
  createComplianceRecord(input: $input) { id dueAt overdue }
}
"""
CREATE_TASK = """
mutation Create($input: CreateTaskInput!) { createTask(input: $input) { id dueAt } }
"""


@pytest.mark.parametrize(
    "due_at", ["0001-01-01T00:00:00", "0001-01-01T01:00:00+01:00", "9999-12-31T23:59:59.999999Z"]
)
@pytest.mark.parametrize(
    ("document_", "field"),
    [(CREATE_COMPLIANCE_RECORD, "createComplianceRecord"), (CREATE_TASK, "createTask")],
)
async def test_the_first_and_last_instants_are_refused(
    client: httpx.AsyncClient, due_at: str, document_: str, field: str
) -> None:
    # given acme's admin, when a due date is the calendar's first or last instant (which the
    # driver would store as -infinity / infinity and read back without a time zone)
    session = await admin_session(client)
    response = await gql(
        client, document_, {"input": {"title": "Edge", "dueAt": due_at}}, session=session
    )

    # then it is refused as input, not stored to break every later read
    body = response.json()
    assert response.status_code == 200
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert body["errors"][0]["path"] == [field]

"""Legacy databases for the adoption tests: a scratch database per test, the legacy shape, and
a small hand-made data set whose every row's destination is known."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.adopt.legacy import create_legacy_schema
from app.database import DatabaseUrls
from tests.conftest import drop_database, fresh_database

_counter = iter(range(1_000_000))


@asynccontextmanager
async def scratch_database(admin: URL) -> AsyncIterator[DatabaseUrls]:
    """An empty database (owner and runtime roles as in a real installation), dropped after."""
    name = f"tenantgraph_adopt_{os.getpid()}_{next(_counter)}"
    urls = await fresh_database(admin, name)
    try:
        yield urls
    finally:
        await drop_database(admin, name)


async def run_sync(url: URL, work, *, commit: bool = True):  # type: ignore[no-untyped-def]
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            result = await conn.run_sync(work)
            if commit:
                await conn.commit()
            return result
    finally:
        await engine.dispose()


def U(name: str) -> uuid.UUID:
    """A fixed id per name, so that tests can say which row went where."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"legacy/{name}")


@dataclass(frozen=True)
class Legacy:
    counts: dict[str, int]


LEGACY_ROWS = {
    "tenants": 2,
    "users": 6,
    "tenant_memberships": 5,
    "services": 3,
    "tasks": 6,
    "compliance_records": 3,
    "audit_logs": 4,
    "health_logs": 2,
    "organization_settings": 2,
}


def load_small_legacy(conn: Connection) -> None:
    """Two firms, acme and globex, and every case the adoption must handle.

    - carol works for both (default acme); task t3 is assigned to her by bob (globex only): it
      goes to globex, the tenant both belong to;
    - `Dave@Acme.test` and `dave@acme.test` are two accounts (legacy compared emails as written);
    - eve has no membership: her task t4 and her audit row are orphans; t5, created by alice
      and assigned to eve, goes to acme and loses the assignee (eve is not a member there);
    - carol's audit row a4 is about t3: it goes to globex, not to her home acme;
    - carol has two default memberships (the legacy product allowed it): acme, the older, stays
      her default;
    - service `consulting` is used by acme and globex (copied), `retired` by nobody (orphan);
    - organization settings have two rows (the older one is archived).
    """
    create_legacy_schema(conn)
    x = conn.execute
    x(
        text(
            "INSERT INTO tenants (id, slug, name) VALUES (:a, 'acme', 'Acme'),"
            " (:g, 'globex', 'Globex')"
        ),
        {"a": U("acme"), "g": U("globex")},
    )
    users = [
        ("alice", "alice@acme.test", "2020-01-01"),
        ("bob", "bob@globex.test", "2020-01-02"),
        ("carol", "carol@acme.test", "2020-01-03"),
        ("dave", "Dave@Acme.test", "2020-01-04"),
        ("dave2", "dave@acme.test", "2021-06-01"),
        ("eve", "eve@gone.test", "2020-01-05"),
    ]
    for key, email, created in users:
        x(
            text(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES (:i, :e, 'x', :c)"
            ),
            {"i": U(key), "e": email, "c": datetime.fromisoformat(created + "T00:00:00+00:00")},
        )
    for tenant, user, role, default in [
        ("acme", "alice", "ADMIN", True),
        ("globex", "bob", "ADMIN", True),
        ("acme", "carol", "STAFF", True),
        ("globex", "carol", "STAFF", True),
        ("acme", "dave", "CLIENT", True),
    ]:
        x(
            text(
                "INSERT INTO tenant_memberships (tenant_id, user_id, role, is_default)"
                " VALUES (:t, :u, :r, :d)"
            ),
            {"t": U(tenant), "u": U(user), "r": role, "d": default},
        )
    x(
        text(
            "UPDATE tenant_memberships SET created_at = created_at - interval '1 day'"
            " WHERE tenant_id = :a"
        ),
        {"a": U("acme")},
    )
    for key, slug in [("consulting", "consulting"), ("audit", "audit"), ("retired", "retired")]:
        x(
            text("INSERT INTO services (id, slug, name) VALUES (:i, :s, :n)"),
            {"i": U(key), "s": slug, "n": slug.title()},
        )
    for key, assignee, creator, service in [
        ("t1", "alice", "alice", "consulting"),
        ("t2", "bob", "bob", "consulting"),
        ("t3", "carol", "bob", None),
        ("t4", "eve", None, None),
        ("t5", "eve", "alice", "audit"),
        ("t6", None, None, None),
    ]:
        x(
            text(
                "INSERT INTO tasks (id, title, assignee_id, created_by_id, service_id)"
                " VALUES (:i, :t, :a, :c, :s)"
            ),
            {
                "i": U(key),
                "t": f"Task {key}",
                "a": assignee and U(assignee),
                "c": creator and U(creator),
                "s": service and U(service),
            },
        )
    for key, task, creator in [("c1", "t1", None), ("c2", "t4", None), ("c3", None, "bob")]:
        x(
            text(
                "INSERT INTO compliance_records (id, task_id, title, created_by_id)"
                " VALUES (:i, :t, :n, :c)"
            ),
            {"i": U(key), "t": task and U(task), "n": f"Record {key}", "c": creator and U(creator)},
        )
    for key, actor, target in [
        ("a1", "alice", None),
        ("a2", None, "t2"),
        ("a3", "eve", None),
        ("a4", "carol", "t3"),
    ]:
        x(
            text(
                "INSERT INTO audit_logs (id, actor_id, action, target_type, target_id)"
                " VALUES (:i, :a, 'task.update', :tt, :t)"
            ),
            {
                "i": U(key),
                "a": actor and U(actor),
                "tt": "task" if target else None,
                "t": target and U(target),
            },
        )
    for key, actor in [("h1", "bob"), ("h2", None)]:
        x(
            text(
                "INSERT INTO health_logs (id, actor_id, check_name, status, details)"
                " VALUES (:i, :a, 'realtime.connect', 'OK', '{\"ip\": \"10.0.0.1\"}')"
            ),
            {"i": U(key), "a": actor and U(actor)},
        )
    x(text("UPDATE organization_settings SET display_name = 'Old', updated_at = '2019-01-01'"))
    x(
        text(
            "INSERT INTO organization_settings (display_name, timezone)"
            " VALUES ('Legacy Firm', 'Europe/Paris')"
        )
    )

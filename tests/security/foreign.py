"""The other tenant, seen from the tests: its ids per type, the words that would betray it in an
answer, and a fingerprint of every row it owns."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from schema.ids import encode_id
from tests.schema.work.support import BIND

# global id type -> the table its rows live in
ID_TABLES: dict[str, str] = {
    "AuditEntry": "audit_logs",
    "AvailabilitySlot": "availability_slots",
    "Booking": "bookings",
    "ComplianceRecord": "compliance_records",
    "HealthLog": "health_logs",
    "Notification": "notifications",
    "Service": "services",
    "ServiceRequest": "service_requests",
    "Task": "tasks",
    "TaskTemplate": "task_templates",
}


@dataclass(frozen=True, repr=False)
class ForeignTenant:
    """Tenant `slug` as a member of `home` must never see it."""

    slug: str
    tenant_id: uuid.UUID
    name: str
    ids: dict[str, list[uuid.UUID]]  # global id type -> uuids, ordered
    member_emails: frozenset[str]  # people who belong to this tenant and not to `home`
    domains: tuple[str, ...]
    service_name: str
    task_title: str

    def __repr__(self) -> str:  # short, for hypothesis' and pytest's reports
        return f"ForeignTenant({self.slug!r})"

    def gids(self, type_name: str) -> list[str]:
        return [encode_id(type_name, value) for value in self.ids[type_name]]

    def secrets(self) -> set[str]:
        """Strings that must appear in no answer given to another tenant."""
        words = {self.slug, self.name, *self.member_emails}
        for type_name, values in self.ids.items():
            for value in values:
                words.add(str(value))
                words.add(encode_id(type_name, value))
        return words

    def leaks(self, payload: Any) -> set[str]:
        """The secrets found anywhere in `payload` (compared case-insensitively)."""
        flat = json.dumps(payload, ensure_ascii=False).lower()
        return {word for word in self.secrets() if word.lower() in flat}


async def load_foreign(conn: AsyncConnection, slug: str, home: str) -> ForeignTenant:
    """Read tenant `slug` through the owner connection (row-level security does not limit it)."""
    tenant = (
        await conn.execute(text("SELECT id, name FROM tenants WHERE slug = :s"), {"s": slug})
    ).one()
    ids: dict[str, list[uuid.UUID]] = {}
    for type_name, table in ID_TABLES.items():
        found = await conn.execute(
            text(f"SELECT id FROM {table} WHERE tenant_id = :t ORDER BY id"), {"t": tenant.id}
        )
        ids[type_name] = [r.id for r in found]
    members = (
        await conn.execute(
            text(
                "SELECT u.id, u.email FROM users u JOIN tenant_memberships m ON m.user_id = u.id"
                " WHERE m.tenant_id = :t AND NOT EXISTS (SELECT 1 FROM tenant_memberships h"
                "  JOIN tenants ht ON ht.id = h.tenant_id"
                "  WHERE h.user_id = u.id AND ht.slug = :home) ORDER BY u.email"
            ),
            {"t": tenant.id, "home": home},
        )
    ).all()
    ids["User"] = [r.id for r in members]
    ids["Tenant"] = [tenant.id]
    domains = await conn.execute(
        text("SELECT domain FROM tenant_domains WHERE tenant_id = :t ORDER BY domain"),
        {"t": tenant.id},
    )
    # a name and a title that only this tenant uses: searching for them must find nothing
    unique = (
        "SELECT {col} FROM {table} WHERE tenant_id = :t AND {col} NOT IN (SELECT x.{col}"
        " FROM {table} x JOIN tenants h ON h.id = x.tenant_id WHERE h.slug = :home)"
        " ORDER BY {col} LIMIT 1"
    )
    params = {"t": tenant.id, "home": home}
    service_name = (
        await conn.execute(text(unique.format(col="name", table="services")), params)
    ).scalar_one()
    task_title = (
        await conn.execute(text(unique.format(col="title", table="tasks")), params)
    ).scalar_one()
    return ForeignTenant(
        slug=slug,
        tenant_id=tenant.id,
        name=tenant.name,
        ids=ids,
        member_emails=frozenset(r.email for r in members),
        domains=tuple(r.domain for r in domains),
        service_name=service_name,
        task_title=task_title,
    )


async def tenant_tables(conn: AsyncConnection) -> list[str]:
    """Every table with a `tenant_id` column."""
    found = await conn.execute(
        text(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND column_name = 'tenant_id' ORDER BY table_name"
        )
    )
    return [r.table_name for r in found]


async def fingerprint(
    conn: AsyncConnection, tenant_id: uuid.UUID, tables: list[str]
) -> dict[str, tuple[int, str]]:
    """Row count and checksum of the tenant's rows in every table, its tenant row and its
    members' user rows, read in the test's own transaction (where the requests' writes are;
    the owner connection cannot see them before the rollback) as a request of that tenant."""
    parts = [
        f"SELECT '{table}' AS name, count(*) AS n,"
        f" coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') AS sum"
        f" FROM {table} r WHERE r.tenant_id = :t"
        for table in tables
    ]
    parts.append(
        "SELECT 'tenants', count(*), coalesce(md5(string_agg(r::text, '|')), '')"
        " FROM tenants r WHERE r.id = :t"
    )
    parts.append(
        "SELECT 'users', count(*),"
        " coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') FROM users r"
        " WHERE r.id IN (SELECT user_id FROM tenant_memberships WHERE tenant_id = :t)"
    )
    async with conn.begin_nested() as savepoint:  # the binding ends with the savepoint
        await conn.execute(BIND, {"t": str(tenant_id)})
        found = await conn.execute(text(" UNION ALL ".join(parts)), {"t": tenant_id})
        result = {r.name: (r.n, r.sum) for r in found}
        await savepoint.rollback()
    return result

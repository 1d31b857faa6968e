"""Operator data access (the CLI's): never undoes what an operator decided."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.context import Role
from app.errors import BadUserInput, Conflict
from app.seed import seed_demo
from repositories.platform import PlatformRepository
from tests.helpers import DemoData

MEMBERSHIP = "SELECT role, status FROM tenant_memberships WHERE tenant_id = :t AND user_id = :u"


async def test_changing_a_role_keeps_a_suspension(
    owner_conn: AsyncConnection, demo: DemoData
) -> None:
    session = AsyncSession(bind=owner_conn, join_transaction_mode="create_savepoint")
    params = {"t": demo.tenants["acme"], "u": demo.users["dave@initech.test"]}
    await owner_conn.execute(
        text(
            "UPDATE tenant_memberships SET status = 'suspended' WHERE tenant_id = :t AND user_id = :u"
        ),
        params,
    )
    change = await PlatformRepository(session).add_member(
        slug="acme", email="dave@initech.test", role=Role.CLIENT
    )
    assert (change.created, change.status) == (False, "suspended")
    assert tuple((await owner_conn.execute(text(MEMBERSHIP), params)).one()) == (
        "CLIENT",
        "suspended",
    )
    # and the demo seed, run again, leaves the operator's changes alone
    await seed_demo(session)
    assert tuple((await owner_conn.execute(text(MEMBERSHIP), params)).one()) == (
        "CLIENT",
        "suspended",
    )
    # globex's membership of the same person is untouched throughout (dave has none there)
    none = await owner_conn.execute(
        text(MEMBERSHIP), {"t": demo.tenants["globex"], "u": params["u"]}
    )
    assert none.first() is None


@pytest.mark.parametrize("slug", ["www", "api", "Acme", "-acme", "a" * 64, "acme.corp", ""])
async def test_unusable_slugs_are_refused(owner_conn: AsyncConnection, slug: str) -> None:
    session = AsyncSession(bind=owner_conn, join_transaction_mode="create_savepoint")
    with pytest.raises(BadUserInput):
        await PlatformRepository(session).create_tenant(slug=slug, name="Someone")


async def test_taken_slug_is_a_conflict(owner_conn: AsyncConnection) -> None:
    session = AsyncSession(bind=owner_conn, join_transaction_mode="create_savepoint")
    with pytest.raises(Conflict, match="already exists"):
        await PlatformRepository(session).create_tenant(slug="acme", name="Acme again")
    name = await owner_conn.scalar(text("SELECT name FROM tenants WHERE slug = 'acme'"))
    assert name == "Acme Advisory"

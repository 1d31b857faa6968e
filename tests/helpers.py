"""Shared test helpers: demo ids read back from the database, and a small GraphQL client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.seed import DEMO_PASSWORD
from schema.ids import encode_id


@dataclass(frozen=True)
class DemoData:
    tenants: dict[str, uuid.UUID]  # slug -> id
    users: dict[str, uuid.UUID]  # email -> id
    tasks: dict[str, frozenset[uuid.UUID]]  # slug -> task ids
    created_by: dict[str, frozenset[uuid.UUID]] = field(default_factory=dict)  # email -> acme tasks

    def task_gid(self, slug: str) -> str:
        return encode_id("Task", sorted(self.tasks[slug])[0])

    def user_gid(self, email: str) -> str:
        return encode_id("User", self.users[email])

    def tenant_gid(self, slug: str) -> str:
        return encode_id("Tenant", self.tenants[slug])


async def load_demo_data(conn: AsyncConnection) -> DemoData:
    tenants = {r.slug: r.id for r in await conn.execute(text("SELECT id, slug FROM tenants"))}
    users = {r.email: r.id for r in await conn.execute(text("SELECT id, email FROM users"))}
    by_slug = {v: k for k, v in tenants.items()}
    tasks: dict[str, set[uuid.UUID]] = {slug: set() for slug in tenants}
    created: dict[str, set[uuid.UUID]] = {}
    rows = await conn.execute(text("SELECT tenant_id, id, created_by_id FROM tasks"))
    emails = {v: k for k, v in users.items()}
    for r in rows:
        tasks[by_slug[r.tenant_id]].add(r.id)
        if by_slug[r.tenant_id] == "acme" and r.created_by_id:
            created.setdefault(emails[r.created_by_id], set()).add(r.id)
    return DemoData(
        tenants=tenants,
        users=users,
        tasks={k: frozenset(v) for k, v in tasks.items()},
        created_by={k: frozenset(v) for k, v in created.items()},
    )


@dataclass(frozen=True)
class Session:
    token: str
    cookie: str
    host: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Cookie": f"tenant_sig={self.cookie}"}


def set_cookie_value(response: httpx.Response, name: str = "tenant_sig") -> str | None:
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            return jar[name].value
    return None


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    session: Session | None = None,
    host: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a GraphQL document; host defaults to the session's."""
    all_headers = {**(session.headers() if session else {}), **(headers or {})}
    target = host or (session.host if session else "acme.localhost")
    client.cookies.clear()  # cookies are sent only as each test says, never from the jar
    return await client.post(
        f"http://{target}/graphql",
        json={"query": query, "variables": variables},
        headers=all_headers,
    )


LOGIN = """
mutation Login($email: String!, $password: String!, $tenant: String) {
  login(email: $email, password: $password, tenant: $tenant) {
    token expiresAt
    viewer {
      user { id email }
      activeTenant { id slug }
      role
      memberships { tenant { id slug } role isDefault }
    }
  }
}
"""


async def login(
    client: httpx.AsyncClient,
    email: str,
    *,
    host: str = "acme.localhost",
    tenant: str | None = None,
    password: str = DEMO_PASSWORD,
) -> Session:
    response = await gql(
        client, LOGIN, {"email": email, "password": password, "tenant": tenant}, host=host
    )
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    cookie = set_cookie_value(response)
    assert cookie, "login must set the tenant_sig cookie"
    slug = body["data"]["login"]["viewer"]["activeTenant"]["slug"]
    return Session(token=body["data"]["login"]["token"], cookie=cookie, host=f"{slug}.localhost")


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]

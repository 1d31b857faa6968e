"""Baseline (a), the floor: a bare Starlette + asyncpg handler for the portal task page.

It does what the API must do at the least for `tasks(first: N) { edges { cursor node { … assignee
createdBy } } pageInfo }`: verify the bearer token, then in one transaction as the runtime role
(row-level security on) bind the tenant settings and check the session with the API's own statement
(`tenantgraph_begin`), read the page and its users with the same SQL, and answer the same JSON: the
API's round trips, no more. No GraphQL, no ORM, no middleware.

    TENANTGRAPH_SECRET_KEY=… BENCH_RUNTIME_DSN=postgresql://… python -m bench.floor --port 8003
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth.tokens import InvalidToken, TokenService
from app.settings import Settings
from repositories.session import STATEMENT_TIMEOUT
from schema.ids import encode_id
from schema.pagination import encode_cursor

# The API's first statement (repositories/session.py): the transaction-local settings RLS reads,
# then the session's state under them, in one round trip.
SET_CONTEXT = (
    "SELECT token_version, role, membership_status, tenant_status"
    " FROM tenantgraph_begin($1, $2, $3, $4, $5)"
)
PAGE = (
    "SELECT id, title, description, status, priority, due_at, created_at, updated_at,"
    " assignee_id, created_by_id FROM tasks WHERE tenant_id = $1"
    " ORDER BY created_at DESC, id DESC LIMIT $2"
)
USERS = (
    "SELECT users.id, users.email, m.display_name FROM tenant_memberships m JOIN users"
    " ON users.id = m.user_id WHERE m.tenant_id = $1 AND m.user_id = ANY($2::uuid[])"
)
FIRST = re.compile(rb"first:\s*(\d+)")


def _user(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": encode_id("User", row["id"]),
        "email": row["email"],
        "displayName": row["display_name"],
    }


async def _keep(_conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is, like the API's (SQLAlchemy sends nothing
    after a COMMIT): every setting is transaction-local, so nothing outlives the request. The
    default reset would be one more round trip per request than the API makes."""


def create_app(dsn: str, tokens: TokenService, pool_size: int = 10) -> Starlette:
    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size, reset=_keep)
        yield
        await state["pool"].close()

    async def graphql(request: Request) -> Response:
        body = await request.body()
        match = FIRST.search(body)
        first = min(int(match.group(1)), 100) if match else 20
        header = request.headers.get("authorization", "")
        try:
            claims = tokens.verify(header.removeprefix("Bearer "))
        except InvalidToken:
            return Response(b'{"errors":[{"message":"unauthenticated"}]}', 401)
        pool = state["pool"]
        async with pool.acquire() as conn, conn.transaction():
            session = await conn.fetchrow(
                SET_CONTEXT,
                str(claims.tenant_id),
                str(claims.user_id),
                "false",
                "",
                STATEMENT_TIMEOUT,
            )
            if session is None or session["token_version"] != claims.token_version:
                return Response(b'{"errors":[{"message":"token revoked"}]}', 401)
            if not (
                session["role"]
                and session["membership_status"] == "active"
                and session["tenant_status"] == "active"
            ):
                return Response(b'{"errors":[{"message":"access ended"}]}', 403)
            rows = await conn.fetch(PAGE, claims.tenant_id, first + 1)
            ids = {r["assignee_id"] for r in rows[:first]} | {
                r["created_by_id"] for r in rows[:first]
            }
            ids.discard(None)
            users = {u["id"]: u for u in await conn.fetch(USERS, claims.tenant_id, list(ids))}
        edges = [
            {
                "cursor": encode_cursor(r["created_at"], r["id"]),
                "node": {
                    "id": encode_id("Task", r["id"]),
                    "title": r["title"],
                    "status": r["status"],
                    "priority": r["priority"],
                    "dueAt": r["due_at"].isoformat() if r["due_at"] else None,
                    "createdAt": r["created_at"].isoformat(),
                    "assignee": _user(users.get(r["assignee_id"])),
                    "createdBy": _user(users.get(r["created_by_id"])),
                },
            }
            for r in rows[:first]
        ]
        page = {
            "hasNextPage": len(rows) > first,
            "endCursor": edges[-1]["cursor"] if edges else None,
        }
        payload = {"data": {"tasks": {"edges": edges, "pageInfo": page}}}
        return Response(orjson.dumps(payload), media_type="application/json")

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    tokens = TokenService(
        settings.signing_secret(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=settings.token_ttl,
    )
    app = create_app(os.environ["BENCH_RUNTIME_DSN"], tokens, settings.db_pool_size)
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()

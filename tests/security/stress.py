"""Load against a real app over a real connection pool: a dedicated database, three demo tenants
and anonymous callers interleaved, and the checks that prove no request crossed a tenant.

Every request carries its own `X-Request-ID`, which the audit rows record: that is how a written
row, its audit row and the request that wrote it are matched up afterwards."""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.database import DatabaseUrls
from app.seed import seed_demo
from app.settings import Settings
from schema.ids import decode_id, encode_id
from tests.conftest import drop_database, fresh_database, migrate_database
from tests.helpers import Session, login

# --- a dedicated, seeded database ---------------------------------------------------------------


@asynccontextmanager
async def dedicated_database(admin: URL, name: str) -> AsyncIterator[DatabaseUrls]:
    """A database of its own (migrated, demo data seeded) for a module that commits for real."""
    urls = await fresh_database(admin, name)
    await migrate_database(urls)
    engine = create_async_engine(urls.owner, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session, session.begin():
            await seed_demo(session)
    finally:
        await engine.dispose()
    try:
        yield urls
    finally:
        await drop_database(admin, name)


def stress_settings() -> Settings:
    return Settings(secret_key=secrets.token_urlsafe(48), token_ttl=3600)


# --- who calls ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    name: str
    slug: str  # the tenant the caller acts in (for anonymous callers: the host's)
    session: Session | None
    user_id: uuid.UUID | None = None
    role: str | None = None

    @property
    def host(self) -> str:
        return f"{self.slug}.localhost"

    @property
    def is_staff(self) -> bool:
        return self.role in ("ADMIN", "STAFF")


@dataclass(frozen=True)
class World:
    """The demo data as the owner sees it, read before the load starts."""

    tenants: dict[str, uuid.UUID]  # slug -> id
    users: dict[str, uuid.UUID]  # email -> id
    services: dict[str, list[uuid.UUID]]  # slug -> active service ids
    tasks: dict[str, list[uuid.UUID]]  # slug -> task ids

    def foreign_task(self, slug: str, rng: random.Random) -> uuid.UUID:
        other = rng.choice(sorted(s for s in self.tasks if s != slug and self.tasks[s]))
        return rng.choice(self.tasks[other])


async def read_world(owner: AsyncEngine) -> World:
    async with owner.connect() as conn:
        tenants = {r.slug: r.id for r in await conn.execute(text("SELECT id, slug FROM tenants"))}
        users = {r.email: r.id for r in await conn.execute(text("SELECT id, email FROM users"))}
        by_id = {v: k for k, v in tenants.items()}
        services: dict[str, list[uuid.UUID]] = {slug: [] for slug in tenants}
        for r in await conn.execute(
            text("SELECT tenant_id, id FROM services WHERE active ORDER BY id")
        ):
            services[by_id[r.tenant_id]].append(r.id)
        tasks: dict[str, list[uuid.UUID]] = {slug: [] for slug in tenants}
        for r in await conn.execute(text("SELECT tenant_id, id FROM tasks ORDER BY id")):
            tasks[by_id[r.tenant_id]].append(r.id)
    return World(tenants=tenants, users=users, services=services, tasks=tasks)


async def sign_in_everyone(client: httpx.AsyncClient, world: World) -> list[Actor]:
    """Members of all three tenants in every role, and anonymous visitors of each tenant host."""
    signed = [
        ("alice in acme", "alice@acme.test", "acme", "ADMIN"),
        ("carol in acme", "carol@acme.test", "acme", "CLIENT"),
        ("dave in acme", "dave@initech.test", "acme", "STAFF"),
        ("bob in globex", "bob@globex.test", "globex", "ADMIN"),
        ("alice in globex", "alice@acme.test", "globex", "STAFF"),
        ("dave in initech", "dave@initech.test", "initech", "ADMIN"),
    ]
    actors = []
    for name, email, slug, role in signed:
        session = await login(client, email, host=f"{slug}.localhost", tenant=slug)
        actors.append(Actor(name, slug, session, world.users[email], role))
    actors.extend(
        Actor(f"anonymous on {slug}", slug, None) for slug in ("acme", "globex", "initech")
    )
    return actors


# --- what they send -----------------------------------------------------------------------------

TASKS = "query { tasks(first: 20) { totalCount edges { node { id assignee { id } createdBy { id } } } } }"
BOOKINGS = "query { bookings(first: 20) { totalCount edges { node { id client { id } service { id } } } } }"
MY_BOOKINGS = "query { myBookings(first: 20) { totalCount edges { node { id service { id } } } } }"
SERVICES = "query { services(first: 20) { totalCount edges { node { id } } } }"
PUBLIC_SERVICES = "query { publicServices(first: 20) { edges { node { id } } } }"
VIEWER = "query { viewer { user { id } activeTenant { slug } role } }"
TASK_BY_ID = "query Task($id: ID!) { task(id: $id) { id title } }"
CREATE_TASK = "mutation Create($title: String!) { createTask(input: {title: $title, priority: HIGH}) { id title } }"
BOOK = """
mutation Book($service: ID!, $at: DateTime!, $notes: String) {
  bookService(input: {serviceId: $service, startsAt: $at, notes: $notes}) { id notes }
}
"""
SUBMIT_PUBLIC = """
mutation Ask($description: String!, $service: ID) {
  submitServiceRequest(input: {description: $description, serviceId: $service,
                               contactName: "Load Visitor", contactEmail: "visitor@example.test"}) {
    submitted
  }
}
"""
# Documents whose second field fails after the first one wrote: the whole request must vanish.
CREATE_THEN_FAIL = """
mutation CreateThenFail($title: String!, $missing: ID!) {
  a: createTask(input: {title: $title}) { id }
  b: updateTask(id: $missing, input: {title: "never stored"}) { id }
}
"""
BOOK_THEN_FAIL = """
mutation BookThenFail($service: ID!, $at: DateTime!, $notes: String, $missing: ID!) {
  a: bookService(input: {serviceId: $service, startsAt: $at, notes: $notes}) { id }
  b: cancelBooking(id: $missing) { id }
}
"""


@dataclass(frozen=True)
class Call:
    """One planned request and what it should do."""

    number: int
    actor: Actor
    kind: str
    query: str
    variables: dict[str, Any] | None
    request_id: str
    marker: str | None = None  # the unique text a write stores (title, notes, description)
    writes: str | None = None  # the audit action a successful call records
    must_fail: bool = False


@dataclass
class Outcome:
    call: Call
    status: int
    body: dict[str, Any] | None
    seconds: float


def plan(actors: list[Actor], world: World, *, total: int, seed: int, prefix: str) -> list[Call]:
    """`total` calls in a shuffled, reproducible interleaving."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    soon = datetime.now(UTC) + timedelta(days=3)
    calls: list[Call] = []
    for number in range(total):
        actor = rng.choice(actors)
        request_id = f"{prefix}-{number:05d}"
        slug = actor.slug
        service = encode_id("Service", rng.choice(world.services[slug]))
        at = (
            soon + timedelta(days=rng.randrange(60), minutes=rng.randrange(0, 600, 5))
        ).isoformat()

        def call(kind: str, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Call:
            return Call(number, actor, kind, query, variables, request_id, **kw)  # noqa: B023

        roll = rng.random()
        if actor.session is None:
            if roll < 0.45:
                calls.append(call("publicServices", PUBLIC_SERVICES))
            elif roll < 0.7:
                calls.append(call("viewer", VIEWER))
            elif roll < 0.8:
                calls.append(call("services", SERVICES))  # needs a login: an error, no data
            else:
                marker = f"{request_id}-ok"
                variables = {"description": marker, "service": service}
                calls.append(
                    call(
                        "submitPublic",
                        SUBMIT_PUBLIC,
                        variables,
                        marker=marker,
                        writes="service_request.submit_public",
                    )
                )
            continue
        foreign = encode_id("Task", world.foreign_task(slug, rng))
        if roll < 0.18:
            calls.append(call("tasks", TASKS))
        elif roll < 0.32:
            calls.append(call("bookings", BOOKINGS if actor.is_staff else MY_BOOKINGS))
        elif roll < 0.42:
            calls.append(call("services", SERVICES))
        elif roll < 0.52:
            calls.append(call("viewer", VIEWER))
        elif roll < 0.60:
            calls.append(call("foreignTask", TASK_BY_ID, {"id": foreign}))
        elif roll < 0.75:
            marker = f"{request_id}-ok"
            if actor.is_staff:
                calls.append(
                    call(
                        "createTask",
                        CREATE_TASK,
                        {"title": marker},
                        marker=marker,
                        writes="task.create",
                    )
                )
            else:
                variables = {"service": service, "at": at, "notes": marker}
                calls.append(call("book", BOOK, variables, marker=marker, writes="booking.create"))
        elif roll < 0.85:
            marker = f"{request_id}-ok"
            variables = {"service": service, "at": at, "notes": marker}
            calls.append(call("book", BOOK, variables, marker=marker, writes="booking.create"))
        else:
            marker = f"{request_id}-fail"
            # the missing object: one that never existed, or another tenant's
            missing_task = rng.choice([encode_id("Task", uuid.uuid4()), foreign])
            if actor.is_staff and rng.random() < 0.6:
                variables = {"title": marker, "missing": missing_task}
                calls.append(
                    call(
                        "createThenFail", CREATE_THEN_FAIL, variables, marker=marker, must_fail=True
                    )
                )
            else:
                variables = {
                    "service": service,
                    "at": at,
                    "notes": marker,
                    "missing": encode_id("Booking", uuid.uuid4()),
                }
                calls.append(
                    call("bookThenFail", BOOK_THEN_FAIL, variables, marker=marker, must_fail=True)
                )
    return calls


SEND_TIMEOUT = 30.0

# --- sending ------------------------------------------------------------------------------------


async def send(client: httpx.AsyncClient, call: Call) -> Outcome:
    headers = {"X-Request-ID": call.request_id}
    if call.actor.session is not None:
        headers.update(call.actor.session.headers())
    started = asyncio.get_running_loop().time()
    async with asyncio.timeout(SEND_TIMEOUT):  # a hung request fails the test, not the suite
        response = await client.post(
            f"http://{call.actor.host}/graphql",
            json={"query": call.query, "variables": call.variables},
            headers=headers,
        )
    elapsed = asyncio.get_running_loop().time() - started
    try:
        body = response.json()
    except ValueError:
        body = None
    return Outcome(call, response.status_code, body, elapsed)


async def drive(
    client: httpx.AsyncClient,
    calls: list[Call],
    *,
    concurrency: int,
    on_sent: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Send every call with at most `concurrency` in flight; outcomes in call order."""
    queue: asyncio.Queue[Call] = asyncio.Queue()
    for c in calls:
        queue.put_nowait(c)
    outcomes: dict[int, Outcome] = {}

    async def worker() -> None:
        while not queue.empty():
            c = queue.get_nowait()
            outcome = await send(client, c)
            outcomes[c.number] = outcome
            if on_sent is not None:
                on_sent(outcome)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return [outcomes[c.number] for c in calls]


# --- checking -----------------------------------------------------------------------------------


def errors_of(outcome: Outcome) -> list[str]:
    body = outcome.body or {}
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def created_id(outcome: Outcome) -> uuid.UUID | None:
    """The id of the row a successful write returned (None for the public path, which reads
    nothing back)."""
    data = (outcome.body or {}).get("data") or {}
    if outcome.call.kind == "createTask":
        return decode_id("Task", data["createTask"]["id"])
    if outcome.call.kind == "book":
        return decode_id("Booking", data["bookService"]["id"])
    return None


def _nodes(data: dict[str, Any], field_name: str) -> list[dict[str, Any]]:
    return [edge["node"] for edge in data[field_name]["edges"]]


@dataclass
class Seen:
    """Every id an answer handed out, by the tenant that asked."""

    tasks: dict[uuid.UUID, str] = field(default_factory=dict)
    bookings: dict[uuid.UUID, str] = field(default_factory=dict)
    services: dict[uuid.UUID, str] = field(default_factory=dict)
    users: set[tuple[str, uuid.UUID]] = field(default_factory=set)  # a user is in many tenants
    problems: list[str] = field(default_factory=list)

    def note(self, table: dict[uuid.UUID, str], id: uuid.UUID, slug: str, outcome: Outcome) -> None:
        earlier = table.setdefault(id, slug)
        if earlier != slug and len(self.problems) < 100:
            self.problems.append(
                f"{outcome.call.request_id}: {id} answered to {slug} and to {earlier}"
            )


def collect(outcomes: list[Outcome]) -> Seen:
    """Walk the answers: what each caller saw, and answers that are wrong on their face."""
    seen = Seen()
    for o in outcomes:
        c, actor = o.call, o.call.actor
        data = (o.body or {}).get("data") or {}
        codes = errors_of(o)
        where = f"{c.request_id} ({actor.name}, {c.kind})"
        if o.status != 200:
            continue  # reported by the status check
        if c.must_fail:
            if codes != ["NOT_FOUND"]:
                seen.problems.append(f"{where}: expected NOT_FOUND, got {codes}")
            continue
        if c.kind == "services" and actor.session is None:
            if codes != ["UNAUTHENTICATED"]:
                seen.problems.append(f"{where}: anonymous services answered {codes}")
            continue
        if codes:
            seen.problems.append(f"{where}: unexpected errors {o.body}")
            continue
        if c.kind == "tasks":
            for node in _nodes(data, "tasks"):
                seen.note(seen.tasks, decode_id("Task", node["id"]), actor.slug, o)
                for person in (node["assignee"], node["createdBy"]):
                    if person:
                        seen.users.add((actor.slug, decode_id("User", person["id"])))
        elif c.kind == "bookings":
            field_name = "bookings" if actor.is_staff else "myBookings"
            for node in _nodes(data, field_name):
                seen.note(seen.bookings, decode_id("Booking", node["id"]), actor.slug, o)
                seen.note(seen.services, decode_id("Service", node["service"]["id"]), actor.slug, o)
        elif c.kind in ("services", "publicServices"):
            for node in _nodes(data, c.kind):
                seen.note(seen.services, decode_id("Service", node["id"]), actor.slug, o)
        elif c.kind == "viewer":
            viewer = data["viewer"]
            if actor.session is None:
                if viewer is not None:
                    seen.problems.append(f"{where}: an anonymous viewer is {viewer}")
            elif (
                viewer["activeTenant"]["slug"] != actor.slug
                or decode_id("User", viewer["user"]["id"]) != actor.user_id
                or viewer["role"] != actor.role
            ):
                seen.problems.append(f"{where}: viewer is {viewer}")
        elif c.kind == "foreignTask":
            if data["task"] is not None:
                seen.problems.append(f"{where}: another tenant's task answered {data['task']}")
        elif c.kind == "createTask":
            seen.note(seen.tasks, created_id(o), actor.slug, o)  # type: ignore[arg-type]
        elif c.kind == "book":
            seen.note(seen.bookings, created_id(o), actor.slug, o)  # type: ignore[arg-type]
    return seen


def unavailable(outcome: Outcome) -> bool:
    return outcome.status == 503 and errors_of(outcome) == ["SERVICE_UNAVAILABLE"]


async def isolation_problems_after(
    owner: AsyncEngine,
    world: World,
    outcomes: list[Outcome],
    prefix: str,
    *,
    outage: bool = False,
) -> list[str]:
    """Compare what the answers said, and what was written, with the database as the owner
    sees it. Empty when every answer and every row stayed in its own tenant.

    With `outage`, a 503 SERVICE_UNAVAILABLE answer is allowed; such a write may have committed
    before the connection broke, or not at all, but never in part: its row and its audit row
    are both there or both missing."""
    problems: list[str] = []
    statuses = Counter(o.status for o in outcomes)
    bad = [o for o in outcomes if o.status != 200 and not (outage and unavailable(o))]
    if bad:
        problems.append(
            f"statuses {dict(statuses)}; e.g. "
            + "; ".join(f"{o.call.request_id} {o.status} {o.body}" for o in bad[:5])
        )
    seen = collect(outcomes)
    problems.extend(seen.problems)
    slug_of = {v: k for k, v in world.tenants.items()}
    ok = {o.call.request_id: o for o in outcomes if o.status == 200 and not errors_of(o)}
    writes = {rid: o for rid, o in ok.items() if o.call.writes}
    # writes answered 503: whole or nothing
    maybe = {
        o.call.request_id: o
        for o in outcomes
        if o.call.writes and not o.call.must_fail and unavailable(o)
    }
    async with owner.connect() as conn:
        # every id an answer carried belongs to the tenant of the caller
        for table, ids in (
            ("tasks", seen.tasks),
            ("bookings", seen.bookings),
            ("services", seen.services),
        ):
            rows = await conn.execute(
                text(f"SELECT id, tenant_id FROM {table} WHERE id = ANY(:ids)"),
                {"ids": list(ids)},
            )
            owners = {r.id: slug_of[r.tenant_id] for r in rows}
            for id, slug in ids.items():
                if owners.get(id) != slug:
                    problems.append(
                        f"{table} {id} was shown to {slug}, belongs to {owners.get(id)}"
                    )
        members = await conn.execute(
            text("SELECT tenant_id, user_id FROM tenant_memberships WHERE user_id = ANY(:ids)"),
            {"ids": list({id for _, id in seen.users})},
        )
        memberships = {(slug_of[r.tenant_id], r.user_id) for r in members}
        problems.extend(
            f"user {id} was shown to {slug}, not one of its members"
            for slug, id in seen.users - memberships
        )
        # every row the load wrote: in the tenant, and by the user, of the request that wrote it
        written: list[tuple[str, uuid.UUID, uuid.UUID | None]] = []  # marker, tenant, user
        for query in (
            "SELECT title AS marker, tenant_id, created_by_id AS user_id, id FROM tasks"
            " WHERE title LIKE :p",
            "SELECT notes AS marker, tenant_id, client_id AS user_id, id FROM bookings"
            " WHERE notes LIKE :p",
            "SELECT description AS marker, tenant_id, client_id AS user_id, id"
            " FROM service_requests WHERE description LIKE :p",
        ):
            written.extend(
                (r.marker, r.tenant_id, r.user_id)
                for r in await conn.execute(text(query), {"p": f"{prefix}-%"})
            )
        markers = Counter(m for m, _, _ in written)
        problems.extend(f"{m} stored {n} times" for m, n in markers.items() if n > 1)
        expected = {o.call.marker: o for o in writes.values()}
        possible = {o.call.marker: o for o in maybe.values()}
        for marker, tenant_id, user_id in written:
            o = expected.get(marker) or possible.get(marker)
            if o is None:
                problems.append(f"{marker} was stored by a request that failed or did not write")
                continue
            actor = o.call.actor
            if slug_of[tenant_id] != actor.slug or user_id != actor.user_id:
                problems.append(
                    f"{marker} stored in {slug_of[tenant_id]} for {user_id}, "
                    f"written by {actor.name}"
                )
        problems.extend(
            f"{m} answered success but was not stored" for m in set(expected) - set(markers)
        )
        # one audit row per successful write, none for anything else
        audit = await conn.execute(
            text(
                "SELECT request_id, tenant_id, actor_id, action, target_id FROM audit_logs"
                " WHERE request_id LIKE :p"
            ),
            {"p": f"{prefix}-%"},
        )
        audited = Counter[str]()
        for r in audit:
            audited[r.request_id] += 1
            o = writes.get(r.request_id) or maybe.get(r.request_id)
            if o is None:
                problems.append(f"audit row {r.action} for {r.request_id}, which wrote nothing")
                continue
            actor, target = o.call.actor, created_id(o) if o.status == 200 else None
            if (
                slug_of[r.tenant_id] != actor.slug
                or r.actor_id != actor.user_id
                or r.action != o.call.writes
                or (target is not None and r.target_id != target)
            ):
                problems.append(f"audit row of {r.request_id} does not match: {r}")
        problems.extend(
            f"{rid} wrote but has {audited[rid]} audit rows" for rid in writes if audited[rid] != 1
        )
        problems.extend(
            f"{rid} (503) left {markers[o.call.marker]} rows and {audited[rid]} audit rows"
            for rid, o in maybe.items()
            if (markers[o.call.marker], audited[rid]) not in ((0, 0), (1, 1))
        )
    return problems

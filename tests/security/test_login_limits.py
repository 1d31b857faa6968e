"""Sign-in rate limits per (tenant, email) and per client address, counted per attempt (aliased
`login` fields in one document count one each), with one answer whether the account exists or
not; the unknown-user path runs the same password check as a wrong password."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth import passwords
from app.auth.ratelimit import LoginLimits, LoginRateLimiter, MemoryCounter, RedisCounter
from app.database import Database
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET
from tests.helpers import LOGIN, error_codes, gql, set_cookie_value

PASSWORD = "demo-password"
WRONG = "not-the-password"
REDIS_URL = "redis://127.0.0.1:6379/0"
TOO_MANY = "TOO_MANY_REQUESTS"

AppFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def make_client(runtime_conn: AsyncConnection) -> AsyncIterator[AppFactory]:
    """Clients of apps with small limits (3 per account, 6 per address), over the test's
    rolled-back connection; each from its own address unless told."""
    opened: list[tuple[httpx.AsyncClient, Any]] = []

    def make(address: str = "192.0.2.10", **overrides: Any) -> httpx.AsyncClient:
        values: dict[str, Any] = {
            "secret_key": TEST_SECRET,
            "login_attempts_per_account": 3,
            "login_attempts_per_address": 6,
            **overrides,
        }
        app = create_app(settings=Settings(**values), database=Database.bound_to(runtime_conn))
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://acme.localhost")
        opened.append((client, app))
        return client

    yield make
    for client, app in opened:
        await client.aclose()
        counter = app.state.login_limiter.counter
        if isinstance(counter, RedisCounter):  # the lifespan would; ASGITransport runs none
            await counter.close()


async def attempt(
    client: httpx.AsyncClient,
    email: str,
    password: str = WRONG,
    host: str = "acme.localhost",
    headers: dict[str, str] | None = None,
) -> tuple[list[str], httpx.Response]:
    response = await gql(
        client, LOGIN, {"email": email, "password": password}, host=host, headers=headers
    )
    return error_codes(response.json()), response


def aliased_logins(emails: list[str], password: str = WRONG) -> str:
    fields = " ".join(
        f'l{i}: login(email: "{email}", password: "{password}") {{ token }}'
        for i, email in enumerate(emails)
    )
    return f"mutation {{ {fields} }}"


def test_the_limits_are_settings_with_safe_defaults() -> None:
    settings = Settings(secret_key=TEST_SECRET)
    assert settings.login_attempts_per_account == 10
    assert settings.login_attempts_per_address == 50
    assert settings.login_window_seconds == 15 * 60


async def test_attempts_per_account_are_limited(make_client: AppFactory) -> None:
    client = make_client()
    for _ in range(3):
        assert (await attempt(client, "alice@acme.test"))[0] == ["UNAUTHENTICATED"]
    codes, response = await attempt(client, "alice@acme.test", PASSWORD)  # the right password
    assert codes == [TOO_MANY]
    assert response.json()["data"] is None
    assert set_cookie_value(response) is None
    # another account from the same address goes on; the same account in another tenant does
    # not (the budget is the account's, whichever tenant is named)
    assert (await attempt(client, "carol@acme.test", PASSWORD))[0] == []
    codes, _ = await attempt(client, "alice@acme.test", PASSWORD, host="globex.localhost")
    assert codes == [TOO_MANY]


async def test_the_answer_never_tells_whether_the_account_exists(make_client: AppFactory) -> None:
    client = make_client()
    answers = []
    for email in ("alice@acme.test", f"{uuid.uuid4().hex}@nowhere.test"):
        for _ in range(3):
            await attempt(client, email)
        _, response = await attempt(client, email)
        answers.append(response.json()["errors"][0] | {"path": None})
    assert answers[0] == answers[1]
    assert answers[0]["extensions"] == {"code": TOO_MANY}
    assert answers[0]["message"] == "Too many sign-in attempts. Try again later"


async def test_aliased_logins_in_one_document_count_one_attempt_each(
    make_client: AppFactory,
) -> None:
    # seven correct sign-ins in one document: the seventh is over the address's six
    client = make_client(address="192.0.2.15")
    emails = ["alice@acme.test", "carol@acme.test", "dave@initech.test"] * 2 + ["carol@acme.test"]
    body = (await gql(client, aliased_logins(emails, PASSWORD))).json()
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["l6"], TOO_MANY)]
    assert body["data"] is None  # and the whole document is refused


async def test_a_failed_login_ends_its_document(make_client: AppFactory) -> None:
    # a wrong password nulls the document and stops it: one guess per document at most
    client = make_client(address="192.0.2.16")
    emails = ["alice@acme.test"] * 5
    body = (await gql(client, aliased_logins(emails))).json()
    assert [e["path"] for e in body["errors"]] == [["l0"]]
    assert (await attempt(client, "alice@acme.test", PASSWORD))[0] == []


async def test_attempts_per_address_are_limited_across_accounts(make_client: AppFactory) -> None:
    client = make_client(address="192.0.2.20")
    for _ in range(6):
        assert (await attempt(client, f"{uuid.uuid4().hex}@nowhere.test"))[0] == ["UNAUTHENTICATED"]
    # a seventh account, even with the right password, from the same address
    assert (await attempt(client, "carol@acme.test", PASSWORD))[0] == [TOO_MANY]
    # another address is not affected
    other = make_client(address="192.0.2.21")
    assert (await attempt(other, "carol@acme.test", PASSWORD))[0] == []


async def test_a_successful_sign_in_resets_only_the_account_counter(
    make_client: AppFactory,
) -> None:
    client = make_client()
    for _ in range(2):
        await attempt(client, "alice@acme.test")
    assert (await attempt(client, "alice@acme.test", PASSWORD))[0] == []
    for _ in range(3):  # 3 more failures: the account counter started again
        assert (await attempt(client, "alice@acme.test"))[0] == ["UNAUTHENTICATED"]
    # 6 attempts from this address so far: the address limit still holds
    assert (await attempt(client, "carol@acme.test", PASSWORD))[0] == [TOO_MANY]


async def test_a_spoofed_forwarded_for_does_not_reset_the_address(
    make_client: AppFactory,
) -> None:
    client = make_client(address="192.0.2.30")
    for i in range(6):
        spoof = {"X-Forwarded-For": f"198.51.100.{i}"}
        await attempt(client, f"{uuid.uuid4().hex}@nowhere.test", headers=spoof)
    codes, _ = await attempt(
        client, "carol@acme.test", PASSWORD, headers={"X-Forwarded-For": "198.51.100.99"}
    )
    assert codes == [TOO_MANY]


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(
    make_client: AppFactory,
) -> None:
    proxy = make_client(address="10.0.0.2", trusted_proxies=["10.0.0.0/8"])
    first = {"X-Forwarded-For": "spoofed-by-client, 198.51.100.1"}
    for _ in range(6):
        await attempt(proxy, f"{uuid.uuid4().hex}@nowhere.test", headers=first)
    assert (await attempt(proxy, "carol@acme.test", PASSWORD, headers=first))[0] == [TOO_MANY]
    second = {"X-Forwarded-For": "198.51.100.2"}
    assert (await attempt(proxy, "carol@acme.test", PASSWORD, headers=second))[0] == []


async def test_an_unknown_user_is_checked_against_the_dummy_hash(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = passwords._hasher
    dummy = passwords._dummy_hash()

    class SpyHasher:
        def verify(self, hash_: str, password: str) -> bool:
            checked.append(hash_)
            return real.verify(hash_, password)

    monkeypatch.setattr(passwords, "_hasher", SpyHasher())
    for email in (f"{uuid.uuid4().hex}@nowhere.test", "", "x" * 400):
        codes, _ = await attempt(client, email, PASSWORD)
        assert codes == ["UNAUTHENTICATED"]
    assert checked == [dummy] * 3
    checked.clear()
    assert (await attempt(client, "alice@acme.test"))[0] == ["UNAUTHENTICATED"]
    assert len(checked) == 1
    assert checked[0] != dummy
    assert checked[0].startswith("$argon2id$")


# --- Redis --------------------------------------------------------------------------------------


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.3):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(
    not redis_reachable(),
    reason="no Redis at 127.0.0.1:6379 (the in-process limiter is tested above)",
)


@needs_redis
async def test_with_redis_the_limit_holds_across_processes(make_client: AppFactory) -> None:
    from redis.asyncio import Redis

    # two apps (two workers) share one budget; a fresh address and email keep runs apart
    address = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    first = make_client(address=address, redis_url=REDIS_URL)
    second = make_client(address=address, redis_url=REDIS_URL)
    email = f"{uuid.uuid4().hex}@nowhere.test"
    assert (await attempt(first, email))[0] == ["UNAUTHENTICATED"]
    assert (await attempt(second, email))[0] == ["UNAUTHENTICATED"]
    assert (await attempt(first, email))[0] == ["UNAUTHENTICATED"]
    assert (await attempt(second, email))[0] == [TOO_MANY]
    redis = Redis.from_url(REDIS_URL)
    try:
        key = "tenantgraph:login:" + LoginRateLimiter.account_key(email.casefold())
        assert int(await redis.get(key)) == 4
        assert 0 < await redis.ttl(key) <= 15 * 60
        names = [k.decode() async for k in redis.scan_iter("tenantgraph:login:*", count=1000)]
        assert not any(email in name or address in name for name in names)  # hashed keys
        await redis.delete(key)
    finally:
        await redis.aclose()


async def test_when_redis_is_down_the_process_counts_alone() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = LoginRateLimiter(RedisCounter(client), LoginLimits(per_account=2, per_address=100))
    try:
        results = [await limiter.attempt(account="a@b.test", address=None) for _ in range(3)]
    finally:
        await client.aclose()
    assert results == [True, True, False]


async def test_the_memory_counter_opens_a_new_window_when_one_ends() -> None:
    limiter = LoginRateLimiter(
        MemoryCounter(), LoginLimits(per_account=1, per_address=10, window_seconds=1)
    )
    assert await limiter.attempt(account="a@b.test", address="192.0.2.1")
    assert not await limiter.attempt(account="a@b.test", address="192.0.2.1")
    counter = limiter.counter
    assert isinstance(counter, MemoryCounter)
    counter._windows = {k: (0.0, n) for k, (_, n) in counter._windows.items()}  # the window ends
    assert await limiter.attempt(account="a@b.test", address="192.0.2.1")


async def test_every_spelling_and_tenant_of_an_account_shares_its_budget(
    make_client: AppFactory,
) -> None:
    # the database folds the dotted capital I to "i" where Python's lower() does not, and the
    # tenant may be named or left to the default: all of these are alice's one budget
    client = make_client(address="192.0.2.77")
    tries = [
        ("alice@acme.test", "acme.localhost", None),
        ("al\u0130ce@acme.test", "acme.localhost", None),
        ("ALICE@acme.test", "localhost", "globex"),
        ("alice@acme.test", "localhost", None),
    ]
    codes = []
    for email, host, tenant in tries:
        variables = {"email": email, "password": WRONG, "tenant": tenant}
        codes.append(error_codes((await gql(client, LOGIN, variables, host=host)).json()))
    assert codes == [["UNAUTHENTICATED"]] * 3 + [[TOO_MANY]]


async def test_an_address_over_its_limit_does_not_lock_out_accounts(
    make_client: AppFactory,
) -> None:
    attacker = make_client(address="192.0.2.88")
    for n in range(6):
        await attempt(attacker, f"nobody{n}@nowhere.test")
    # the address is spent: its attempts at bob are refused without touching bob's budget
    for _ in range(5):
        assert (await attempt(attacker, "bob@globex.test", host="globex.localhost"))[0] == [
            TOO_MANY
        ]
    elsewhere = make_client(address="192.0.2.89")
    codes, _ = await attempt(elsewhere, "bob@globex.test", PASSWORD, host="globex.localhost")
    assert codes == []

"""Sign-in rate limits: per (tenant, email) and per client address, per attempt.

Every `login` field is one attempt, so twenty aliased `login` fields in one document are twenty
attempts. An attempt is counted *before* the password is checked (a burst of parallel requests
cannot all slip in before the first failure is recorded); a successful sign-in clears its
(tenant, email) counter, never the address counter. Windows are fixed: the first attempt opens
a window of `window_seconds`, and the counter is dropped when it ends.

In-process by default; with REDIS_URL the counters live in Redis and hold across workers. Keys
are hashed: no email address is written to Redis. If Redis cannot be reached the process falls
back to its own counters (logged) rather than refusing every sign-in.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

log = structlog.get_logger("tenantgraph.ratelimit")


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_account: int = 10  # attempts per (tenant, email) and window
    per_address: int = 50  # attempts per client address and window
    window_seconds: int = 15 * 60


class Counter(Protocol):
    async def increment(self, key: str, window_seconds: int) -> int:
        """Count one hit of `key` and answer the hits in its current window."""
        ...

    async def reset(self, key: str) -> None:
        """Forget `key`."""
        ...


class MemoryCounter:
    """Fixed windows in this process (bounded: the oldest windows go first when full)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys

    async def increment(self, key: str, window_seconds: int) -> int:
        now = time.monotonic()
        ends, count = self._windows.get(key, (0.0, 0))
        if ends <= now:
            ends, count = now + window_seconds, 0
            if len(self._windows) >= self._max_keys:
                self._expire(now)
        self._windows[key] = (ends, count + 1)
        return count + 1

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def _expire(self, now: float) -> None:
        for key in [k for k, (ends, _) in self._windows.items() if ends <= now]:
            del self._windows[key]
        while len(self._windows) >= self._max_keys:
            del self._windows[next(iter(self._windows))]


class RedisCounter:
    """Fixed windows in Redis: INCR, and EXPIRE when the window opens (one round trip)."""

    def __init__(self, client: Any, *, prefix: str = "tenantgraph:login:") -> None:
        self._client = client
        self._prefix = prefix
        self._fallback = MemoryCounter()

    async def increment(self, key: str, window_seconds: int) -> int:
        name = self._prefix + key
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, window_seconds, nx=True)
                count, _ = await pipe.execute()
            return int(count)
        except Exception as exc:  # Redis down: count here rather than refuse every sign-in
            log.warning("rate limit store unavailable", error=type(exc).__name__)
            return await self._fallback.increment(key, window_seconds)

    async def reset(self, key: str) -> None:
        try:
            await self._client.delete(self._prefix + key)
        except Exception as exc:
            log.warning("rate limit store unavailable", error=type(exc).__name__)
        await self._fallback.reset(key)

    async def close(self) -> None:
        await self._client.aclose()


def _key(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{kind}:{digest}"


class LoginRateLimiter:
    def __init__(self, counter: Counter, limits: LoginLimits | None = None) -> None:
        self.counter = counter
        self.limits = limits or LoginLimits()

    @staticmethod
    def account_key(account: str) -> str:
        return _key("account", account)

    async def attempt(self, *, account: str, address: str | None) -> bool:
        """Count one sign-in attempt; False when either limit is already used up.

        An attempt the address limit refuses is not counted against the account: otherwise one
        address over its budget could lock out any account for free."""
        window = self.limits.window_seconds
        if address and await self.counter.increment(_key("address", address), window) > (
            self.limits.per_address
        ):
            return False
        tries = await self.counter.increment(self.account_key(account), window)
        return tries <= self.limits.per_account

    async def succeeded(self, *, account: str) -> None:
        """A correct password: the account's counter starts again (the address's does not)."""
        await self.counter.reset(self.account_key(account))


def create_login_limiter(redis_url: str | None, limits: LoginLimits) -> LoginRateLimiter:
    if not redis_url:
        return LoginRateLimiter(MemoryCounter(), limits)
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return LoginRateLimiter(RedisCounter(client), limits)

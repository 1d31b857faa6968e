"""A cache of per-tenant results (analytics), in-process by default or in Redis when
`REDIS_URL` is set, so that several API processes share it.

Three rules make a hit unable to answer another tenant, whatever the arguments:
- every key is built here, from the tenant id first (`<prefix>t:<tenant>:g<gen>:<name>:<args>`),
  so no caller can build a key without one;
- every stored value is an envelope naming its tenant, checked on read (a value found under a
  key of tenant A that names tenant B is a miss, never an answer);
- every key carries the tenant's *generation*, a counter bumped after each committed mutation in
  that tenant (the endpoint does it for the tenants a request audited a change in), so a change
  makes every earlier entry of that tenant unreachable at once. Entries also expire after a TTL,
  which bounds how long a value that depends on the clock ("overdue", "upcoming") may be reused.

In-process, the generations live in the process: with several workers and no Redis, another
worker's change is seen when the entry expires. Use Redis to share invalidation across workers.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections import OrderedDict
from typing import Any, Protocol

import orjson
import structlog
from sqlalchemy.engine import URL

log = structlog.get_logger("tenantgraph.cache")

DEFAULT_TTL = 60.0  # seconds
DEFAULT_MAX_ENTRIES = 10_000


class Cache(Protocol):
    """`generation` pins get and set to the generation read before the value was computed:
    a value computed while a change committed is then stored under the old generation, where
    nobody looks any more (read it with `generation()` first, compute, then set)."""

    async def generation(self, tenant_id: uuid.UUID) -> int:
        """The tenant's current generation."""
        ...

    async def get(
        self,
        tenant_id: uuid.UUID,
        name: str,
        args: dict[str, Any],
        *,
        generation: int | None = None,
    ) -> Any | None:
        """The value stored for the tenant under `name` and `args` (current generation unless
        given)."""
        ...

    async def set(
        self,
        tenant_id: uuid.UUID,
        name: str,
        args: dict[str, Any],
        value: Any,
        *,
        generation: int | None = None,
    ) -> None:
        """Store a JSON-serialisable value for the tenant (current generation unless given)."""
        ...

    async def invalidate(self, tenant_ids: set[uuid.UUID]) -> None:
        """Make every entry of these tenants unreachable (after their change committed)."""
        ...

    async def close(self) -> None: ...


def _args_digest(args: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(args, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _key(
    prefix: str, tenant_id: uuid.UUID, generation: int, name: str, args: dict[str, Any]
) -> str:
    return f"{prefix}t:{tenant_id}:g{generation}:{name}:{_args_digest(args)}"


def _envelope(tenant_id: uuid.UUID, value: Any) -> bytes:
    return orjson.dumps({"tenant": str(tenant_id), "value": value})


def _open(tenant_id: uuid.UUID, raw: bytes | None) -> Any | None:
    if raw is None:
        return None
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # not an entry of ours (a foreign writer, a truncated value): a miss, never an error
        log.error("cache entry is not an envelope; ignored", tenant_id=str(tenant_id))
        return None
    if not isinstance(envelope, dict) or envelope.get("tenant") != str(tenant_id):
        log.error("cache entry names another tenant; ignored", tenant_id=str(tenant_id))
        return None
    return envelope.get("value")


class MemoryCache:
    """Bounded (least recently used goes first), with a TTL per entry; values are stored
    serialised, so a hit is a fresh copy that no caller can mutate for the next one."""

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        prefix: str = "tg:",
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.prefix = prefix
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._generations: dict[uuid.UUID, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        return list(self._entries)

    async def generation(self, tenant_id: uuid.UUID) -> int:
        return self._generations.get(tenant_id, 0)

    async def get(
        self,
        tenant_id: uuid.UUID,
        name: str,
        args: dict[str, Any],
        *,
        generation: int | None = None,
    ) -> Any | None:
        if generation is None:
            generation = await self.generation(tenant_id)
        key = _key(self.prefix, tenant_id, generation, name, args)
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[0] <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return _open(tenant_id, hit[1])

    async def set(
        self,
        tenant_id: uuid.UUID,
        name: str,
        args: dict[str, Any],
        value: Any,
        *,
        generation: int | None = None,
    ) -> None:
        if generation is None:
            generation = await self.generation(tenant_id)
        if generation != self._generations.get(tenant_id, 0):
            return  # computed before a change: nobody may read it
        key = _key(self.prefix, tenant_id, generation, name, args)
        self._entries[key] = (time.monotonic() + self.ttl, _envelope(tenant_id, value))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def invalidate(self, tenant_ids: set[uuid.UUID]) -> None:
        for tenant_id in tenant_ids:
            self._generations[tenant_id] = self._generations.get(tenant_id, 0) + 1
            # the old generation's entries can never be read again: free them now
            marker = f"{self.prefix}t:{tenant_id}:"
            for key in [k for k in self._entries if k.startswith(marker)]:
                del self._entries[key]

    async def close(self) -> None:
        self._entries.clear()


class RedisCache:
    """Shared by every process on the same Redis. The generation of a tenant is one counter
    (`<prefix>gen:<tenant>`, INCR); entries expire with SETEX. Redis being unreachable makes
    the cache miss (the API computes the answer), never fail the request."""

    def __init__(self, url: str, *, ttl: float = DEFAULT_TTL, prefix: str = "tg:") -> None:
        from redis.asyncio import Redis

        self.ttl = ttl
        self.prefix = prefix
        self._redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    def _generation_key(self, tenant_id: uuid.UUID) -> str:
        return f"{self.prefix}gen:{tenant_id}"

    async def generation(self, tenant_id: uuid.UUID) -> int:
        try:
            raw = await self._redis.get(self._generation_key(tenant_id))
        except Exception as exc:
            log.warning("cache unavailable", error=type(exc).__name__)
            return -1  # a generation no entry is stored under
        return int(raw) if raw is not None else 0

    async def key(
        self,
        tenant_id: uuid.UUID,
        name: str,
        args: dict[str, Any],
        *,
        generation: int | None = None,
    ) -> str:
        """The key of an entry (at the current generation unless given; tests inspect it)."""
        if generation is None:
            generation = await self.generation(tenant_id)
        return _key(self.prefix, tenant_id, generation, name, args)

    async def get(
        self,
        tenant_id: uuid.UUID,
        name: str,
        args: dict[str, Any],
        *,
        generation: int | None = None,
    ) -> Any | None:
        try:
            raw = await self._redis.get(
                await self.key(tenant_id, name, args, generation=generation)
            )
        except Exception as exc:  # the cache is an optimisation: a miss, never an error
            log.warning("cache unavailable", error=type(exc).__name__)
            return None
        return _open(tenant_id, raw)

    async def set(
        self,
        tenant_id: uuid.UUID,
        name: str,
        args: dict[str, Any],
        value: Any,
        *,
        generation: int | None = None,
    ) -> None:
        if generation is not None and generation < 0:
            return
        try:
            key = await self.key(tenant_id, name, args, generation=generation)
            # whole milliseconds, at least one: Redis refuses an expiry of 0
            expiry = max(1, math.ceil(self.ttl * 1000))
            await self._redis.set(key, _envelope(tenant_id, value), px=expiry)
        except Exception as exc:
            log.warning("cache unavailable", error=type(exc).__name__)

    async def invalidate(self, tenant_ids: set[uuid.UUID]) -> None:
        try:
            for tenant_id in tenant_ids:
                await self._redis.incr(self._generation_key(tenant_id))
        except Exception as exc:
            # the change is committed; entries of the tenant may be served until they expire
            log.error("cache invalidation failed", error=type(exc).__name__)

    async def close(self) -> None:
        await self._redis.aclose()


def create_cache(redis_url: str | None, *, ttl: float = DEFAULT_TTL, namespace: str = "") -> Cache:
    """Redis when a URL is configured, else in-process. On Redis, every key starts with
    `namespace` (see `deployment_namespace`): two deployments sharing a Redis never read each
    other's entries."""
    if redis_url:
        return RedisCache(redis_url, ttl=ttl, prefix=f"tg:{namespace}:" if namespace else "tg:")
    return MemoryCache(ttl=ttl)


def deployment_namespace(database: URL) -> str:
    """A short digest of the database a deployment serves (host, port, name; never the
    credentials). The processes of one deployment share it; a staging copy restored from
    production — the same tenant ids, the same generations — on another server or under another
    name gets its own, so a shared Redis cannot answer one from the other's cache."""
    where = f"{database.host}|{database.port}|{database.database}|{sorted(database.query.items())}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]

"""Which tenant a Host names: `<slug>.<base domain>`, a mapped custom domain, or none."""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from enum import Enum

from app import metrics
from app.context import TenantContext
from app.database import Database
from app.names import RESERVED_LABELS
from app.names import SLUG as SLUG_PATTERN
from repositories.auth import AuthRepository
from repositories.records import TenantRecord

_HOSTNAME = re.compile(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


NEGATIVE_TTL = 2.0  # seconds a host that named no tenant is remembered


class HostKind(Enum):
    BASE = "base"  # the platform itself: the tenant comes from the token alone
    SLUG = "slug"
    DOMAIN = "domain"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class HostTarget:
    kind: HostKind
    value: str | None = None


def parse_host(raw: str | None, base_domain: str) -> HostTarget:
    """Classify a Host header value (port stripped, case folded)."""
    if not raw:
        return HostTarget(HostKind.INVALID)
    host = raw.strip().lower()
    if host.startswith("["):  # IPv6 literal
        return HostTarget(HostKind.BASE)
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return HostTarget(HostKind.BASE)  # an IP address never names a tenant
    if len(host) > 253 or not _HOSTNAME.match(host):
        return HostTarget(HostKind.INVALID)
    if host == base_domain:
        return HostTarget(HostKind.BASE)
    if host.endswith("." + base_domain):
        label = host[: -len(base_domain) - 1]
        if label in RESERVED_LABELS:
            return HostTarget(HostKind.BASE)
        if SLUG_PATTERN.match(label):
            return HostTarget(HostKind.SLUG, label)
        return HostTarget(HostKind.INVALID)  # nested sub-domains name nothing
    return HostTarget(HostKind.DOMAIN, host)


class TenantResolver:
    """Host → tenant, through the database's narrow lookup function, cached briefly per host
    (a renamed or suspended tenant stops resolving within `ttl` seconds)."""

    def __init__(self, database: Database, *, ttl: float, max_entries: int = 10_000) -> None:
        self._database = database
        self._ttl = ttl
        self._max_entries = max_entries
        self._cache: dict[HostTarget, tuple[float, TenantRecord | None]] = {}

    async def resolve(self, target: HostTarget) -> TenantRecord | None:
        if target.kind not in (HostKind.SLUG, HostKind.DOMAIN):
            return None
        now = time.monotonic()
        hit = self._cache.get(target)
        if hit is not None and hit[0] > now:
            return hit[1]
        # The lookup function is SECURITY DEFINER and needs no tenant context: one statement.
        async with self._database.sessionmaker() as session:
            repo = AuthRepository(session, TenantContext(request_id="host-lookup"))
            if target.kind is HostKind.SLUG:
                found = await repo.resolve_tenant(slug=target.value)
            else:
                found = await repo.resolve_tenant(domain=target.value)
        if found is not None:
            # a slug on the metrics allow-list (TENANTGRAPH_METRICS_TENANTS) labels the id
            metrics.tenant_label.learn(str(found.id), found.slug)
        if self._ttl > 0:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            # A miss is remembered only briefly: a tenant created a moment ago must resolve soon.
            ttl = self._ttl if found is not None else min(self._ttl, NEGATIVE_TTL)
            self._cache[target] = (now + ttl, found)
        return found

"""Prometheus metrics of the process, and the per-request statistics they are fed from.

Every label has a bounded set of values: a label value is a time series kept in memory by this
process and by the metrics server for as long as it exists. The operation name and the tenant
come from outside (a client chooses its operation names; tenants are created at run time), so
both go through `BoundedLabel`: the values of an allow-list, then the first N distinct values
seen, then "other" (see docs/observability.md)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import event
from sqlalchemy.engine import Engine

OTHER = "other"
NONE = "none"
REGISTRY = CollectorRegistry(auto_describe=True)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class BoundedLabel:
    """At most `limit` distinct values besides the allow-list; the rest are "other"."""

    def __init__(self, *, allow: Iterable[str] = (), limit: int = 20) -> None:
        self.configure(allow=allow, limit=limit)

    def configure(self, *, allow: Iterable[str] = (), limit: int = 20) -> None:
        self._lock = threading.Lock()
        self.allow = frozenset(allow)
        self.limit = limit
        self._seen: set[str] = set()

    def learn(self, value: str, alias: str) -> None:
        """`alias` (a tenant's slug) names `value` (its id): when the allow-list names the alias,
        the value is allowed from now on, also where only the value is known (a request on the
        bare base domain, a counter given the tenant id alone)."""
        if alias in self.allow and value not in self.allow:
            self.allow = self.allow | {value}

    def __call__(self, value: str | None, *aliases: str | None) -> str:
        """The label for `value`; an alias (a tenant's slug) may be what the allow-list names."""
        if value is None:
            return NONE
        if value in self.allow or any(a in self.allow for a in aliases if a):
            return value
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER


tenant_label = BoundedLabel(limit=20)
operation_label = BoundedLabel(limit=100)


_NAMED_OPERATION = re.compile(
    r"\A(?:\s|,|#[^\n]*\n)*(?:query|mutation|subscription)\s+([A-Za-z_][A-Za-z0-9_]{0,63})\b"
)


def operation_name(name: str | None, query: str | None = None) -> str:
    """What the access line and the metrics call an operation: the client's `operationName`, or
    the name the document's first operation gives itself; "anonymous" without one, "invalid"
    for anything that is not a GraphQL name (never raw client text)."""
    if name is None and query is not None:
        found = _NAMED_OPERATION.match(query)
        name = found.group(1) if found else None
    if name is None:
        return "anonymous"
    return name if _NAME.match(name) else "invalid"


# --- the metrics -------------------------------------------------------------------------------

REQUESTS = Counter(
    "tenantgraph_requests",
    "GraphQL requests by operation, outcome and tenant.",
    ["operation", "outcome", "tenant"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "tenantgraph_request_duration_seconds",
    "GraphQL request latency, from the first byte read to the answer.",
    ["operation", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
REQUEST_STATEMENTS = Histogram(
    "tenantgraph_request_statements",
    "SQL statements sent per GraphQL request.",
    ["operation"],
    buckets=(1, 2, 3, 5, 8, 13, 21, 34, 55, 89),
    registry=REGISTRY,
)
LOGINS = Counter(
    "tenantgraph_logins",
    "Sign-in attempts by outcome (success, failed, rate_limited, refused).",
    ["outcome", "tenant"],
    registry=REGISTRY,
)
TENANT_SWITCHES = Counter(
    "tenantgraph_tenant_switches",
    "Sessions moved to another organization, by target tenant.",
    ["tenant"],
    registry=REGISTRY,
)
ISOLATION = Counter(
    "tenantgraph_isolation_refusals",
    "Requests or writes refused at a tenant boundary, by reason.",
    ["reason", "tenant"],
    registry=REGISTRY,
)
SECURITY_EVENTS = Counter(
    "tenantgraph_security_events",
    "Security events by kind, and whether their audit row was written, suppressed by the rate "
    "limit, failed, or had no tenant to go to.",
    ["kind", "audit"],
    registry=REGISTRY,
)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def configure(*, tenants: Iterable[str], tenant_limit: int, operation_limit: int = 100) -> None:
    tenant_label.configure(allow=tenants, limit=tenant_limit)
    operation_label.configure(limit=operation_limit)


# --- per-request statistics --------------------------------------------------------------------


@dataclass
class RequestStats:
    """What one request (or job step) did, filled in as it runs; read by the access line."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    statements: int = 0
    operation: str = "anonymous"
    outcome: str = "ok"
    tenant_id: str | None = None
    tenant_slug: str | None = None
    # security events noticed while the request ran, written once its transaction has ended
    security_events: list[Any] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


_stats: ContextVar[RequestStats | None] = ContextVar("request_stats", default=None)


def current_stats() -> RequestStats | None:
    return _stats.get()


def start_request(request_id: str) -> tuple[RequestStats, Any]:
    stats = RequestStats(request_id=request_id)
    return stats, _stats.set(stats)


def end_request(token: Any) -> None:
    _stats.reset(token)


@event.listens_for(Engine, "before_cursor_execute")
def _count_statement(*_args: Any) -> None:
    # SQLAlchemy's async greenlets run with the awaiting task's context, so this sees the
    # request's counter; statements outside a request (migrations, the CLI) count nowhere.
    stats = _stats.get()
    if stats is not None:
        stats.statements += 1


def isolation_refused(reason: str, tenant_id: object | None = None) -> None:
    ISOLATION.labels(reason=reason, tenant=tenant_label(_str(tenant_id))).inc()


def login(outcome: str, tenant_id: object | None = None, slug: str | None = None) -> None:
    LOGINS.labels(outcome=outcome, tenant=tenant_label(_str(tenant_id), slug)).inc()


def tenant_switch(tenant_id: object, slug: str | None = None) -> None:
    TENANT_SWITCHES.labels(tenant=tenant_label(_str(tenant_id), slug)).inc()


def _str(value: object | None) -> str | None:
    return None if value is None else str(value)

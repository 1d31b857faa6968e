"""Relay-style connections, shared by every list field: `Connection[Task]` is `TaskConnection`."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import strawberry

from app.errors import BadUserInput
from repositories.pagination import Cursor, Page

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

N = TypeVar("N")
R = TypeVar("R")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int
    after: Cursor | None


def page_request(first: int | None, after: str | None) -> PageRequest:
    """Validate `first` (1..100, default 20) and decode `after`."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadUserInput(f"`first` must be between 1 and {MAX_PAGE_SIZE}")
    return PageRequest(first=size, after=decode_cursor(after) if after else None)


def encode_cursor(value: datetime, row_id: uuid.UUID) -> str:
    raw = f"{value.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode((value + "=" * (-len(value) % 4)).encode("ascii")).decode()
        sort_value, _, row_id = raw.partition("|")
        parsed = datetime.fromisoformat(sort_value)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return Cursor(value=parsed, id=uuid.UUID(row_id))
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInput("Not a valid cursor") from None


def connection(
    page: Page[R],
    *,
    node: Callable[[R], N],
    sort_value: Callable[[R], datetime],
    row_id: Callable[[R], uuid.UUID],
    counter: Callable[[], Awaitable[int]],
) -> Connection[N]:
    """A connection over a page of rows; `counter` runs only if `totalCount` is asked for."""
    edges: Sequence[Edge[N]] = [
        Edge(cursor=encode_cursor(sort_value(row), row_id(row)), node=node(row))
        for row in page.rows
    ]
    return Connection(
        edges=list(edges),
        page_info=PageInfo(
            has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
        ),
        counter=counter,
    )

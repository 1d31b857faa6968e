"""Keyset pagination shared by every list: stable under inserts, one index range scan a page."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after a row: its sort value and its id (the tie-breaker)."""

    value: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    has_next: bool


def after(sort: Any, key: Any, cursor: Cursor, *, descending: bool) -> ColumnElement[bool]:
    """Rows strictly after `cursor` in the order (sort, key), both descending or both ascending."""
    if descending:
        return or_(sort < cursor.value, and_(sort == cursor.value, key < cursor.id))
    return or_(sort > cursor.value, and_(sort == cursor.value, key > cursor.id))


def order(sort: Any, key: Any, *, descending: bool) -> tuple[Any, Any]:
    return (sort.desc(), key.desc()) if descending else (sort.asc(), key.asc())


def page_of(rows: list[T], first: int) -> Page[T]:
    """Rows were fetched with `limit(first + 1)`: the extra one only says there is more."""
    return Page(rows=rows[:first], has_next=len(rows) > first)

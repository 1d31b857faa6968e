from __future__ import annotations

import strawberry

from app.errors import BadUserInput
from repositories.tasks import TaskFilter as TaskFilterValues
from repositories.tasks import TaskRepository
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsAuthenticated
from schema.tasks.filters import TaskFilter
from schema.tasks.types import (
    PageInfo,
    Task,
    TaskConnection,
    TaskEdge,
    decode_cursor,
    encode_cursor,
)

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@strawberry.type
class TaskQueries:
    @strawberry.field(
        description="Tasks of the active organization, newest first (a CLIENT sees only the "
        "tasks it created). `first` is at most 100.",
        permission_classes=[IsAuthenticated],
    )
    async def tasks(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: TaskFilter | None = None,
    ) -> TaskConnection:
        first = DEFAULT_PAGE_SIZE if first is None else first
        if not 1 <= first <= MAX_PAGE_SIZE:
            raise BadUserInput(f"`first` must be between 1 and {MAX_PAGE_SIZE}")
        flt = filter.to_values() if filter else TaskFilterValues()
        cursor = decode_cursor(after) if after else None
        page = await info.context.repo(TaskRepository).list(first=first, after=cursor, flt=flt)
        edges = [TaskEdge(cursor=encode_cursor(row), node=Task.from_row(row)) for row in page.rows]
        return TaskConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
            flt=flt,
        )

    @strawberry.field(
        description="One task by id; null when it does not exist or is not visible.",
        permission_classes=[IsAuthenticated],
    )
    async def task(self, info: Info, id: strawberry.ID) -> Task | None:
        row = await info.context.repo(TaskRepository).get(id=decode_id("Task", id))
        return Task.from_row(row) if row else None

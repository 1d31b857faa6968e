from __future__ import annotations

import strawberry

from repositories.tasks import TaskFilter as TaskFilterValues
from repositories.tasks import TaskRepository
from schema.context import Info
from schema.ids import decode_id
from schema.pagination import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from schema.permissions import IsAuthenticated
from schema.selection import selected_below
from schema.tasks.filters import TaskFilter
from schema.tasks.types import USER_FIELDS, Task, user_ids


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
    ) -> Connection[Task]:
        request = page_request(first, after)
        flt = filter.to_values() if filter else TaskFilterValues()
        repo = info.context.repo(TaskRepository)
        page = await repo.list(first=request.first, after=request.after, flt=flt)
        if USER_FIELDS & selected_below(info, "edges", "node"):
            # one batch now, and the page's user fields complete synchronously
            await info.context.loaders.users.prime_many(user_ids(page.rows))
        return connection(
            page,
            node=Task.from_row,
            sort_value=lambda row: row.created_at,
            row_id=lambda row: row.id,
            counter=lambda: repo.count(flt=flt),
        )

    @strawberry.field(
        description="One task by id; null when it does not exist or is not visible.",
        permission_classes=[IsAuthenticated],
    )
    async def task(self, info: Info, id: strawberry.ID) -> Task | None:
        row = await info.context.repo(TaskRepository).get(id=decode_id("Task", id))
        return Task.from_row(row) if row else None

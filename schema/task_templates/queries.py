from __future__ import annotations

import strawberry

from repositories.task_templates import TaskTemplateRepository
from schema.context import Info
from schema.ids import decode_id
from schema.pagination import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from schema.permissions import IsTenantStaff
from schema.task_templates.types import TaskTemplate


@strawberry.type
class TaskTemplateQueries:
    @strawberry.field(
        description="Task templates of the active organization, newest first. `first` is at "
        "most 100.",
        permission_classes=[IsTenantStaff],
    )
    async def task_templates(
        self, info: Info, first: int | None = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Connection[TaskTemplate]:
        request = page_request(first, after)
        repo = info.context.repo(TaskTemplateRepository)
        page = await repo.list(first=request.first, after=request.after)
        return connection(
            page,
            node=TaskTemplate.from_row,
            sort_value=lambda row: row.created_at,
            row_id=lambda row: row.id,
            counter=repo.count,
        )

    @strawberry.field(
        description="One task template by id; null when it does not exist.",
        permission_classes=[IsTenantStaff],
    )
    async def task_template(self, info: Info, id: strawberry.ID) -> TaskTemplate | None:
        row = await info.context.repo(TaskTemplateRepository).get(id=decode_id("TaskTemplate", id))
        return TaskTemplate.from_row(row) if row else None

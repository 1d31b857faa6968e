from __future__ import annotations

from datetime import datetime

import strawberry

from repositories.models import TaskTemplate as TaskTemplateRow
from schema.ids import encode_id
from schema.tasks.types import TaskPriority


@strawberry.type(description="A named blueprint for tasks the organization creates often.")
class TaskTemplate:
    id: strawberry.ID
    name: str
    title: str
    description: str | None
    priority: TaskPriority
    due_in_days: int | None = strawberry.field(
        description="A task made from the template is due this many days after it is made."
    )
    created_at: datetime

    @classmethod
    def from_row(cls, row: TaskTemplateRow) -> TaskTemplate:
        return cls(
            id=strawberry.ID(encode_id("TaskTemplate", row.id)),
            name=row.name,
            title=row.title,
            description=row.description,
            priority=TaskPriority(row.priority),
            due_in_days=row.due_in_days,
            created_at=row.created_at,
        )

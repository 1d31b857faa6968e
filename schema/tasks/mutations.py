from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.errors import BadUserInput
from repositories.tasks import TaskRepository
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsTenantStaff
from schema.tasks.types import Task, TaskPriority, TaskStatus
from schema.work import inputs

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000


def _title(value: str) -> str:
    title = value.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise BadUserInput(f"The title must be 1 to {MAX_TITLE} characters long")
    return title


def _description(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_DESCRIPTION:
        raise BadUserInput(f"The description must be at most {MAX_DESCRIPTION} characters long")
    return value


def _aware(value: datetime | None) -> datetime | None:
    return inputs.aware(value)


@strawberry.input
class CreateTaskInput:
    title: str
    description: str | None = None
    priority: TaskPriority = TaskPriority.MEDIUM
    due_at: datetime | None = None
    assignee_id: strawberry.ID | None = None


@strawberry.input(description="Only the fields given are changed; null clears a field.")
class UpdateTaskInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: TaskStatus | None = strawberry.UNSET
    priority: TaskPriority | None = strawberry.UNSET
    due_at: datetime | None = strawberry.UNSET
    assignee_id: strawberry.ID | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in ("title", "status", "priority"):
            value = getattr(self, name)
            if value is strawberry.UNSET:
                continue
            if value is None:
                raise BadUserInput(f"`{name}` cannot be cleared")
            changes[name] = _title(value) if name == "title" else value.value
        if self.description is not strawberry.UNSET:
            changes["description"] = _description(self.description)
        if self.due_at is not strawberry.UNSET:
            changes["due_at"] = _aware(self.due_at)
        if self.assignee_id is not strawberry.UNSET:
            changes["assignee_id"] = (
                decode_id("User", self.assignee_id) if self.assignee_id else None
            )
        return changes


@strawberry.type
class TaskMutations:
    @strawberry.mutation(permission_classes=[IsTenantStaff])
    async def create_task(self, info: Info, input: CreateTaskInput) -> Task:
        row = await info.context.repo(TaskRepository).create(
            title=_title(input.title),
            description=_description(input.description),
            priority=input.priority.value,
            due_at=_aware(input.due_at),
            assignee_id=decode_id("User", input.assignee_id) if input.assignee_id else None,
        )
        return Task.from_row(row)

    @strawberry.mutation(permission_classes=[IsTenantStaff])
    async def update_task(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateTaskInput,
    ) -> Task:
        task_id = decode_id("Task", id)
        row = await info.context.repo(TaskRepository).update(id=task_id, changes=input.changes())
        return Task.from_row(row)

    @strawberry.mutation(permission_classes=[IsTenantStaff])
    async def delete_task(self, info: Info, id: strawberry.ID) -> bool:
        await info.context.repo(TaskRepository).delete(id=decode_id("Task", id))
        return True

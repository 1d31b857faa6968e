from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.errors import BadUserInput
from repositories.task_templates import TaskTemplateRepository
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsTenantAdmin, IsTenantStaff
from schema.task_templates.types import TaskTemplate
from schema.tasks.types import Task, TaskPriority
from schema.work import inputs

MAX_DUE_IN_DAYS = 3650
MAX_TEMPLATE_DESCRIPTION = 10_000


def _due_in_days(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= MAX_DUE_IN_DAYS:
        raise BadUserInput(f"`dueInDays` must be between 0 and {MAX_DUE_IN_DAYS}")
    return value


def _description(value: str | None) -> str | None:
    return inputs.optional_text(value, "description", MAX_TEMPLATE_DESCRIPTION)


@strawberry.input
class CreateTaskTemplateInput:
    name: str
    title: str
    description: str | None = None
    priority: TaskPriority = TaskPriority.MEDIUM
    due_in_days: int | None = None


@strawberry.input(description="Only the fields given are changed; null clears a field.")
class UpdateTaskTemplateInput:
    name: str | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    priority: TaskPriority | None = strawberry.UNSET
    due_in_days: int | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in ("name", "title", "priority"):
            value = getattr(self, name)
            if value is strawberry.UNSET:
                continue
            if value is None:
                raise BadUserInput(f"`{name}` cannot be cleared")
            if name == "priority":
                changes[name] = value.value
            else:
                limit = inputs.MAX_NAME if name == "name" else inputs.MAX_TITLE
                changes[name] = inputs.required_text(value, name, limit)
        if self.description is not strawberry.UNSET:
            changes["description"] = _description(self.description)
        if self.due_in_days is not strawberry.UNSET:
            changes["due_in_days"] = _due_in_days(self.due_in_days)
        if not changes:
            raise BadUserInput("Nothing to change")
        return changes


@strawberry.input(description="The task made from a template; both fields are optional.")
class CreateTaskFromTemplateInput:
    assignee_id: strawberry.ID | None = None
    due_at: datetime | None = strawberry.field(
        default=None, description="Defaults to `dueInDays` after now."
    )


@strawberry.type
class TaskTemplateMutations:
    @strawberry.mutation(
        description="A new template; CONFLICT when the name is taken.",
        permission_classes=[IsTenantAdmin],
    )
    async def create_task_template(
        self, info: Info, input: CreateTaskTemplateInput
    ) -> TaskTemplate:
        row = await info.context.repo(TaskTemplateRepository).create(
            name=inputs.required_text(input.name, "name", inputs.MAX_NAME),
            title=inputs.required_text(input.title, "title", inputs.MAX_TITLE),
            description=_description(input.description),
            priority=input.priority.value,
            due_in_days=_due_in_days(input.due_in_days),
        )
        return TaskTemplate.from_row(row)

    @strawberry.mutation(permission_classes=[IsTenantAdmin])
    async def update_task_template(
        self, info: Info, id: strawberry.ID, input: UpdateTaskTemplateInput
    ) -> TaskTemplate:
        row = await info.context.repo(TaskTemplateRepository).update(
            id=decode_id("TaskTemplate", id), changes=input.changes()
        )
        return TaskTemplate.from_row(row)

    @strawberry.mutation(
        description="Delete a template; tasks made from it stay.",
        permission_classes=[IsTenantAdmin],
    )
    async def delete_task_template(self, info: Info, id: strawberry.ID) -> bool:
        await info.context.repo(TaskTemplateRepository).delete(id=decode_id("TaskTemplate", id))
        return True

    @strawberry.mutation(
        description="A new task with the template's title, description and priority.",
        permission_classes=[IsTenantStaff],
    )
    async def create_task_from_template(
        self,
        info: Info,
        template_id: strawberry.ID,
        input: CreateTaskFromTemplateInput | None = None,
    ) -> Task:
        given = input or CreateTaskFromTemplateInput()
        row = await info.context.repo(TaskTemplateRepository).create_task(
            template_id=decode_id("TaskTemplate", template_id),
            assignee_id=decode_id("User", given.assignee_id) if given.assignee_id else None,
            due_at=inputs.aware(given.due_at),
        )
        return Task.from_row(row)

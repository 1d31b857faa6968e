"""Operations on many tasks at once, and assignment: all or nothing, one audit row per task."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from app.errors import BadUserInput
from repositories.tasks import TaskRepository
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsTenantStaff
from schema.tasks.types import Task, TaskPriority, TaskStatus
from schema.work.inputs import MAX_IDS


def _task_ids(ids: list[strawberry.ID]) -> list[uuid.UUID]:
    """1..100 task ids, decoded, duplicates dropped (first occurrence kept)."""
    if not 1 <= len(ids) <= MAX_IDS:
        raise BadUserInput(f"Give between 1 and {MAX_IDS} task ids")
    return list(dict.fromkeys(decode_id("Task", gid) for gid in ids))


@strawberry.input(description="The changes applied to every task; at least one field.")
class BulkUpdateTasksInput:
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    assignee_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="null unassigns."
    )

    def changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if self.status is not None:
            changes["status"] = self.status.value
        if self.priority is not None:
            changes["priority"] = self.priority.value
        if self.assignee_id is not strawberry.UNSET:
            changes["assignee_id"] = (
                decode_id("User", self.assignee_id) if self.assignee_id else None
            )
        if not changes:
            raise BadUserInput("Nothing to change")
        return changes


@strawberry.type
class WorkMutations:
    @strawberry.mutation(
        description="Apply the same changes to up to 100 tasks, all or nothing: one unknown id "
        "(or another organization's) fails the whole call with NOT_FOUND.",
        permission_classes=[IsTenantStaff],
    )
    async def bulk_update_tasks(
        self, info: Info, ids: list[strawberry.ID], input: BulkUpdateTasksInput
    ) -> list[Task]:
        task_ids = _task_ids(ids)
        rows = await info.context.repo(TaskRepository).update_many(
            ids=task_ids, changes=input.changes()
        )
        return [Task.from_row(row) for row in rows]

    @strawberry.mutation(
        description="Delete up to 100 tasks, all or nothing (as `bulkUpdateTasks`); how many "
        "were deleted.",
        permission_classes=[IsTenantStaff],
    )
    async def bulk_delete_tasks(self, info: Info, ids: list[strawberry.ID]) -> int:
        return await info.context.repo(TaskRepository).delete_many(ids=_task_ids(ids))

    @strawberry.mutation(
        description="Assign a task to a member, or unassign it with a null `assigneeId`.",
        permission_classes=[IsTenantStaff],
    )
    async def assign_task(
        self, info: Info, id: strawberry.ID, assignee_id: strawberry.ID | None
    ) -> Task:
        assignee = decode_id("User", assignee_id) if assignee_id else None
        row = await info.context.repo(TaskRepository).update(
            id=decode_id("Task", id), changes={"assignee_id": assignee}
        )
        return Task.from_row(row)

from __future__ import annotations

import strawberry

from repositories.tasks import TaskFilter as TaskFilterValues
from schema.ids import decode_id
from schema.tasks.types import TaskPriority, TaskStatus

MAX_SEARCH_LENGTH = 200


@strawberry.input(description="Narrows a task list; all given conditions must hold.")
class TaskFilter:
    status: list[TaskStatus] | None = None
    priority: list[TaskPriority] | None = None
    assignee_id: strawberry.ID | None = None
    unassigned: bool | None = None
    overdue: bool | None = strawberry.field(
        default=None, description="Due in the past and not DONE."
    )
    search: str | None = strawberry.field(default=None, description="Part of the title.")

    def to_values(self) -> TaskFilterValues:
        search = (self.search or "").strip()[:MAX_SEARCH_LENGTH] or None
        return TaskFilterValues(
            # sets: a list of a thousand repeats asks the same as one of each
            statuses=tuple(sorted({s.value for s in self.status or ()})),
            priorities=tuple(sorted({p.value for p in self.priority or ()})),
            assignee_id=decode_id("User", self.assignee_id) if self.assignee_id else None,
            unassigned=self.unassigned,
            overdue=self.overdue,
            search=search,
        )

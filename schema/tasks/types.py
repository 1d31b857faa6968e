from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import Enum

import strawberry

from repositories.base import Values
from repositories.models import Task as TaskRow
from schema.context import Info
from schema.ids import encode_id
from schema.users.types import User


@strawberry.enum
class TaskStatus(Enum):
    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    BLOCKED = "BLOCKED"
    DONE = "DONE"


@strawberry.enum
class TaskPriority(Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    URGENT = "URGENT"


@strawberry.type
class Task:
    id: strawberry.ID
    title: str
    description: str | None
    status: TaskStatus
    priority: TaskPriority
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    assignee_id: strawberry.Private[uuid.UUID | None]
    created_by_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: TaskRow | Values) -> Task:
        return cls(
            id=strawberry.ID(encode_id("Task", row.id)),
            title=row.title,
            description=row.description,
            status=TaskStatus(row.status),
            priority=TaskPriority(row.priority),
            due_at=row.due_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            assignee_id=row.assignee_id,
            created_by_id=row.created_by_id,
        )

    # Synchronous: they answer at once when the page primed the loader (schema/loading.py).
    @strawberry.field(description="The member the task is assigned to.")
    def assignee(self, info: Info) -> User | None:
        return _user(info, self.assignee_id)  # type: ignore[return-value]

    @strawberry.field(description="The member who created the task.")
    def created_by(self, info: Info) -> User | None:
        return _user(info, self.created_by_id)  # type: ignore[return-value]


USER_FIELDS = frozenset({"assignee", "createdBy"})


def user_ids(rows: Iterable[TaskRow | Values]) -> Iterator[uuid.UUID | None]:
    for row in rows:
        yield row.assignee_id
        yield row.created_by_id


def _user(info: Info, user_id: uuid.UUID | None) -> object:
    return info.context.loaders.users.resolve(user_id, User.from_record)

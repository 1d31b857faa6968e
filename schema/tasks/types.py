from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from enum import Enum

import strawberry

from app.errors import BadUserInput
from repositories.models import Task as TaskRow
from repositories.tasks import TaskCursor, TaskRepository
from repositories.tasks import TaskFilter as TaskFilterValues
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
    def from_row(cls, row: TaskRow) -> Task:
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

    @strawberry.field(description="The member the task is assigned to.")
    async def assignee(self, info: Info) -> User | None:
        return await _user(info, self.assignee_id)

    @strawberry.field(description="The member who created the task.")
    async def created_by(self, info: Info) -> User | None:
        return await _user(info, self.created_by_id)


async def _user(info: Info, user_id: uuid.UUID | None) -> User | None:
    if user_id is None:
        return None
    record = await info.context.loaders.users.load(user_id)
    return User.from_record(record) if record else None


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type
class TaskConnection:
    edges: list[TaskEdge]
    page_info: PageInfo
    flt: strawberry.Private[TaskFilterValues]

    @strawberry.field(description="How many tasks match the filter, over all pages.")
    async def total_count(self, info: Info) -> int:
        return await info.context.repo(TaskRepository).count(flt=self.flt)


def encode_cursor(row: TaskRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> TaskCursor:
    try:
        raw = base64.urlsafe_b64decode((value + "=" * (-len(value) % 4)).encode("ascii")).decode()
        created_at, _, row_id = raw.partition("|")
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return TaskCursor(created_at=parsed, id=uuid.UUID(row_id))
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInput("Not a valid cursor") from None

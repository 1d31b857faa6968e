from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import Enum

import strawberry

from repositories.compliance_records import SETTLED
from repositories.models import ComplianceRecord as ComplianceRecordRow
from schema.context import Info
from schema.ids import encode_id
from schema.tasks.types import Task
from schema.users.types import User


@strawberry.enum
class ComplianceStatus(Enum):
    PENDING = "PENDING"
    COMPLIANT = "COMPLIANT"
    NON_COMPLIANT = "NON_COMPLIANT"
    WAIVED = "WAIVED"


@strawberry.type(description="An obligation the organization tracks, optionally tied to a task.")
class ComplianceRecord:
    id: strawberry.ID
    title: str
    category: str | None
    status: ComplianceStatus
    due_at: datetime | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    task_id: strawberry.Private[uuid.UUID | None]
    created_by_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: ComplianceRecordRow) -> ComplianceRecord:
        return cls(
            id=strawberry.ID(encode_id("ComplianceRecord", row.id)),
            title=row.title,
            category=row.category,
            status=ComplianceStatus(row.status),
            due_at=row.due_at,
            notes=row.notes,
            created_at=row.created_at,
            updated_at=row.updated_at,
            task_id=row.task_id,
            created_by_id=row.created_by_id,
        )

    @strawberry.field(description="Due in the past and neither COMPLIANT nor WAIVED.")
    def overdue(self) -> bool:
        return (
            self.due_at is not None
            and self.due_at < datetime.now(UTC)
            and self.status.value not in SETTLED
        )

    @strawberry.field(description="The task the record belongs to.")
    async def task(self, info: Info) -> Task | None:
        if self.task_id is None:
            return None
        row = await info.context.loaders.tasks.load(self.task_id)
        return Task.from_row(row) if row else None

    @strawberry.field(description="The member who created the record.")
    async def created_by(self, info: Info) -> User | None:
        if self.created_by_id is None:
            return None
        record = await info.context.loaders.users.load(self.created_by_id)
        return User.from_record(record) if record else None

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.errors import BadUserInput
from repositories.compliance_records import ComplianceRecordRepository
from schema.compliance.types import ComplianceRecord, ComplianceStatus
from schema.context import Info
from schema.ids import decode_id
from schema.permissions import IsTenantStaff
from schema.work import inputs

MAX_CATEGORY = 100
MAX_NOTES = 10_000


@strawberry.input
class CreateComplianceRecordInput:
    title: str
    category: str | None = None
    status: ComplianceStatus = ComplianceStatus.PENDING
    due_at: datetime | None = None
    notes: str | None = None
    task_id: strawberry.ID | None = strawberry.field(
        default=None, description="A task of the same organization."
    )


@strawberry.input(description="Only the fields given are changed; null clears a field.")
class UpdateComplianceRecordInput:
    title: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    status: ComplianceStatus | None = strawberry.UNSET
    due_at: datetime | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET
    task_id: strawberry.ID | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if self.title is not strawberry.UNSET:
            if self.title is None:
                raise BadUserInput("`title` cannot be cleared")
            changes["title"] = inputs.required_text(self.title, "title", inputs.MAX_TITLE)
        if self.status is not strawberry.UNSET:
            if self.status is None:
                raise BadUserInput("`status` cannot be cleared")
            changes["status"] = self.status.value
        if self.category is not strawberry.UNSET:
            changes["category"] = inputs.optional_text(self.category, "category", MAX_CATEGORY)
        if self.notes is not strawberry.UNSET:
            changes["notes"] = inputs.optional_text(self.notes, "notes", MAX_NOTES)
        if self.due_at is not strawberry.UNSET:
            changes["due_at"] = inputs.aware(self.due_at)
        if self.task_id is not strawberry.UNSET:
            changes["task_id"] = decode_id("Task", self.task_id) if self.task_id else None
        if not changes:
            raise BadUserInput("Nothing to change")
        return changes


@strawberry.type
class ComplianceMutations:
    @strawberry.mutation(permission_classes=[IsTenantStaff])
    async def create_compliance_record(
        self, info: Info, input: CreateComplianceRecordInput
    ) -> ComplianceRecord:
        row = await info.context.repo(ComplianceRecordRepository).create(
            title=inputs.required_text(input.title, "title", inputs.MAX_TITLE),
            category=inputs.optional_text(input.category, "category", MAX_CATEGORY),
            status=input.status.value,
            due_at=inputs.aware(input.due_at),
            notes=inputs.optional_text(input.notes, "notes", MAX_NOTES),
            task_id=decode_id("Task", input.task_id) if input.task_id else None,
        )
        return ComplianceRecord.from_row(row)

    @strawberry.mutation(permission_classes=[IsTenantStaff])
    async def update_compliance_record(
        self, info: Info, id: strawberry.ID, input: UpdateComplianceRecordInput
    ) -> ComplianceRecord:
        row = await info.context.repo(ComplianceRecordRepository).update(
            id=decode_id("ComplianceRecord", id), changes=input.changes()
        )
        return ComplianceRecord.from_row(row)

    @strawberry.mutation(permission_classes=[IsTenantStaff])
    async def delete_compliance_record(self, info: Info, id: strawberry.ID) -> bool:
        await info.context.repo(ComplianceRecordRepository).delete(
            id=decode_id("ComplianceRecord", id)
        )
        return True

from __future__ import annotations

from datetime import datetime

import strawberry

from repositories.compliance_records import ComplianceFilter as ComplianceFilterValues
from schema.compliance.types import ComplianceStatus
from schema.ids import decode_id
from schema.work.inputs import aware


@strawberry.input(description="Narrows a compliance record list; all given conditions must hold.")
class ComplianceRecordFilter:
    status: list[ComplianceStatus] | None = None
    task_id: strawberry.ID | None = None
    due_before: datetime | None = None
    overdue: bool | None = strawberry.field(
        default=None, description="Due in the past and neither COMPLIANT nor WAIVED."
    )

    def to_values(self) -> ComplianceFilterValues:
        return ComplianceFilterValues(
            statuses=tuple(s.value for s in self.status or ()),
            task_id=decode_id("Task", self.task_id) if self.task_id else None,
            due_before=aware(self.due_before),
            overdue=self.overdue,
        )

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from repositories.models import Notification as NotificationRow
from schema.ids import encode_id


@strawberry.enum(description="What a notification reminds of.")
class NotificationKind(Enum):
    TASK_OVERDUE = "TASK_OVERDUE"
    BOOKING_UPCOMING = "BOOKING_UPCOMING"
    COMPLIANCE_DUE = "COMPLIANCE_DUE"
    COMPLIANCE_OVERDUE = "COMPLIANCE_OVERDUE"


@strawberry.type(description="A reminder for the signed-in member, left by a background job.")
class Notification:
    id: strawberry.ID
    kind: NotificationKind
    message: str
    subject_id: strawberry.ID = strawberry.field(
        description="The opaque id of the task, booking or compliance record it is about."
    )
    due_at: datetime | None = strawberry.field(
        description="When the subject is due (a booking: when it starts)."
    )
    read_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: NotificationRow) -> Notification:
        if row.task_id is not None:
            subject = encode_id("Task", row.task_id)
        elif row.booking_id is not None:
            subject = encode_id("Booking", row.booking_id)
        else:
            assert row.compliance_record_id is not None  # the table's check says one is set
            subject = encode_id("ComplianceRecord", row.compliance_record_id)
        return cls(
            id=strawberry.ID(encode_id("Notification", row.id)),
            kind=NotificationKind(row.kind),
            message=row.message,
            subject_id=strawberry.ID(subject),
            due_at=row.due_at,
            read_at=row.read_at,
            created_at=row.created_at,
        )

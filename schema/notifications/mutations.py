from __future__ import annotations

import strawberry

from app.errors import NotFound
from repositories.notifications import NotificationRepository
from schema.context import Info
from schema.ids import decode_id
from schema.notifications.types import Notification
from schema.permissions import IsAuthenticated


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        description="Mark one of the signed-in member's notifications read (marking it again "
        "keeps the first time); NOT_FOUND for any other.",
        permission_classes=[IsAuthenticated],
    )
    async def mark_notification_read(self, info: Info, id: strawberry.ID) -> Notification:
        row = await info.context.repo(NotificationRepository).mark_read(
            notification_id=decode_id("Notification", id)
        )
        if row is None:
            raise NotFound()
        return Notification.from_row(row)

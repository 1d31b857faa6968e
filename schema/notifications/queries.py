from __future__ import annotations

import strawberry

from repositories.notifications import NotificationRepository
from schema.context import Info
from schema.notifications.types import Notification
from schema.pagination import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from schema.permissions import IsAuthenticated


@strawberry.type
class NotificationQueries:
    @strawberry.field(
        description="The signed-in member's notifications in the active organization, newest "
        "first. `first` is at most 100.",
        permission_classes=[IsAuthenticated],
    )
    async def my_notifications(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        unread_only: bool = False,
    ) -> Connection[Notification]:
        request = page_request(first, after)
        repo = info.context.repo(NotificationRepository)
        page = await repo.list_mine(
            first=request.first, after=request.after, unread_only=unread_only
        )
        return connection(
            page,
            node=Notification.from_row,
            sort_value=lambda row: row.created_at,
            row_id=lambda row: row.id,
            counter=lambda: repo.count_mine(unread_only=unread_only),
        )

from __future__ import annotations

import strawberry

from repositories.services import ServiceFilter as ServiceFilterValues

MAX_SEARCH_LENGTH = 200


@strawberry.input(description="Narrows a service list; all given conditions must hold.")
class ServiceFilter:
    active: bool | None = strawberry.field(
        default=None, description="STAFF and ADMIN only; a CLIENT always sees active services."
    )
    search: str | None = strawberry.field(default=None, description="Part of the name.")

    def to_values(self) -> ServiceFilterValues:
        search = (self.search or "").strip()[:MAX_SEARCH_LENGTH] or None
        return ServiceFilterValues(active=self.active, search=search)

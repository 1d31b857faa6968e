from __future__ import annotations

import strawberry

from repositories.service_requests import ServiceRequestFilter as ServiceRequestFilterValues
from schema.ids import decode_id
from schema.service_requests.types import ServiceRequestStatus


@strawberry.input(description="Narrows a service request list; all given conditions must hold.")
class ServiceRequestFilter:
    status: list[ServiceRequestStatus] | None = None
    client_id: strawberry.ID | None = None
    service_id: strawberry.ID | None = None

    def to_values(self) -> ServiceRequestFilterValues:
        return ServiceRequestFilterValues(
            statuses=tuple(s.value for s in self.status or ()),
            client_id=decode_id("User", self.client_id) if self.client_id else None,
            service_id=decode_id("Service", self.service_id) if self.service_id else None,
        )

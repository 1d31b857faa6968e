"""The GraphQL schema: root types assembled from each area's queries and mutations."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, ParserCache, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.admin.mutations import AdminMutations
from schema.admin.queries import AdminQueries
from schema.analytics.queries import AnalyticsQueries
from schema.auth.mutations import AuthMutations
from schema.auth.queries import AuthQueries
from schema.availability.mutations import AvailabilityMutations
from schema.availability.queries import AvailabilityQueries
from schema.bookings.mutations import BookingMutations
from schema.bookings.queries import BookingQueries
from schema.compliance.mutations import ComplianceMutations
from schema.compliance.queries import ComplianceQueries
from schema.execution import FastPathExecutor
from schema.limits import MAX_TOKENS, validation_extension
from schema.notifications.mutations import NotificationMutations
from schema.notifications.queries import NotificationQueries
from schema.platform.mutations import PlatformMutations
from schema.platform.queries import PlatformQueries
from schema.scalars import SCALARS
from schema.service_requests.mutations import ServiceRequestMutations
from schema.service_requests.queries import ServiceRequestQueries
from schema.services.mutations import ServiceMutations
from schema.services.queries import ServiceQueries
from schema.task_templates.mutations import TaskTemplateMutations
from schema.task_templates.queries import TaskTemplateQueries
from schema.tasks.mutations import TaskMutations
from schema.tasks.queries import TaskQueries
from schema.work.mutations import WorkMutations


@strawberry.type
class Query(
    AuthQueries,
    TaskQueries,
    ServiceQueries,
    AvailabilityQueries,
    BookingQueries,
    ServiceRequestQueries,
    TaskTemplateQueries,
    ComplianceQueries,
    AdminQueries,
    AnalyticsQueries,
    NotificationQueries,
    PlatformQueries,
):
    pass


@strawberry.type
class Mutation(
    AuthMutations,
    TaskMutations,
    ServiceMutations,
    AvailabilityMutations,
    BookingMutations,
    ServiceRequestMutations,
    TaskTemplateMutations,
    ComplianceMutations,
    WorkMutations,
    AdminMutations,
    NotificationMutations,
    PlatformMutations,
):
    pass


class TenantGraphSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry's default logs every error with the whole document, which would put the
        variables of a failed `login` (a password) in the log. The HTTP endpoint logs unexpected
        errors itself, without the document."""

    hide_suggestions = False

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        # Variable values are checked during execution: their errors hide suggestions too.
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        return {**kwargs, "hide_suggestions": self.hide_suggestions}


def build_schema(
    *, introspection: bool = True, suggestions: bool | None = None
) -> strawberry.Schema:
    """The schema; outside development pass `introspection=False`, which also hides "did you
    mean …?" suggestions unless `suggestions` says otherwise. Every limit of `schema.limits` is
    checked while validating, before any resolver runs."""
    hide = not (introspection if suggestions is None else suggestions)
    # Factories: strawberry builds fresh extensions per request (the caches are shared).
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(ParserCache, maxsize=512),
        validation_extension(introspection=introspection, hide_suggestions=hide),
    ]
    schema = TenantGraphSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        execution_context_class=FastPathExecutor,
        config=StrawberryConfig(scalar_map=SCALARS),
    )
    schema.hide_suggestions = hide
    return schema


def export_sdl() -> str:
    """The SDL committed as `schema.graphql`."""
    return build_schema().as_str() + "\n"

"""Errors that carry an API code. Raised by repositories and resolvers alike; the GraphQL layer
turns them into `errors[].extensions.code`, and anything else into a masked INTERNAL."""

from __future__ import annotations


class AppError(Exception):
    code = "INTERNAL"
    default_message = "Internal server error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message


class Unauthenticated(AppError):
    code = "UNAUTHENTICATED"
    default_message = "Authentication required"


class Forbidden(AppError):
    code = "FORBIDDEN"
    default_message = "You do not have permission to do this"


class NotFound(AppError):
    code = "NOT_FOUND"
    default_message = "Not found"


class BadUserInput(AppError):
    code = "BAD_USER_INPUT"
    default_message = "Invalid input"


class Conflict(AppError):
    code = "CONFLICT"
    default_message = "Conflicts with existing data"


class TooManyRequests(AppError):
    """A rate limit is used up (sign-in attempts). Says nothing about the account."""

    code = "TOO_MANY_REQUESTS"
    default_message = "Too many attempts. Try again later"


class TenantMismatch(AppError):
    """A write was about to cross the tenant of the context. Never expected; always a bug."""

    code = "INTERNAL"

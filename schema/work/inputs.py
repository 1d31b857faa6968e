"""Input checks shared by the work areas (service requests, templates, compliance, bulk task
operations): each raises BAD_USER_INPUT with a message that names the field."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from app.errors import BadUserInput

MAX_TITLE = 200
MAX_NAME = 200
MAX_DESCRIPTION = 5_000
MAX_EMAIL = 254
MAX_PHONE = 40
MAX_IDS = 100

_EMAIL = re.compile(
    r"^[^@\s<>\"(),;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_PHONE = re.compile(r"^\+?[0-9 ().\-/]{3,40}$")


def required_text(value: str, field: str, max_length: int) -> str:
    """Trimmed, 1..max_length characters."""
    text = value.strip()
    if not 1 <= len(text) <= max_length:
        raise BadUserInput(f"`{field}` must be 1 to {max_length} characters long")
    return text


def optional_text(value: str | None, field: str, max_length: int) -> str | None:
    """Trimmed; empty means none; at most max_length characters."""
    if value is None or not value.strip():
        return None
    return required_text(value, field, max_length)


def email(value: str | None, field: str = "contactEmail") -> str | None:
    """A plausible address (one @, a dotted domain), at most 254 characters."""
    text = optional_text(value, field, MAX_EMAIL)
    if text is not None and not _EMAIL.match(text):
        raise BadUserInput(f"`{field}` is not a valid email address")
    return text


def phone(value: str | None, field: str = "contactPhone") -> str | None:
    """Digits with the usual separators, an optional leading +, at most 40 characters."""
    text = optional_text(value, field, MAX_PHONE)
    if text is not None and (not _PHONE.match(text) or sum(c.isdigit() for c in text) < 3):
        raise BadUserInput(f"`{field}` is not a valid phone number")
    return text


# The driver stores these two instants as -infinity / infinity and reads them back as naive
# date-times, which no later comparison with an aware one survives.
UNSTORABLE = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def aware(value: datetime | None) -> datetime | None:
    """A naive date-time is read as UTC; the first and last instants of the calendar are refused."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value in UNSTORABLE:
        raise BadUserInput("A date-time is out of range")
    return value

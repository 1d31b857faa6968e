"""Tenant slugs: what may name a tenant in a host (`<slug>.<base domain>`)."""

from __future__ import annotations

import re

from app.errors import BadUserInput

SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Labels under the base domain that name the platform itself, never a tenant.
RESERVED_LABELS = frozenset({"www", "api", "app", "admin", "static", "status"})


def check_slug(slug: str) -> str:
    """The slug, if it can name a tenant; BAD_USER_INPUT saying why otherwise."""
    if not SLUG.match(slug):
        raise BadUserInput(
            f"{slug!r} is not a valid slug: 1 to 63 lower-case letters, digits and hyphens, "
            "not starting or ending with a hyphen"
        )
    if slug in RESERVED_LABELS:
        raise BadUserInput(f"{slug!r} is reserved for the platform and cannot name a tenant")
    return slug

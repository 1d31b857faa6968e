"""The five settings singletons of the context tenant: read merged over the global defaults,
written only into the tenant's own row, exported and imported as one JSON document.

The global row (`tenant_id IS NULL`) belongs to the platform: only a super-admin may change it,
and there is no API path for that yet, so nothing here ever writes it (RLS would refuse anyway:
its write policies require `tenant_id = app.current_tenant_id`).
"""

from __future__ import annotations

import functools
import json
import re
import uuid
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert

from app.errors import BadUserInput
from repositories.audit import AuditRepository, changed_tenants
from repositories.base import TenantRepository
from repositories.models import (
    Base,
    BookingSettings,
    CommunicationSettings,
    IntegrationSettings,
    OrganizationSettings,
    SecuritySettings,
)

DOCUMENT_VERSION = 1
_LOCALE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
)
MAX_EMAIL_DOMAINS = 50
MAX_URL = 2000

Check = Callable[[str, Any], Any]
"""Validate and normalise one value (the first argument names it in the error message)."""


# --- checks -----------------------------------------------------------------------------------


def _text(max_length: int) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise BadUserInput(f"`{name}` must be a string")
        value = value.strip()
        if not 1 <= len(value) <= max_length:
            raise BadUserInput(f"`{name}` must be 1 to {max_length} characters long")
        return value

    return check


def _integer(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadUserInput(f"`{name}` must be an integer")
        if not low <= value <= high:
            raise BadUserInput(f"`{name}` must be between {low} and {high}")
        return value

    return check


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadUserInput(f"`{name}` must be true or false")
    return value


@functools.cache
def _zones() -> frozenset[str]:
    """IANA zones both Python and PostgreSQL know: Area/Location names and UTC, not the
    system's `localtime`, `posixrules`, `Factory` or the posix/ and right/ trees."""
    return frozenset(
        zone
        for zone in zoneinfo.available_timezones()
        if (("/" in zone and not zone.startswith(("posix/", "right/"))) or zone in {"UTC", "GMT"})
    )


def known_timezone(name: str) -> bool:
    """Whether `name` is a zone the settings accept (one both Python and PostgreSQL know)."""
    return name in _zones()


def _timezone(name: str, value: Any) -> str:
    if not isinstance(value, str) or value.strip() not in _zones():
        raise BadUserInput(f"`{name}` must be an IANA time zone such as Europe/London")
    return value.strip()


def _locale(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _LOCALE.match(value.strip()):
        raise BadUserInput(f"`{name}` must be a locale such as en or en-GB")
    return value.strip()


def _https_url(name: str, value: Any) -> str:
    text = _text(MAX_URL)(name, value)
    try:
        parts = urlsplit(text)
        valid = parts.scheme == "https" and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid or any(c.isspace() for c in text) or not text.startswith("https://"):
        raise BadUserInput(f"`{name}` must be an https:// URL")
    return text


def _email(name: str, value: Any) -> str:
    text = _text(320)(name, value)
    if not _EMAIL.match(text):
        raise BadUserInput(f"`{name}` must be an email address")
    return text


def _provider(name: str, value: Any) -> str:
    text = _text(50)(name, value).lower()
    if not _PROVIDER.match(text):
        raise BadUserInput(f"`{name}` must be a provider name of letters, digits, - or _")
    return text


def _email_domains(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadUserInput(f"`{name}` must be a list of domain names")
    domains = sorted({v.strip().lower() for v in value})
    if len(domains) > MAX_EMAIL_DOMAINS:
        raise BadUserInput(f"`{name}` may hold at most {MAX_EMAIL_DOMAINS} domains")
    for domain in domains:
        if not _HOSTNAME.match(domain):
            raise BadUserInput(f"`{name}` must hold domain names such as example.com")
    return domains


# --- the five sections ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingField:
    column: str  # the column, and the keyword the repository takes
    key: str  # the name in the exported document (the GraphQL field name)
    check: Check
    nullable: bool = False
    default: Any = None  # used only if the global row were missing


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    model: type[Base]
    fields: tuple[SettingField, ...]

    def field(self, column: str) -> SettingField:
        return next(f for f in self.fields if f.column == column)


SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section(
            "organization",
            OrganizationSettings,
            (
                SettingField("display_name", "displayName", _text(200), nullable=True),
                SettingField("timezone", "timezone", _timezone, default="UTC"),
                SettingField("locale", "locale", _locale, default="en"),
            ),
        ),
        Section(
            "booking",
            BookingSettings,
            (
                SettingField("slot_minutes", "slotMinutes", _integer(5, 480), default=30),
                SettingField("min_notice_hours", "minNoticeHours", _integer(0, 720), default=24),
                SettingField("max_advance_days", "maxAdvanceDays", _integer(1, 730), default=90),
                SettingField(
                    "cancellation_notice_hours",
                    "cancellationNoticeHours",
                    _integer(0, 720),
                    default=24,
                ),
                SettingField("require_confirmation", "requireConfirmation", _boolean, default=True),
            ),
        ),
        Section(
            "integration",
            IntegrationSettings,
            (
                SettingField("calendar_provider", "calendarProvider", _provider, nullable=True),
                SettingField("accounting_provider", "accountingProvider", _provider, nullable=True),
                SettingField("webhook_url", "webhookUrl", _https_url, nullable=True),
            ),
        ),
        Section(
            "communication",
            CommunicationSettings,
            (
                SettingField("sender_name", "senderName", _text(200), nullable=True),
                SettingField("reply_to_email", "replyToEmail", _email, nullable=True),
                SettingField("reminders_enabled", "remindersEnabled", _boolean, default=True),
                SettingField(
                    "reminder_hours_before", "reminderHoursBefore", _integer(1, 336), default=24
                ),
            ),
        ),
        Section(
            "security",
            SecuritySettings,
            (
                SettingField(
                    "session_ttl_minutes", "sessionTtlMinutes", _integer(5, 43200), default=60
                ),
                SettingField(
                    "password_min_length", "passwordMinLength", _integer(8, 128), default=12
                ),
                SettingField("mfa_required", "mfaRequired", _boolean, default=False),
                SettingField(
                    "allowed_email_domains", "allowedEmailDomains", _email_domains, default=[]
                ),
            ),
        ),
    )
}


def _section(name: str) -> Section:
    try:
        return SECTIONS[name]
    except KeyError:
        raise BadUserInput(f"Unknown settings section {name!r}") from None


def validate(section: str, changes: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """Check and normalise `changes` (column -> value) for one section; BAD_USER_INPUT naming
    the first wrong field. None clears a nullable field; an empty string counts as None."""
    spec = _section(section)
    columns = {f.column: f for f in spec.fields}
    clean: dict[str, Any] = {}
    for column, value in changes.items():
        setting = columns.get(column)
        if setting is None:
            raise BadUserInput(f"Unknown setting `{prefix}{column}`")
        name = prefix + setting.key
        if value is None or (setting.nullable and isinstance(value, str) and not value.strip()):
            if not setting.nullable:
                raise BadUserInput(f"`{name}` cannot be null")
            clean[column] = None
        else:
            clean[column] = setting.check(name, value)
    return clean


def parse_document(document: Any) -> dict[str, dict[str, Any]]:
    """Validate a whole settings document (as `export` writes it, or any part of it) and return
    section -> column -> value. Anything unknown, mistyped or out of range is BAD_USER_INPUT."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            raise BadUserInput("The settings document is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadUserInput("The settings document must be a JSON object")
    version = document.get("version")
    # `type(...) is int`: JSON true and 1.0 compare equal to 1 in Python, and are not versions
    if type(version) is not int or version != DOCUMENT_VERSION:
        raise BadUserInput(f"The settings document must have `version`: {DOCUMENT_VERSION}")
    parsed: dict[str, dict[str, Any]] = {}
    for name, values in document.items():
        if name == "version":
            continue
        if name not in SECTIONS:
            raise BadUserInput(f"Unknown settings section `{name}`")
        if not isinstance(values, dict):
            raise BadUserInput(f"`{name}` must be an object")
        by_key = {f.key: f.column for f in SECTIONS[name].fields}
        unknown = sorted(set(values) - set(by_key))
        if unknown:
            raise BadUserInput(f"Unknown setting `{name}.{unknown[0]}`")
        parsed[name] = validate(name, {by_key[k]: v for k, v in values.items()}, prefix=f"{name}.")
    return parsed


# --- the repository ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingsValues:
    """One section as the tenant sees it: its own row merged over the global defaults."""

    section: str
    values: Mapping[str, Any]  # column -> effective value
    customized: bool  # the tenant has a row of its own
    row_id: uuid.UUID | None  # the tenant's row (audit target); never exported


CACHE_NAME = "settings.v1"


class SettingsRepository(TenantRepository):
    """Effective settings are cached per tenant (when the repository has a cache): the entry
    of a tenant is dropped after any committed change in that tenant (settings writes are
    audited, and audited changes bump the tenant's cache generation), and a transaction that
    has changed the tenant reads the database, never an entry from before its own write. The
    global default row has no API path; an operator's change to it is seen when entries expire
    (the cache's TTL)."""

    async def get(self, *, section: str) -> SettingsValues:
        """The effective settings of one section: per field, the tenant's value over the
        global default's (a null in the tenant's row falls back to the global value)."""
        _section(section)
        if self.cache is None or self.tenant_id in changed_tenants(self.session):
            return await self._load(section)
        args = {"section": section}
        generation = await self.cache.generation(self.tenant_id)
        cached = await self.cache.get(self.tenant_id, CACHE_NAME, args, generation=generation)
        if cached is not None:
            row_id = cached["row_id"]
            return SettingsValues(
                section,
                cached["values"],
                cached["customized"],
                uuid.UUID(row_id) if row_id else None,
            )
        values = await self._load(section)
        document = {
            "values": dict(values.values),
            "customized": values.customized,
            "row_id": str(values.row_id) if values.row_id else None,
        }
        await self.cache.set(self.tenant_id, CACHE_NAME, args, document, generation=generation)
        return values

    async def _load(self, section: str) -> SettingsValues:
        spec = _section(section)
        model: Any = spec.model
        columns = [getattr(model, f.column) for f in spec.fields]
        rows = await self._execute(
            select(model.id, model.tenant_id, *columns).where(
                or_(model.tenant_id.is_(None), model.tenant_id == self.tenant_id)
            )
        )
        own = glob = None
        for row in rows:
            if row.tenant_id is None:
                glob = row
            elif row.tenant_id == self.tenant_id:
                own = row
        values: dict[str, Any] = {}
        for f in spec.fields:
            value = getattr(own, f.column) if own is not None else None
            if value is None:
                value = getattr(glob, f.column) if glob is not None else f.default
            values[f.column] = list(value) if isinstance(value, list) else value
        return SettingsValues(section, values, own is not None, own.id if own else None)

    async def update(self, *, section: str, changes: Mapping[str, Any]) -> SettingsValues:
        """Validate and write `changes` into the tenant's own row (created on the first write,
        starting from the current effective values); audited with before/after. A null in an
        optional field means "the platform default"."""
        clean = validate(section, changes)
        before, after = await self._write(section, clean)
        await AuditRepository(self.session, self.ctx).record(
            action=f"settings.{section}.update",
            target_type=f"{section}_settings",
            target_id=after.row_id,
            changes=_diff(before, after),
        )
        return after

    async def export(self) -> dict[str, Any]:
        """The effective settings as a document `import_document` accepts. It carries no ids
        (neither the tenant's nor any row's): only setting values, keyed by name."""
        document: dict[str, Any] = {"version": DOCUMENT_VERSION}
        for name, spec in SECTIONS.items():
            current = await self.get(section=name)
            document[name] = {f.key: current.values[f.column] for f in spec.fields}
        return document

    async def import_document(self, *, document: Any) -> None:
        """Validate the whole document first (nothing is written if any part is wrong), then
        write each section it names into the context tenant's rows; one audit row."""
        parsed = parse_document(document)
        changes: dict[str, Any] = {}
        for name, values in parsed.items():
            before, after = await self._write(name, values)
            diff = _diff(before, after)
            if diff:
                changes[name] = diff
        await AuditRepository(self.session, self.ctx).record(
            action="settings.import", target_type="settings", changes=changes
        )

    async def _write(
        self, section: str, clean: Mapping[str, Any]
    ) -> tuple[SettingsValues, SettingsValues]:
        before = await self._load(section)
        if clean:
            spec = SECTIONS[section]
            model: Any = spec.model
            # Upsert on the partial unique index `uq_<table>_tenant`. The first write creates
            # the tenant's row: required columns start from the effective values (they cannot
            # say "inherit"), optional ones stay null and keep following the global row unless
            # given; later writes change only `clean`.
            first = {f.column: before.values[f.column] for f in spec.fields if not f.nullable}
            await self._execute(
                insert(model)
                .values(tenant_id=self.tenant_id, **{**first, **clean})
                .on_conflict_do_update(
                    index_elements=[model.tenant_id],
                    index_where=model.tenant_id.is_not(None),
                    set_={**clean, "updated_at": func.now()},
                )
            )
        return before, await self._load(section)


def _diff(before: SettingsValues, after: SettingsValues) -> dict[str, Any]:
    return {
        column: {"from": before.values[column], "to": value}
        for column, value in after.values.items()
        if before.values[column] != value
    }

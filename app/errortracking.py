"""Sentry, when `SENTRY_DSN` is set: unexpected errors, tagged with the tenant, user and request
id bound to the log context, and nothing personal (no request bodies, headers, cookies, emails,
IP addresses or local variables)."""

from __future__ import annotations

import re
import sys
from typing import Any

import structlog

from app.logging import REDACTED, scrub

_enabled = False
# Request fields that may hold personal data or credentials: dropped, not scrubbed.
_DROPPED_REQUEST_FIELDS = ("cookies", "data", "headers", "env", "query_string")
_TAGGED = ("tenant_id", "user_id", "request_id", "job")
# starts where a word does and is bounded (RFC 5321 lengths): linear on any input
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,63}"
)


def _private(value: Any) -> Any:
    """Secrets and email addresses out of any text of an event."""
    value = scrub(value)
    if isinstance(value, str):
        return _EMAIL.sub("[EMAIL]", value)
    if isinstance(value, dict):
        return {k: _private(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_private(v) for v in value]
    return value


def init_sentry(
    dsn: str | None,
    *,
    environment: str,
    release: str | None = None,
    transport: Any = None,
    traces_sample_rate: float = 0.0,
) -> bool:
    """Start the Sentry client if a DSN is given; answer whether it runs. `transport` replaces
    the network (tests)."""
    global _enabled
    if not dsn:
        return False
    check_dsn(dsn)
    import sentry_sdk

    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": environment,
        "release": release,
        "max_request_body_size": "never",
        "before_send": before_send,
        "before_breadcrumb": before_breadcrumb,
        # the integrations that patch libraries (Starlette, SQLAlchemy, Redis...) would record
        # request data and SQL parameters; errors are reported from the log pipeline instead
        "auto_enabling_integrations": False,
        "traces_sample_rate": traces_sample_rate,
    }
    from sentry_sdk.consts import DEFAULT_OPTIONS

    if "data_collection" in DEFAULT_OPTIONS:
        # the SDK's newer spelling of send_default_pii=False
        options["data_collection"] = {
            "user_info": False,
            "http_bodies": [],
            "database_query_data": False,
            "stack_frame_variables": False,
        }
    else:
        options["send_default_pii"] = False
        options["include_local_variables"] = False
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    _enabled = True
    return True


def check_dsn(dsn: str) -> None:
    """A ConfigurationError (naming the setting, never its value) unless `dsn` is a DSN the
    Sentry client accepts."""
    from sentry_sdk.utils import BadDsn, Dsn

    from app.settings import ConfigurationError

    try:
        Dsn(dsn)
    except BadDsn:
        raise ConfigurationError(
            "SENTRY_DSN is not a Sentry DSN (https://<key>@<host>/<project id>)"
        ) from None


def close_sentry() -> None:
    global _enabled
    if not _enabled:
        return
    import sentry_sdk

    sentry_sdk.get_client().close()
    _enabled = False


def report_exception(exc_info: Any, message: object = None) -> None:
    """Send one exception to Sentry (no-op when it is not configured)."""
    if not _enabled:
        return
    import sentry_sdk

    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or exc_info[1] is None:
        return
    with sentry_sdk.new_scope() as scope:
        if isinstance(message, str):
            scope.set_extra("log_event", message)
        sentry_sdk.capture_exception(exc_info)


def before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    """Tag the event with the bound context; strip everything that can identify a person or
    carry a credential."""
    bound = structlog.contextvars.get_contextvars()
    tags = event.setdefault("tags", {})
    for key in _TAGGED:
        if bound.get(key) is not None:
            tags[key] = str(bound[key])
    user_id = bound.get("user_id")
    # the id alone: no email, name, username or IP address
    event["user"] = {"id": str(user_id)} if user_id else {}
    request = event.get("request")
    if isinstance(request, dict):
        for name in _DROPPED_REQUEST_FIELDS:
            request.pop(name, None)
        if "url" in request:
            request["url"] = str(request["url"]).split("?")[0]
    event.pop("server_name", None)
    for key in ("extra", "contexts"):
        if key in event:
            event[key] = _private(event[key])
    for entry in event.get("exception", {}).get("values", []) or []:
        if isinstance(entry.get("value"), str):
            entry["value"] = _private(entry["value"])
        for frame in (entry.get("stacktrace") or {}).get("frames", []) or []:
            # local variables and source lines can hold values: the file and line say enough
            for name in ("vars", "context_line", "pre_context", "post_context"):
                frame.pop(name, None)
    if isinstance(event.get("logentry"), dict):
        event["logentry"] = _private(event["logentry"])
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict):
        breadcrumbs["values"] = [_private(b) for b in breadcrumbs.get("values", [])]
    return event


def before_breadcrumb(crumb: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any] | None:
    # SQL breadcrumbs would carry parameter values; HTTP ones, URLs with query strings
    if crumb.get("category") in {"query", "httplib", "http"}:
        return None
    data = crumb.get("data")
    if isinstance(data, dict):
        crumb["data"] = {k: REDACTED if k.lower() == "email" else v for k, v in data.items()}
    return scrub(crumb)

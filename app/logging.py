"""structlog: JSON lines in production, readable lines in development. Request id, tenant and
user are bound through contextvars by the middleware and the endpoint; a job binds its own with
`bind_job_context`. A redaction processor keeps secrets out of every line.

The processor chain and the output stream are fixed at the first `configure_logging`; what the
renderer writes (JSON or console) and where it goes are read on every line, so that loggers
cached on first use follow a later configuration (and a test can capture the real output)."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

# Keys whose values never reach a log line, whatever their nesting (compared case-insensitively,
# `-` read as `_`). A key that merely *contains* one of the fragments is redacted too
# (`new_password`, `refresh_token`, `x_api_key`).
REDACTED = "[REDACTED]"
_SECRET_FRAGMENTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "tenant_sig",
    "api_key",
    "apikey",
    "dsn",
    "credential",
    "signature",
    "private_key",
)
# Values that are secrets whatever their key: JSON web tokens (our bearer tokens), and the
# password part of a connection URL.
_JWT = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{5,4096}"
)
# Every pattern runs on the event loop over whatever a line carries (client text among it): a
# scheme starts where a word does and each part is bounded, so no input makes it backtrack
# over the rest of the string from every position.
_URL_PASSWORD = re.compile(
    r"(?P<head>(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,40}://[^:/@\s]{1,256}:)[^@\s]{1,256}@",
    re.IGNORECASE,
)
# `password=...`, `token: ...` written into free text (an exception message, say): also a name
# that contains one (`new_password=`, `secret_key=`), a quoted name (a dict's repr, JSON), a
# quoted value, and a cookie header's `tenant_sig=` pair. Bounded, like every pattern here.
_KEY_VALUE = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_-])[\"']?[A-Za-z0-9_-]{0,40}?"
    r"(?:password|passwd|secret|token|api_?key|authorization|cookie|tenant_sig|credential)"
    r"[A-Za-z0-9_-]{0,40}[\"']?\s{0,8}[=:]\s{0,8})"
    r"(?:bearer\s+)?(?:\"[^\"]{0,4096}\"|'[^']{0,4096}'|[^\s,;&'\"}]+)",
    re.IGNORECASE,
)
# Keys that name a secret but hold none (counts and flags the product logs on purpose).
_ALLOWED_KEYS = frozenset({"token_version"})


def _secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    normalised = key.lower().replace("-", "_")
    if normalised in _ALLOWED_KEYS:
        return False
    return any(fragment in normalised for fragment in _SECRET_FRAGMENTS)


def _scrub_text(value: str) -> str:
    value = _JWT.sub(REDACTED, value)
    value = _KEY_VALUE.sub(lambda m: f"{m.group('key')}{REDACTED}", value)
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}@", value)


def scrub(value: Any, _depth: int = 0) -> Any:
    """`value` with every secret-named key's value and every token-like string replaced."""
    if _depth > 8:
        return value
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, Mapping):
        return {k: REDACTED if _secret_key(k) else scrub(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v, _depth + 1) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """The structlog processor: runs after exceptions are formatted, before rendering."""
    return {
        k: REDACTED if _secret_key(k) and k != "event" else scrub(v) for k, v in event_dict.items()
    }


class _Output:
    """Where lines go and how they look; swapped by `configure_logging` and `capture_logs`."""

    def __init__(self) -> None:
        self.json = True
        self.stream: TextIO | None = None
        self._json = structlog.processors.JSONRenderer()
        self._format_exc = structlog.processors.format_exc_info  # plain text, no locals
        self._console = structlog.dev.ConsoleRenderer(
            # plain tracebacks: the rich formatter prints local variables (secrets among them)
            # and takes seconds per error
            colors=False,
            exception_formatter=structlog.dev.plain_traceback,
        )

    def render(self, logger: Any, method: str, event_dict: dict[str, Any]) -> str:
        # the traceback becomes text before redaction, so that what an exception message says
        # is scrubbed like any other value, in both formats
        if not self.json:
            event_dict = structlog.dev.set_exc_info(logger, method, event_dict)
        event_dict = self._format_exc(logger, method, event_dict)
        renderer = self._json if self.json else self._console
        return str(renderer(logger, method, redact_secrets(logger, method, event_dict)))

    def write(self, text: str) -> None:
        (self.stream or sys.stderr).write(text)

    def flush(self) -> None:
        (self.stream or sys.stderr).flush()


_output = _Output()
_configured = False


def _exception_reporter(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Errors with an exception go to Sentry as well, when it is configured."""
    if event_dict.get("exc_info") and method in {"error", "exception", "critical"}:
        from app.errortracking import report_exception

        report_exception(event_dict["exc_info"], event_dict.get("event"))
    return event_dict


class StdlibHandler(logging.Handler):
    """Lines of code that logs through the standard library (uvicorn, asyncio, drivers) go
    through the same pipeline as the product's own: the same format, the bound context (request,
    tenant, user), the redaction, and Sentry for an error with an exception."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.levelno >= logging.CRITICAL:
                method = "critical"
            elif record.levelno >= logging.ERROR:
                method = "error"
            elif record.levelno >= logging.WARNING:
                method = "warning"
            elif record.levelno >= logging.INFO:
                method = "info"
            else:
                method = "debug"
            extra: dict[str, Any] = {"logger": record.name}
            if record.exc_info and record.exc_info[0] is not None:
                extra["exc_info"] = record.exc_info
            getattr(structlog.get_logger(record.name), method)(record.getMessage(), **extra)
        except Exception:
            self.handleError(record)


# what `tenantgraph serve` hands uvicorn (`log_config`): its lines through `StdlibHandler`, in
# the main process and in every worker
UVICORN_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"structlog": {"()": "app.logging.StdlibHandler"}},
    "loggers": {
        "uvicorn": {"handlers": ["structlog"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["structlog"], "level": "INFO", "propagate": False},
    },
}


def _route_stdlib_logging() -> None:
    """Every standard-library logger without a handler of its own reaches `StdlibHandler`
    through the root logger (warnings and errors: asyncio's "Task exception was never retrieved",
    a driver's warning)."""
    root = logging.getLogger()
    if not any(isinstance(h, StdlibHandler) for h in root.handlers):
        root.addHandler(StdlibHandler())


def configure_logging(*, json: bool, level: int = logging.INFO) -> None:
    """JSON lines (production) or readable console lines (development), to stderr; the
    standard library's lines (uvicorn's among them) rendered the same way."""
    global _configured
    _output.json = json
    if _configured:
        return
    _route_stdlib_logging()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _exception_reporter,
            _output.render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(_output),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    _configured = True


@contextmanager
def capture_logs(stream: TextIO, *, json: bool = True) -> Iterator[None]:
    """Write every line to `stream` while the block runs, through the real processors (the
    redaction included): how tests read what an operator would read."""
    configure_logging(json=_output.json)
    previous = (_output.stream, _output.json)
    _output.stream, _output.json = stream, json
    try:
        yield
    finally:
        _output.stream, _output.json = previous


@contextmanager
def bind_job_context(
    *, job: str, tenant_id: object | None = None, run_id: str | None = None, **extra: Any
) -> Iterator[None]:
    """Bind a job's identity (and the tenant it is working on) to every line logged inside the
    block, and restore what was bound before afterwards; the job runner's counterpart of what
    the endpoint binds for a request."""
    values: dict[str, Any] = {"job": job, **extra}
    if tenant_id is not None:
        values["tenant_id"] = str(tenant_id)
    if run_id is not None:
        values["request_id"] = run_id
    with structlog.contextvars.bound_contextvars(**values):
        yield

"""GraphQL-shaped JSON responses (orjson: several times faster than the stdlib encoder)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_response(
    status: int, code: str, message: str, request_id: str | None = None
) -> JSONResponse:
    extensions: dict[str, str] = {"code": code}
    if request_id:
        extensions["requestId"] = request_id
    return JSONResponse({"errors": [{"message": message, "extensions": extensions}]}, status)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached right now (answer 503, not 500)."""
    from sqlalchemy import exc as sa

    if isinstance(exc, OSError | TimeoutError | sa.TimeoutError | sa.InterfaceError):
        return True
    if isinstance(exc, sa.DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        return (
            bool(exc.connection_invalidated)
            or isinstance(exc, sa.OperationalError)
            or sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
        )
    return False


# connection exceptions, too many connections, and the server shutting down or starting up
_UNAVAILABLE_SQLSTATES = ("08", "53300", "57P01", "57P02", "57P03")


def unavailable_response(request_id: str | None) -> JSONResponse:
    response = error_response(
        503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable", request_id
    )
    response.headers["Retry-After"] = "1"
    return response

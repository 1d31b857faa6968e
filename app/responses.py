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

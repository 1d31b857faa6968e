"""Without a database the API answers 503 (GraphQL-shaped, with a request id), never a 500."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.database import Database
from app.main import create_app
from app.settings import Settings
from tests.helpers import error_codes


@pytest.mark.parametrize("host", ["acme.localhost", "localhost"])
async def test_unreachable_database_is_503(settings: Settings, host: str) -> None:
    # nothing listens on port 1
    database = Database.connect(
        make_url("postgresql+asyncpg://nobody@127.0.0.1:1/none"), pool_size=1
    )
    app = create_app(settings=settings, database=database)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            response = await client.post(
                f"http://{host}/graphql", json={"query": "{ viewer { role } }"}
            )
            ready = await client.get(f"http://{host}/readyz")
    finally:
        await database.dispose()
    assert response.status_code == 503
    assert error_codes(response.json()) == ["SERVICE_UNAVAILABLE"]
    assert (
        response.json()["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    )
    assert "127.0.0.1" not in response.text
    assert ready.status_code == 503


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("57P03", True),  # the database system is starting up
        ("57P01", True),  # terminating connection due to administrator command
        ("57P02", True),  # crash shutdown
        ("08006", True),  # connection failure
        ("53300", True),  # too many connections
        ("23505", False),  # a unique violation is the caller's conflict
        ("42501", False),  # insufficient privilege is a bug, not an outage
    ],
)
def test_which_database_errors_mean_unavailable(sqlstate: str, expected: bool) -> None:
    from sqlalchemy.exc import DBAPIError

    from app.responses import database_unavailable

    error = DBAPIError("SELECT 1", None, _DriverError(sqlstate))
    assert database_unavailable(error) is expected

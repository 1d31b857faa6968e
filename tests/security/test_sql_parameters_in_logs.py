"""What a caller sends never reaches a log line or an error report through a failed statement.

SQLAlchemy writes the bound parameters into the text of a database error ("[parameters: ...]").
An unexpected one is logged with its traceback and sent to Sentry: the values a visitor typed
(a contact's name and phone number, a description) would go along, past the redaction, which
knows secrets by their key or their shape, not by where they came from."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.database import Database
from app.errortracking import close_sentry, init_sentry
from app.logging import capture_logs
from app.main import create_app
from app.settings import Settings
from tests.app.test_observability import KeptEvents
from tests.conftest import SuiteDatabase
from tests.helpers import error_codes, gql

SUBMIT = """
mutation Submit($input: SubmitServiceRequestInput!) {
  submitServiceRequest(input: $input) { submitted }
}
"""
CONTACT_NAME = "Quintessa Marlowe-Vandersteen"
CONTACT_PHONE = "+44 20 7946 0931"
CONTACT_EMAIL = "quintessa.marlowe@example.org"
DESCRIPTION = "Please call about the divorce papers of Quintessa"
# the storage fails while the statement carrying the visitor's values runs
FAILING_TRIGGER = (
    "CREATE FUNCTION tg_test_storage_failure() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'storage failure' USING ERRCODE = 'XX000'; END $$",
    "CREATE TRIGGER tg_test_storage_failure BEFORE INSERT ON service_requests"
    " FOR EACH ROW EXECUTE FUNCTION tg_test_storage_failure()",
)
DROP_TRIGGER = (
    "DROP TRIGGER IF EXISTS tg_test_storage_failure ON service_requests",
    "DROP FUNCTION IF EXISTS tg_test_storage_failure()",
)


@pytest.fixture
def sentry_events() -> Iterator[list[dict[str, Any]]]:
    kept = KeptEvents()
    assert init_sentry(
        "https://public@sentry.invalid/1", environment="test", transport=kept.transport
    )
    yield kept.events
    close_sentry()


@pytest.fixture
async def failing_storage(owner_engine: AsyncEngine) -> AsyncIterator[None]:
    async with owner_engine.begin() as conn:
        for sql in FAILING_TRIGGER:
            await conn.execute(text(sql))
    try:
        yield
    finally:
        async with owner_engine.begin() as conn:
            for sql in DROP_TRIGGER:
                await conn.execute(text(sql))


@pytest.fixture
async def served(
    test_database: SuiteDatabase, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the runtime engine the API itself builds (`Database.connect`)."""
    database = Database.connect(test_database.urls.runtime, pool_size=1)
    app = create_app(settings=settings, database=database)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40031))
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            yield client
    finally:
        await database.dispose()


async def test_a_failed_statement_logs_and_reports_none_of_the_values_it_carried(
    served: httpx.AsyncClient, failing_storage: None, sentry_events: list[dict[str, Any]]
) -> None:
    buffer = io.StringIO()
    with capture_logs(buffer):
        response = await gql(
            served,
            SUBMIT,
            {
                "input": {
                    "description": DESCRIPTION,
                    "contactName": CONTACT_NAME,
                    "contactPhone": CONTACT_PHONE,
                    "contactEmail": CONTACT_EMAIL,
                }
            },
            host="acme.localhost",
        )
    # the visitor gets the masked INTERNAL answer, and the failure is logged and reported...
    assert error_codes(response.json()) == ["INTERNAL"]
    output = buffer.getvalue()
    assert "unexpected error in resolver" in output
    assert "storage failure" in output
    assert sentry_events
    # ...without the values the statement carried
    reported = json.dumps(sentry_events)
    for value in (CONTACT_NAME, CONTACT_PHONE, CONTACT_EMAIL, DESCRIPTION):
        assert value not in output, value
        assert value not in reported, value

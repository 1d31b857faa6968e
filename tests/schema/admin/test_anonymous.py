"""No admin operation answers an anonymous visitor of a tenant's host."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import error_codes, gql

OPERATIONS = [
    "query { members(first: 5) { totalCount } }",
    "query { settings { organization { timezone } } }",
    "query { exportSettings }",
    "query { domains { domain } }",
    "query { auditLog(first: 5) { totalCount } }",
    "query { healthLogs(first: 5) { totalCount } }",
    'mutation { addMember(email: "carol@acme.test", role: ADMIN) { role } }',
    'mutation { updateOrganizationSettings(input: {timezone: "Asia/Tokyo"}) { timezone } }',
    "mutation { importSettings(document: {version: 1}) { organization { timezone } } }",
    'mutation { addDomain(domain: "anon.example.com") { domain } }',
]


@pytest.mark.parametrize("query", OPERATIONS)
async def test_anonymous_visitors_are_unauthenticated(
    client: httpx.AsyncClient, query: str
) -> None:
    body = (await gql(client, query, host="acme.localhost")).json()

    assert error_codes(body) == ["UNAUTHENTICATED"], body
    assert body["data"] is None

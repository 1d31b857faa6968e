"""Settings over HTTP: acme has its own organization row, globex its own booking row, initech
none (it reads the global defaults)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.helpers import DemoData, error_codes, gql, login

SETTINGS = """
query {
  settings {
    organization { displayName timezone locale customized }
    booking { slotMinutes minNoticeHours maxAdvanceDays cancellationNoticeHours requireConfirmation customized }
    integration { calendarProvider accountingProvider webhookUrl customized }
    communication { senderName replyToEmail remindersEnabled reminderHoursBefore customized }
    security { sessionTtlMinutes passwordMinLength mfaRequired allowedEmailDomains customized }
  }
}
"""
UPDATE_ORGANIZATION = """
mutation($input: OrganizationSettingsInput!) {
  updateOrganizationSettings(input: $input) { displayName timezone locale customized }
}
"""
UPDATE_BOOKING = """
mutation($input: BookingSettingsInput!) {
  updateBookingSettings(input: $input) { slotMinutes minNoticeHours maxAdvanceDays customized }
}
"""
UPDATE_INTEGRATION = """
mutation($input: IntegrationSettingsInput!) {
  updateIntegrationSettings(input: $input) { calendarProvider webhookUrl }
}
"""
UPDATE_COMMUNICATION = """
mutation($input: CommunicationSettingsInput!) {
  updateCommunicationSettings(input: $input) { senderName replyToEmail reminderHoursBefore }
}
"""
UPDATE_SECURITY = """
mutation($input: SecuritySettingsInput!) {
  updateSecuritySettings(input: $input) { sessionTtlMinutes passwordMinLength allowedEmailDomains }
}
"""
EXPORT = "query { exportSettings }"
IMPORT = """
mutation($document: JSON!) {
  importSettings(document: $document) {
    organization { timezone locale displayName } booking { slotMinutes }
  }
}
"""
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


# what a CLIENT may read: everything but the integration endpoints
CLIENT_SETTINGS = SETTINGS.replace(
    "    integration { calendarProvider accountingProvider webhookUrl customized }\n", ""
)


async def settings_of(client: httpx.AsyncClient, session, query: str = SETTINGS) -> dict:  # type: ignore[no-untyped-def]
    body = (await gql(client, query, session=session)).json()
    assert "errors" not in body, body
    return body["data"]["settings"]


async def test_each_tenant_reads_its_own_settings_over_the_defaults(
    client: httpx.AsyncClient,
) -> None:
    carol = await login(client, "carol@acme.test")  # a CLIENT may read
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    dave = await login(client, "dave@initech.test", host="initech.localhost")

    acme, globex, initech = (
        await settings_of(client, carol, CLIENT_SETTINGS),
        await settings_of(client, bob),
        await settings_of(client, dave),
    )

    assert acme["organization"] == {
        "displayName": "Acme Advisory LLP",
        "timezone": "Europe/London",
        "locale": "en-GB",
        "customized": True,
    }
    assert acme["booking"]["slotMinutes"] == 30
    assert acme["booking"]["customized"] is False
    assert globex["organization"]["timezone"] == "UTC"
    assert globex["organization"]["displayName"] is None
    assert globex["booking"]["slotMinutes"] == 60
    assert globex["booking"]["customized"] is True
    assert initech["organization"] == {
        "displayName": None,
        "timezone": "UTC",
        "locale": "en",
        "customized": False,
    }
    assert initech["booking"]["slotMinutes"] == 30
    assert "Acme" not in json.dumps(globex) + json.dumps(initech)


async def test_an_update_creates_the_tenants_row_and_touches_nobody_else(
    client: httpx.AsyncClient, demo: DemoData, as_tenant
) -> None:  # type: ignore[no-untyped-def]
    dave = await login(client, "dave@initech.test", host="initech.localhost")
    alice = await login(client, "alice@acme.test")
    globex_before = await settings_of(
        client, await login(client, "bob@globex.test", host="globex.localhost")
    )

    body = (
        await gql(
            client,
            UPDATE_BOOKING,
            {"input": {"slotMinutes": 45, "minNoticeHours": 0}},
            session=dave,
        )
    ).json()
    again = (
        await gql(client, UPDATE_BOOKING, {"input": {"maxAdvanceDays": 365}}, session=dave)
    ).json()

    assert body["data"]["updateBookingSettings"] == {
        "slotMinutes": 45,
        "minNoticeHours": 0,
        "maxAdvanceDays": 90,  # copied from the global row on the first write
        "customized": True,
    }
    assert again["data"]["updateBookingSettings"]["slotMinutes"] == 45
    assert again["data"]["updateBookingSettings"]["maxAdvanceDays"] == 365
    initech = demo.tenants["initech"]
    rows = await as_tenant(
        initech, "SELECT tenant_id, slot_minutes FROM booking_settings WHERE tenant_id IS NOT NULL"
    )
    assert rows == [(initech, 45)]
    glob = await as_tenant(
        initech,
        "SELECT slot_minutes, max_advance_days FROM booking_settings WHERE tenant_id IS NULL",
    )
    assert glob == [(30, 90)]
    assert (await settings_of(client, alice))["booking"]["slotMinutes"] == 30
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    assert await settings_of(client, bob) == globex_before


async def test_every_section_validates_and_writes_nothing_when_wrong(
    client: httpx.AsyncClient,
) -> None:
    alice = await login(client, "alice@acme.test")
    before = await settings_of(client, alice)

    for query, values in (
        (UPDATE_ORGANIZATION, {"timezone": "Mars/Olympus"}),
        (UPDATE_ORGANIZATION, {"timezone": "../../etc/passwd"}),
        (UPDATE_ORGANIZATION, {"timezone": "localtime"}),  # Python knows it, PostgreSQL not
        (UPDATE_ORGANIZATION, {"timezone": "posix/Europe/London"}),
        (UPDATE_ORGANIZATION, {"locale": "english"}),
        (UPDATE_ORGANIZATION, {"locale": "en-gb"}),
        (UPDATE_ORGANIZATION, {"timezone": None}),
        (UPDATE_ORGANIZATION, {"displayName": "x" * 201}),
        (UPDATE_BOOKING, {"slotMinutes": 4}),
        (UPDATE_BOOKING, {"maxAdvanceDays": 731}),
        (UPDATE_BOOKING, {"requireConfirmation": None}),
        (UPDATE_INTEGRATION, {"webhookUrl": "http://hooks.example.com/x"}),
        (UPDATE_INTEGRATION, {"webhookUrl": "https://"}),
        (UPDATE_INTEGRATION, {"webhookUrl": "https://exa mple.com/"}),
        (UPDATE_INTEGRATION, {"calendarProvider": "<script>"}),
        (UPDATE_COMMUNICATION, {"replyToEmail": "not-an-email"}),
        (UPDATE_COMMUNICATION, {"reminderHoursBefore": 0}),
        (UPDATE_SECURITY, {"passwordMinLength": 7}),
        (UPDATE_SECURITY, {"sessionTtlMinutes": 43201}),
        (UPDATE_SECURITY, {"allowedEmailDomains": ["not a domain"]}),
    ):
        body = (await gql(client, query, {"input": values}, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], (values, body)

    assert await settings_of(client, alice) == before


async def test_valid_updates_of_every_section(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")

    organization = (
        await gql(
            client,
            UPDATE_ORGANIZATION,
            {"input": {"timezone": "America/New_York", "locale": "en-US", "displayName": None}},
            session=alice,
        )
    ).json()
    integration = (
        await gql(
            client,
            UPDATE_INTEGRATION,
            {"input": {"calendarProvider": "Google", "webhookUrl": "https://hooks.acme.test/in"}},
            session=alice,
        )
    ).json()
    communication = (
        await gql(
            client,
            UPDATE_COMMUNICATION,
            {"input": {"senderName": " Acme ", "replyToEmail": "help@acme.test"}},
            session=alice,
        )
    ).json()
    security = (
        await gql(
            client,
            UPDATE_SECURITY,
            {"input": {"allowedEmailDomains": ["Acme.test", "acme.test", "mail.acme.test"]}},
            session=alice,
        )
    ).json()

    assert organization["data"]["updateOrganizationSettings"] == {
        "displayName": None,
        "timezone": "America/New_York",
        "locale": "en-US",
        "customized": True,
    }
    assert integration["data"]["updateIntegrationSettings"] == {
        "calendarProvider": "google",
        "webhookUrl": "https://hooks.acme.test/in",
    }
    assert communication["data"]["updateCommunicationSettings"] == {
        "senderName": "Acme",
        "replyToEmail": "help@acme.test",
        "reminderHoursBefore": 24,
    }
    assert security["data"]["updateSecuritySettings"]["allowedEmailDomains"] == [
        "acme.test",
        "mail.acme.test",
    ]
    audit = (
        await gql(
            client,
            'query { auditLog(first: 1, filter: {action: "settings.organization.update"}) '
            "{ edges { node { changes actor { email } } } } }",
            session=alice,
        )
    ).json()
    entry = audit["data"]["auditLog"]["edges"][0]["node"]
    assert entry["changes"]["timezone"] == {"from": "Europe/London", "to": "America/New_York"}
    assert entry["actor"] == {"email": "alice@acme.test"}


async def test_export_carries_no_ids(client: httpx.AsyncClient, demo: DemoData) -> None:
    alice = await login(client, "alice@acme.test")

    body = (await gql(client, EXPORT, session=alice)).json()

    document = body["data"]["exportSettings"]
    assert set(document) == {
        "version",
        "organization",
        "booking",
        "integration",
        "communication",
        "security",
    }
    assert document["organization"]["timezone"] == "Europe/London"
    text = json.dumps(document)
    assert not UUID.search(text)
    assert "id" not in {
        key.lower() for section in document.values() if isinstance(section, dict) for key in section
    }
    assert str(demo.tenants["acme"]) not in text


async def test_import_from_acme_into_globex_writes_only_globex(
    client: httpx.AsyncClient, demo: DemoData, as_tenant
) -> None:  # type: ignore[no-untyped-def]
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    acme_before = await settings_of(client, alice)
    document = (await gql(client, EXPORT, session=alice)).json()["data"]["exportSettings"]
    acme_rows_before = await as_tenant(
        demo.tenants["acme"],
        "SELECT id, timezone FROM organization_settings WHERE tenant_id IS NOT NULL",
    )

    body = (await gql(client, IMPORT, {"document": document}, session=bob)).json()

    assert body["data"]["importSettings"] == {
        "organization": {
            "timezone": "Europe/London",
            "locale": "en-GB",
            "displayName": "Acme Advisory LLP",
        },
        "booking": {"slotMinutes": 30},
    }
    globex_after = await settings_of(client, bob)
    for section in ("organization", "booking", "integration", "communication", "security"):
        assert {k: v for k, v in globex_after[section].items() if k != "customized"} == {
            k: v for k, v in acme_before[section].items() if k != "customized"
        }
    assert await settings_of(client, alice) == acme_before
    globex = demo.tenants["globex"]
    globex_rows = await as_tenant(
        globex, "SELECT id, tenant_id FROM organization_settings WHERE tenant_id IS NOT NULL"
    )
    assert [r.tenant_id for r in globex_rows] == [globex]
    assert globex_rows[0].id not in {r.id for r in acme_rows_before}
    assert (
        await as_tenant(
            demo.tenants["acme"],
            "SELECT id, timezone FROM organization_settings WHERE tenant_id IS NOT NULL",
        )
        == acme_rows_before
    )
    audit = (
        await gql(
            client,
            'query { auditLog(first: 1, filter: {action: "settings.import"}) '
            "{ edges { node { changes } } } }",
            session=bob,
        )
    ).json()
    changes = audit["data"]["auditLog"]["edges"][0]["node"]["changes"]
    assert changes["organization"]["timezone"] == {"from": "UTC", "to": "Europe/London"}
    assert changes["booking"]["slot_minutes"] == {"from": 60, "to": 30}


async def test_import_accepts_a_string_and_a_partial_document(client: httpx.AsyncClient) -> None:
    dave = await login(client, "dave@initech.test", host="initech.localhost")

    body = (
        await gql(
            client,
            IMPORT,
            {"document": json.dumps({"version": 1, "organization": {"timezone": "Asia/Tokyo"}})},
            session=dave,
        )
    ).json()

    assert body["data"]["importSettings"]["organization"] == {
        "timezone": "Asia/Tokyo",
        "locale": "en",
        "displayName": None,
    }
    assert body["data"]["importSettings"]["booking"] == {"slotMinutes": 30}


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "organization": {"timezone": "Europe/Paris"}, "tenantId": "x"},
        {"version": 1, "organization": {"timezone": "Europe/Paris", "id": "x"}},
        {
            "version": 1,
            "organization": {"timezone": "Europe/Paris"},
            "booking": {"slotMinutes": "30"},
        },
        {"version": 1, "organization": {"timezone": "Europe/Paris"}, "booking": {"slotMinutes": 1}},
        {
            "version": 1,
            "organization": {"timezone": "Europe/Paris"},
            "booking": {"requireConfirmation": 1},
        },
        {
            "version": 1,
            "organization": {"timezone": "Europe/Paris"},
            "security": {"mfaRequired": "yes"},
        },
        {
            "version": 1,
            "organization": {"timezone": "Europe/Paris"},
            "security": {"allowedEmailDomains": "a.test"},
        },
        {
            "version": 1,
            "organization": {"timezone": "Europe/Paris"},
            "integration": {"webhookUrl": "ftp://x.test"},
        },
        {"version": 1, "organization": {"timezone": "Europe/Paris"}, "booking": []},
        {"version": 1, "organization": {"timezone": "Europe/Paris", "locale": None}},
        {"organization": {"timezone": "Europe/Paris"}},
        {"version": 2, "organization": {"timezone": "Europe/Paris"}},
        [{"version": 1}],
        "{not json",
    ],
)
async def test_import_refuses_a_bad_document_and_writes_nothing(
    client: httpx.AsyncClient, document: object
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    before = await settings_of(client, bob)

    body = (await gql(client, IMPORT, {"document": document}, session=bob)).json()

    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert await settings_of(client, bob) == before


async def test_only_admins_write_or_export(client: httpx.AsyncClient) -> None:
    carol = await login(client, "carol@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    alice = await login(client, "alice@acme.test")
    before = await settings_of(client, alice)

    for session in (carol, dave):
        for query, variables in (
            (UPDATE_ORGANIZATION, {"input": {"timezone": "Asia/Tokyo"}}),
            (UPDATE_BOOKING, {"input": {"slotMinutes": 60}}),
            (UPDATE_INTEGRATION, {"input": {"calendarProvider": "google"}}),
            (UPDATE_COMMUNICATION, {"input": {"senderName": "x"}}),
            (UPDATE_SECURITY, {"input": {"mfaRequired": True}}),
            (IMPORT, {"document": {"version": 1, "organization": {"locale": "fr"}}}),
            (EXPORT, None),
        ):
            body = (await gql(client, query, variables, session=session)).json()
            assert error_codes(body) == ["FORBIDDEN"], (query, body)
        seen = await settings_of(client, session, CLIENT_SETTINGS)
        assert seen["organization"]["timezone"] == "Europe/London"

    assert await settings_of(client, alice) == before


async def test_the_first_write_copies_required_fields_and_leaves_optional_ones_inherited(
    client: httpx.AsyncClient, demo: DemoData, as_tenant
) -> None:  # type: ignore[no-untyped-def]
    dave = await login(client, "dave@initech.test", host="initech.localhost")

    body = (
        await gql(client, UPDATE_ORGANIZATION, {"input": {"locale": "de"}}, session=dave)
    ).json()

    assert body["data"]["updateOrganizationSettings"] == {
        "displayName": None,
        "timezone": "UTC",
        "locale": "de",
        "customized": True,
    }
    initech = demo.tenants["initech"]
    rows = await as_tenant(
        initech,
        "SELECT display_name, timezone, locale FROM organization_settings WHERE tenant_id = :t",
        t=initech,
    )
    assert rows == [(None, "UTC", "de")]


async def test_integration_endpoints_are_not_for_clients(client: httpx.AsyncClient) -> None:
    carol = await login(client, "carol@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    refused = (await gql(client, SETTINGS, session=carol)).json()
    assert error_codes(refused) == ["FORBIDDEN"]
    assert refused["errors"][0]["path"] == ["settings", "integration"]
    staff = await settings_of(client, dave)
    assert set(staff["integration"]) >= {"webhookUrl", "calendarProvider"}


@pytest.mark.parametrize("version", [True, 1.0, "1", 2])
async def test_only_the_integer_version_imports(client: httpx.AsyncClient, version: object) -> None:
    alice = await login(client, "alice@acme.test")
    before = await settings_of(client, alice)
    document = {"version": version, "organization": {"locale": "fr"}}
    body = (await gql(client, IMPORT, {"document": document}, session=alice)).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await settings_of(client, alice) == before

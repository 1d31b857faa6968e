"""Members over HTTP: acme (3 members) and globex (2) side by side, every change taking effect
on the member's next request."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from repositories.members import UNKNOWN_EMAIL
from schema.ids import encode_id
from tests.helpers import DemoData, error_codes, gql, login
from tests.schema.admin.conftest import counting_statements

MEMBERS = """
query Members($first: Int, $after: String, $filter: MemberFilter) {
  members(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { role status isDefault displayName joinedAt user { id email displayName } } }
  }
}
"""
ADD = """
mutation Add($email: String!, $role: TenantRole!, $name: String) {
  addMember(email: $email, role: $role, displayName: $name) {
    role status isDefault displayName user { id email }
  }
}
"""
CHANGE_ROLE = """
mutation Role($u: ID!, $role: TenantRole!) { changeMemberRole(userId: $u, role: $role) { role } }
"""
SUSPEND = "mutation Suspend($u: ID!) { suspendMember(userId: $u) { status } }"
REACTIVATE = "mutation Reactivate($u: ID!) { reactivateMember(userId: $u) { status } }"
REMOVE = "mutation Remove($u: ID!) { removeMember(userId: $u) }"
AUDIT = """
query Audit($filter: AuditLogFilter) {
  auditLog(first: 10, filter: $filter) { edges { node { action targetId changes actor { email } } } }
}
"""
VIEWER = "query { viewer { role } }"


def emails(body: dict) -> set[str]:
    return {e["node"]["user"]["email"] for e in body["data"]["members"]["edges"]}


async def members_of(client: httpx.AsyncClient, session, **flt) -> dict:  # type: ignore[no-untyped-def]
    body = (
        await gql(client, MEMBERS, {"first": 100, "filter": flt or None}, session=session)
    ).json()
    assert "errors" not in body, body
    return body


async def test_each_admin_sees_only_the_members_of_its_tenant(
    client: httpx.AsyncClient,
) -> None:
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")

    acme = await members_of(client, alice)
    globex = await members_of(client, bob)

    assert acme["data"]["members"]["totalCount"] == 3
    assert emails(acme) == {"alice@acme.test", "carol@acme.test", "dave@initech.test"}
    assert globex["data"]["members"]["totalCount"] == 2
    assert emails(globex) == {"alice@acme.test", "bob@globex.test"}
    # alice is in both, with the role and default of each tenant
    in_globex = next(e["node"] for e in globex["data"]["members"]["edges"] if "alice" in str(e))
    assert in_globex["role"] == "STAFF"
    assert in_globex["isDefault"] is False


async def test_staff_reads_members_and_a_client_cannot(client: httpx.AsyncClient) -> None:
    dave = await login(client, "dave@initech.test", tenant="acme")
    carol = await login(client, "carol@acme.test")

    body = await members_of(client, dave)
    denied = (await gql(client, MEMBERS, {"first": 10}, session=carol)).json()

    assert emails(body) == {"alice@acme.test", "carol@acme.test", "dave@initech.test"}
    assert error_codes(denied) == ["FORBIDDEN"]
    assert denied["data"] is None


async def test_filters_and_pages(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")

    clients = await members_of(client, alice, role=["CLIENT"])
    staff = await members_of(client, alice, role=["STAFF", "ADMIN"])
    by_name = await members_of(client, alice, search="anders")
    by_email = await members_of(client, alice, search="INITECH")
    wildcard = await members_of(client, alice, search="%")
    suspended = await members_of(client, alice, status=["SUSPENDED"])

    assert emails(clients) == {"carol@acme.test"}
    assert emails(staff) == {"alice@acme.test", "dave@initech.test"}
    assert emails(by_name) == {"alice@acme.test"}
    assert emails(by_email) == {"dave@initech.test"}
    assert emails(wildcard) == set()
    assert emails(suspended) == set()

    seen: set[str] = set()
    after = None
    while True:
        page = (await gql(client, MEMBERS, {"first": 1, "after": after}, session=alice)).json()
        seen |= emails(page)
        info = page["data"]["members"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == {"alice@acme.test", "carol@acme.test", "dave@initech.test"}


async def test_add_an_existing_user_by_email(client: httpx.AsyncClient, demo: DemoData) -> None:
    alice = await login(client, "alice@acme.test")

    body = (
        await gql(
            client,
            ADD,
            {"email": "  BOB@Globex.TEST ", "role": "STAFF", "name": " Bob from Globex "},
            session=alice,
        )
    ).json()

    assert body["data"]["addMember"] == {
        "role": "STAFF",
        "status": "ACTIVE",
        "isDefault": False,
        "displayName": "Bob from Globex",
        "user": {"id": demo.user_gid("bob@globex.test"), "email": "bob@globex.test"},
    }
    assert "bob@globex.test" in emails(await members_of(client, alice))
    # bob can now work in acme; his globex membership is untouched
    bob_in_acme = await login(client, "bob@globex.test", tenant="acme")
    assert (await gql(client, VIEWER, session=bob_in_acme)).json()["data"]["viewer"] == {
        "role": "STAFF"
    }
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    assert (await gql(client, VIEWER, session=bob)).json()["data"]["viewer"] == {"role": "ADMIN"}
    audit = (await gql(client, AUDIT, {"filter": {"action": "member.add"}}, session=alice)).json()
    entry = audit["data"]["auditLog"]["edges"][0]["node"]
    assert entry["targetId"] == demo.user_gid("bob@globex.test")
    assert entry["actor"] == {"email": "alice@acme.test"}
    assert entry["changes"]["role"] == "STAFF"


async def test_unknown_email_and_existing_member(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")

    unknown = (
        await gql(client, ADD, {"email": "nobody@nowhere.test", "role": "CLIENT"}, session=alice)
    ).json()
    member = (
        await gql(client, ADD, {"email": "Carol@acme.test", "role": "STAFF"}, session=alice)
    ).json()
    malformed = (
        await gql(client, ADD, {"email": "not an email", "role": "STAFF"}, session=alice)
    ).json()
    platform = (
        await gql(client, ADD, {"email": "root@platform.test", "role": "ADMIN"}, session=alice)
    ).json()

    assert error_codes(unknown) == ["NOT_FOUND"]
    assert unknown["errors"][0]["message"] == UNKNOWN_EMAIL
    # a platform super-admin account answers exactly like an unknown one
    assert platform["errors"][0]["message"] == UNKNOWN_EMAIL
    assert error_codes(member) == ["CONFLICT"]
    assert error_codes(malformed) == ["BAD_USER_INPUT"]
    body = await members_of(client, alice)
    assert body["data"]["members"]["totalCount"] == 3
    assert (
        next(e["node"]["role"] for e in body["data"]["members"]["edges"] if "carol" in str(e))
        == "CLIENT"
    )


async def test_a_suspended_member_is_refused_on_the_next_request(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    assert (await gql(client, VIEWER, session=dave)).status_code == 200

    body = (
        await gql(client, SUSPEND, {"u": demo.user_gid("dave@initech.test")}, session=alice)
    ).json()
    refused = await gql(client, VIEWER, session=dave)

    assert body == {"data": {"suspendMember": {"status": "SUSPENDED"}}}
    assert refused.status_code == 403
    assert error_codes(refused.json()) == ["FORBIDDEN"]
    # only in acme: dave's own tenant still serves him
    dave_at_home = await login(client, "dave@initech.test", host="initech.localhost")
    assert (await gql(client, VIEWER, session=dave_at_home)).json()["data"]["viewer"] == {
        "role": "ADMIN"
    }

    body = (
        await gql(client, REACTIVATE, {"u": demo.user_gid("dave@initech.test")}, session=alice)
    ).json()
    assert body == {"data": {"reactivateMember": {"status": "ACTIVE"}}}
    back = await gql(client, VIEWER, session=dave)
    assert back.status_code == 200
    assert back.json()["data"]["viewer"] == {"role": "STAFF"}


async def test_a_demoted_admin_loses_admin_calls_on_the_next_request(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    dave_id = demo.user_gid("dave@initech.test")
    promoted = (
        await gql(client, CHANGE_ROLE, {"u": dave_id, "role": "ADMIN"}, session=alice)
    ).json()
    assert promoted == {"data": {"changeMemberRole": {"role": "ADMIN"}}}
    assert "errors" not in (await gql(client, AUDIT, session=dave)).json()

    demoted = (
        await gql(client, CHANGE_ROLE, {"u": dave_id, "role": "STAFF"}, session=alice)
    ).json()
    denied = (await gql(client, AUDIT, session=dave)).json()

    assert demoted == {"data": {"changeMemberRole": {"role": "STAFF"}}}
    assert error_codes(denied) == ["FORBIDDEN"]


async def test_the_last_active_admin_stays(client: httpx.AsyncClient, demo: DemoData) -> None:
    alice = await login(client, "alice@acme.test")
    alice_id = demo.user_gid("alice@acme.test")

    for query, variables in (
        (CHANGE_ROLE, {"u": alice_id, "role": "STAFF"}),
        (SUSPEND, {"u": alice_id}),
        (REMOVE, {"u": alice_id}),
    ):
        body = (await gql(client, query, variables, session=alice)).json()
        assert error_codes(body) == ["CONFLICT"], body
        assert "at least one active admin" in body["errors"][0]["message"]
    assert (await gql(client, VIEWER, session=alice)).json()["data"]["viewer"] == {"role": "ADMIN"}

    # with a second admin, the first may step down
    await gql(
        client,
        CHANGE_ROLE,
        {"u": demo.user_gid("dave@initech.test"), "role": "ADMIN"},
        session=alice,
    )
    body = (await gql(client, CHANGE_ROLE, {"u": alice_id, "role": "STAFF"}, session=alice)).json()
    assert body == {"data": {"changeMemberRole": {"role": "STAFF"}}}


async def test_users_of_other_tenants_are_not_found_and_unchanged(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    bob_id, carol_id = demo.user_gid("bob@globex.test"), demo.user_gid("carol@acme.test")

    for query, variables in (
        (CHANGE_ROLE, {"role": "CLIENT"}),
        (SUSPEND, {}),
        (REACTIVATE, {}),
        (REMOVE, {}),
    ):
        from_acme = (await gql(client, query, {**variables, "u": bob_id}, session=alice)).json()
        from_globex = (await gql(client, query, {**variables, "u": carol_id}, session=bob)).json()
        assert error_codes(from_acme) == ["NOT_FOUND"], from_acme
        assert error_codes(from_globex) == ["NOT_FOUND"], from_globex
        assert str(demo.tenants["globex"]) not in str(from_acme)
        assert "globex" not in str(from_acme).lower()

    assert (await gql(client, VIEWER, session=bob)).json()["data"]["viewer"] == {"role": "ADMIN"}
    carol = await login(client, "carol@acme.test")
    assert (await gql(client, VIEWER, session=carol)).json()["data"]["viewer"] == {"role": "CLIENT"}
    # and a made-up id answers the same way
    unknown = encode_id("User", demo.tenants["acme"])
    body = (await gql(client, SUSPEND, {"u": unknown}, session=alice)).json()
    assert error_codes(body) == ["NOT_FOUND"]


async def test_remove_a_member(client: httpx.AsyncClient, demo: DemoData) -> None:
    # given bob, a globex admin, added to acme as staff and signed in there
    alice = await login(client, "alice@acme.test")
    added = await gql(client, ADD, {"email": "bob@globex.test", "role": "STAFF"}, session=alice)
    assert "errors" not in added.json()
    bob = await login(client, "bob@globex.test", tenant="acme", host="localhost")
    assert (await gql(client, VIEWER, session=bob)).status_code == 200

    body = (
        await gql(client, REMOVE, {"u": demo.user_gid("bob@globex.test")}, session=alice)
    ).json()
    refused = await gql(client, VIEWER, session=bob)

    assert body == {"data": {"removeMember": True}}
    assert "bob@globex.test" not in emails(await members_of(client, alice))
    assert refused.status_code == 403
    assert error_codes(refused.json()) == ["FORBIDDEN"]
    # his globex membership is untouched
    globex = await login(client, "bob@globex.test", host="globex.localhost")
    assert (await gql(client, VIEWER, session=globex)).status_code == 200
    audit = (
        await gql(client, AUDIT, {"filter": {"action": "member.remove"}}, session=alice)
    ).json()
    assert audit["data"]["auditLog"]["edges"][0]["node"]["targetId"] == demo.user_gid(
        "bob@globex.test"
    )


async def test_a_member_with_bookings_cannot_be_removed(
    client: httpx.AsyncClient, demo: DemoData, as_tenant
) -> None:  # type: ignore[no-untyped-def]
    acme = demo.tenants["acme"]
    await as_tenant(
        acme,
        "INSERT INTO bookings (tenant_id, service_id, client_id, starts_at, ends_at) "
        "SELECT :t, id, :c, now() + interval '1 day', now() + interval '25 hours' "
        "FROM services WHERE tenant_id = :t LIMIT 1",
        t=acme,
        c=demo.users["carol@acme.test"],
    )
    alice = await login(client, "alice@acme.test")

    body = (
        await gql(client, REMOVE, {"u": demo.user_gid("carol@acme.test")}, session=alice)
    ).json()

    assert error_codes(body) == ["CONFLICT"]
    assert "suspend" in body["errors"][0]["message"]
    assert "carol@acme.test" in emails(await members_of(client, alice))
    suspended = (
        await gql(client, SUSPEND, {"u": demo.user_gid("carol@acme.test")}, session=alice)
    ).json()
    assert suspended == {"data": {"suspendMember": {"status": "SUSPENDED"}}}


async def test_statement_count_does_not_grow_with_page_size(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    await gql(client, ADD, {"email": "carol@acme.test", "role": "CLIENT"}, session=bob)
    await gql(client, ADD, {"email": "dave@initech.test", "role": "STAFF"}, session=bob)
    costs = {}
    for first in (1, 4):
        with counting_statements(runtime_conn) as statements:
            body = (await gql(client, MEMBERS, {"first": first}, session=bob)).json()
        assert len(body["data"]["members"]["edges"]) == first
        costs[first] = len(statements)
    assert costs[1] == costs[4]
    # the context and the session check (one statement), the page, the count, one batched user load
    assert costs[4] <= 4


async def test_staff_and_clients_cannot_change_members(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    carol = await login(client, "carol@acme.test")
    dave = await login(client, "dave@initech.test", tenant="acme")
    alice = await login(client, "alice@acme.test")
    before = await members_of(client, alice)
    target = demo.user_gid("carol@acme.test")

    for session in (carol, dave):
        for query, variables in (
            (ADD, {"email": "bob@globex.test", "role": "ADMIN"}),
            (CHANGE_ROLE, {"u": target, "role": "ADMIN"}),
            (SUSPEND, {"u": target}),
            (REACTIVATE, {"u": target}),
            (REMOVE, {"u": target}),
        ):
            body = (await gql(client, query, variables, session=session)).json()
            assert error_codes(body) == ["FORBIDDEN"], (query, body)
            assert body["data"] is None

    assert await members_of(client, alice) == before


async def test_changes_in_one_tenant_leave_the_same_users_other_membership_alone(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    alice = await login(client, "alice@acme.test")
    alice_id = demo.user_gid("alice@acme.test")

    suspended = (await gql(client, SUSPEND, {"u": alice_id}, session=bob)).json()
    removed = (await gql(client, REMOVE, {"u": alice_id}, session=bob)).json()

    assert suspended == {"data": {"suspendMember": {"status": "SUSPENDED"}}}
    # alice booked globex's services in the demo data: her bookings keep the membership
    assert error_codes(removed) == ["CONFLICT"]
    assert emails(await members_of(client, bob)) == {"bob@globex.test", "alice@acme.test"}
    assert (await gql(client, VIEWER, session=alice)).json()["data"]["viewer"] == {"role": "ADMIN"}
    acme = await members_of(client, alice)
    assert (
        next(e["node"] for e in acme["data"]["members"]["edges"] if "alice" in str(e))["status"]
        == "ACTIVE"
    )


SUBMIT_REQUEST = """
mutation($input: SubmitServiceRequestInput!) { submitServiceRequest(input: $input) { submitted } }
"""


async def test_removing_a_member_keeps_who_asked_on_their_requests(
    client: httpx.AsyncClient, demo: DemoData, as_tenant
) -> None:  # type: ignore[no-untyped-def]
    alice = await login(client, "alice@acme.test")
    added = await gql(client, ADD, {"email": "bob@globex.test", "role": "CLIENT"}, session=alice)
    assert "errors" not in added.json()
    bob = await login(client, "bob@globex.test", tenant="acme", host="localhost")
    submitted = await gql(
        client, SUBMIT_REQUEST, {"input": {"description": "bob asks acme"}}, session=bob
    )
    assert submitted.json() == {"data": {"submitServiceRequest": {"submitted": True}}}

    removed = (
        await gql(client, REMOVE, {"u": demo.user_gid("bob@globex.test")}, session=alice)
    ).json()

    assert removed == {"data": {"removeMember": True}}
    rows = await as_tenant(
        demo.tenants["acme"],
        "SELECT client_id, contact_email FROM service_requests WHERE description = 'bob asks acme'",
    )
    assert [tuple(r) for r in rows] == [(None, "bob@globex.test")]

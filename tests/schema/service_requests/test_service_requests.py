"""Service requests over HTTP: clients, anonymous visitors of a tenant's host, staff and admins,
always with two or more tenants of different sizes (acme 12 requests, globex 7, initech 4)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from schema.ids import decode_id, encode_id
from tests.helpers import DemoData, error_codes, gql, login
from tests.schema.work.support import StatementCounter, rows, scalar

SERVICE_REQUESTS = """
query Requests($first: Int, $after: String, $filter: ServiceRequestFilter) {
  serviceRequests(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id status description contactEmail serviceId serviceName
                   client { email } task { id title } } }
  }
}
"""
MY_SERVICE_REQUESTS = """
query Mine($first: Int) {
  myServiceRequests(first: $first) {
    totalCount
    edges { node { id status client { email } } }
  }
}
"""
SERVICE_REQUEST = """
query Request($id: ID!) { serviceRequest(id: $id) { id status description client { email } } }
"""
SUBMIT = """
mutation Submit($input: SubmitServiceRequestInput!) {
  submitServiceRequest(input: $input) {
    submitted
    serviceRequest { id status description contactPhone serviceName client { email } }
  }
}
"""
UPDATE_STATUS = """
mutation Status($id: ID!, $status: ServiceRequestStatus!) {
  updateServiceRequestStatus(id: $id, status: $status) { id status }
}
"""
CONVERT = """
mutation Convert($id: ID!, $input: ConvertServiceRequestInput) {
  convertServiceRequestToTask(id: $id, input: $input) {
    id status task { id title priority assignee { email } createdBy { email } }
  }
}
"""
TASK_COUNT = "query { tasks(first: 1) { totalCount } }"


async def request_ids(conn: AsyncConnection, tenant_id: uuid.UUID, where: str = "true") -> set:
    found = await rows(conn, tenant_id, f"SELECT id FROM service_requests WHERE {where}")
    return {r.id for r in found}


def ids_of(body: dict, field: str = "serviceRequests") -> set:
    return {decode_id("ServiceRequest", e["node"]["id"]) for e in body["data"][field]["edges"]}


async def a_request(conn: AsyncConnection, tenant_id: uuid.UUID, where: str) -> str:
    found = sorted(await request_ids(conn, tenant_id, where))
    assert found, where
    return encode_id("ServiceRequest", found[0])


# --- reading ------------------------------------------------------------------------------


async def test_staff_and_admins_see_their_own_tenants_requests_only(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    acme_ids, globex_ids = (
        await request_ids(runtime_conn, acme),
        await request_ids(runtime_conn, globex),
    )
    assert (len(acme_ids), len(globex_ids)) == (12, 7)
    for email, tenant in (("alice@acme.test", None), ("dave@initech.test", "acme")):
        session = await login(client, email, tenant=tenant)
        body = (await gql(client, SERVICE_REQUESTS, {"first": 100}, session=session)).json()
        assert body["data"]["serviceRequests"]["totalCount"] == 12, email
        assert ids_of(body) == acme_ids
        assert not ids_of(body) & globex_ids
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, SERVICE_REQUESTS, {"first": 100}, session=bob)).json()
    assert body["data"]["serviceRequests"]["totalCount"] == 7
    assert ids_of(body) == globex_ids
    assert not ids_of(body) & acme_ids
    # globex has no client members: every one of its requests came from a public contact
    assert all(e["node"]["client"] is None for e in body["data"]["serviceRequests"]["edges"])


async def test_pagination_walks_every_request_once(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    alice = await login(client, "alice@acme.test")
    seen: list = []
    after = None
    while True:
        body = (
            await gql(client, SERVICE_REQUESTS, {"first": 5, "after": after}, session=alice)
        ).json()
        seen += list(ids_of(body))
        info = body["data"]["serviceRequests"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert len(seen) == 12
    assert set(seen) == await request_ids(runtime_conn, demo.tenants["acme"])


async def test_a_client_sees_only_its_own_requests(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme, carol_id = demo.tenants["acme"], demo.users["carol@acme.test"]
    carols = await request_ids(runtime_conn, acme, f"client_id = '{carol_id}'")
    assert 0 < len(carols) < 12
    carol = await login(client, "carol@acme.test")
    body = (await gql(client, SERVICE_REQUESTS, {"first": 10}, session=carol)).json()
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None
    body = (await gql(client, MY_SERVICE_REQUESTS, {"first": 100}, session=carol)).json()
    assert body["data"]["myServiceRequests"]["totalCount"] == len(carols)
    assert ids_of(body, "myServiceRequests") == carols
    edges = body["data"]["myServiceRequests"]["edges"]
    assert {e["node"]["client"]["email"] for e in edges} == {"carol@acme.test"}
    # by id: her own, yes; a public contact's request of her tenant, or another tenant's, null
    own = encode_id("ServiceRequest", sorted(carols)[0])
    body = (await gql(client, SERVICE_REQUEST, {"id": own}, session=carol)).json()
    assert body["data"]["serviceRequest"]["client"] == {"email": "carol@acme.test"}
    for other in (
        await a_request(runtime_conn, acme, "client_id IS NULL"),
        await a_request(runtime_conn, demo.tenants["globex"], "true"),
    ):
        body = (await gql(client, SERVICE_REQUEST, {"id": other}, session=carol)).json()
        assert body == {"data": {"serviceRequest": None}}


async def test_staff_with_no_requests_of_their_own_have_an_empty_my_list(
    client: httpx.AsyncClient,
) -> None:
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, MY_SERVICE_REQUESTS, {"first": 10}, session=bob)).json()
    assert body["data"]["myServiceRequests"] == {"totalCount": 0, "edges": []}


async def test_another_tenants_request_is_null_and_not_writable(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    target = await a_request(runtime_conn, acme, "status = 'NEW'")
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, SERVICE_REQUEST, {"id": target}, session=bob)).json()
    assert body == {"data": {"serviceRequest": None}}
    for query, variables in (
        (UPDATE_STATUS, {"id": target, "status": "REJECTED"}),
        (CONVERT, {"id": target, "input": {"title": "stolen"}}),
    ):
        body = (await gql(client, query, variables, session=bob)).json()
        assert error_codes(body) == ["NOT_FOUND"], body
        assert str(acme) not in str(body)
    after = await rows(
        runtime_conn,
        acme,
        "SELECT status, task_id FROM service_requests WHERE id = :i",
        {"i": decode_id("ServiceRequest", target)},
    )
    assert [(r.status, r.task_id) for r in after] == [("NEW", None)]
    # and globex gained no task
    globex_tasks = await gql(client, TASK_COUNT, session=bob)
    assert globex_tasks.json()["data"]["tasks"]["totalCount"] == 23


async def test_filters(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    alice = await login(client, "alice@acme.test")

    async def found(flt: dict) -> set:
        body = (
            await gql(client, SERVICE_REQUESTS, {"first": 100, "filter": flt}, session=alice)
        ).json()
        assert "errors" not in body, body
        return ids_of(body)

    assert await found({"status": ["NEW"]}) == await request_ids(
        runtime_conn, acme, "status = 'NEW'"
    )
    assert await found({"status": ["CONVERTED", "CLOSED"]}) == await request_ids(
        runtime_conn, acme, "status IN ('CONVERTED', 'CLOSED')"
    )
    carol_id = demo.users["carol@acme.test"]
    assert await found({"clientId": demo.user_gid("carol@acme.test")}) == await request_ids(
        runtime_conn, acme, f"client_id = '{carol_id}'"
    )
    service = (await rows(runtime_conn, acme, "SELECT id FROM services ORDER BY slug LIMIT 1"))[0]
    expected = await request_ids(runtime_conn, acme, f"service_id = '{service.id}'")
    assert expected
    assert await found({"serviceId": encode_id("Service", service.id)}) == expected
    # another tenant's service or client matches nothing, and says nothing
    globex_service = (
        await rows(runtime_conn, demo.tenants["globex"], "SELECT id FROM services LIMIT 1")
    )[0]
    assert await found({"serviceId": encode_id("Service", globex_service.id)}) == set()
    assert await found({"clientId": demo.user_gid("bob@globex.test")}) == set()


async def test_page_size_is_bounded(client: httpx.AsyncClient) -> None:
    alice = await login(client, "alice@acme.test")
    for first in (0, 101):
        body = (await gql(client, SERVICE_REQUESTS, {"first": first}, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"]
        body = (await gql(client, MY_SERVICE_REQUESTS, {"first": first}, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_anonymous_visitors_read_nothing(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    target = await a_request(runtime_conn, demo.tenants["acme"], "true")
    for query, variables in (
        (SERVICE_REQUESTS, {"first": 5}),
        (MY_SERVICE_REQUESTS, {"first": 5}),
        (SERVICE_REQUEST, {"id": target}),
        (UPDATE_STATUS, {"id": target, "status": "CLOSED"}),
        (CONVERT, {"id": target}),
    ):
        body = (await gql(client, query, variables, host="acme.localhost")).json()
        assert error_codes(body) == ["UNAUTHENTICATED"], query
        assert not any((body["data"] or {}).values())


async def test_statement_count_does_not_grow_with_page_size(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection
) -> None:
    alice = await login(client, "alice@acme.test")
    costs = {}
    for first in (6, 12):
        with StatementCounter(runtime_conn) as count:
            body = (await gql(client, SERVICE_REQUESTS, {"first": first}, session=alice)).json()
            costs[first] = count()
        nodes = [e["node"] for e in body["data"]["serviceRequests"]["edges"]]
        assert len(nodes) == first
        # every relationship is on both pages, so every loader runs on both
        assert any(n["serviceName"] for n in nodes)
        assert any(n["client"] for n in nodes)
        assert any(n["task"] for n in nodes)
    assert costs[6] == costs[12]
    # the context and the session check (one statement), the page, the count, users, service names, tasks
    assert costs[12] <= 6


# --- submitting ---------------------------------------------------------------------------


async def test_a_client_submits_as_itself(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    service = (
        await rows(runtime_conn, acme, "SELECT id, name FROM services WHERE slug = 'payroll'")
    )[0]
    carol = await login(client, "carol@acme.test")
    body = (
        await gql(
            client,
            SUBMIT,
            {
                "input": {
                    "description": "  Please run payroll for our two new hires.  ",
                    "serviceId": encode_id("Service", service.id),
                    "contactPhone": "+44 20 7946 0018",
                }
            },
            session=carol,
            headers={"X-Request-ID": "req-submit-0001"},
        )
    ).json()
    receipt = body["data"]["submitServiceRequest"]
    assert receipt["submitted"] is True
    created = receipt["serviceRequest"]
    assert created["status"] == "NEW"
    assert created["description"] == "Please run payroll for our two new hires."
    assert created["serviceName"] == service.name
    assert created["client"] == {"email": "carol@acme.test"}
    mine = (await gql(client, MY_SERVICE_REQUESTS, {"first": 100}, session=carol)).json()
    assert created["id"] in {e["node"]["id"] for e in mine["data"]["myServiceRequests"]["edges"]}
    # acme's staff see it, globex's do not
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, SERVICE_REQUEST, {"id": created["id"]}, session=alice)).json()
    assert body["data"]["serviceRequest"]["client"] == {"email": "carol@acme.test"}
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, SERVICE_REQUEST, {"id": created["id"]}, session=bob)).json()
    assert body == {"data": {"serviceRequest": None}}
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT actor_id, action, request_id FROM audit_logs WHERE target_id = :i",
        {"i": decode_id("ServiceRequest", created["id"])},
    )
    assert [(r.actor_id, r.action, r.request_id) for r in audit] == [
        (demo.users["carol@acme.test"], "service_request.submit", "req-submit-0001")
    ]


async def test_a_client_cannot_ask_for_another_tenants_service(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    globex_service = (
        await rows(runtime_conn, demo.tenants["globex"], "SELECT id FROM services LIMIT 1")
    )[0]
    carol = await login(client, "carol@acme.test")
    body = (
        await gql(
            client,
            SUBMIT,
            {"input": {"description": "x", "serviceId": encode_id("Service", globex_service.id)}},
            session=carol,
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert str(globex_service.id) not in str(body)
    mine = (await gql(client, MY_SERVICE_REQUESTS, {"first": 1}, session=carol)).json()
    assert mine["data"]["myServiceRequests"]["totalCount"] == 6


async def test_an_anonymous_submission_lands_in_the_hosts_tenant_only(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme, globex = demo.tenants["acme"], demo.tenants["globex"]
    memberships_before = await scalar(
        runtime_conn,
        acme,
        "SELECT count(*) FROM tenant_memberships WHERE tenant_id = :t",
        {"t": acme},
    )
    # given an anonymous visitor of acme's host, using the email of an existing acme client
    body = (
        await gql(
            client,
            SUBMIT,
            {
                "input": {
                    "description": "Anonymous: help with our audit, please.",
                    "contactName": "Carol C.",
                    "contactEmail": "carol@acme.test",
                    "contactPhone": "(020) 7946-0000",
                }
            },
            host="acme.localhost",
        )
    ).json()
    # then the receipt carries no id, and no row can be read back
    assert body == {"data": {"submitServiceRequest": {"submitted": True, "serviceRequest": None}}}
    stored = await rows(
        runtime_conn,
        acme,
        "SELECT tenant_id, client_id, contact_name, contact_email, contact_phone, status, task_id "
        "FROM service_requests WHERE description LIKE 'Anonymous:%'",
    )
    assert [tuple(r) for r in stored] == [
        (acme, None, "Carol C.", "carol@acme.test", "(020) 7946-0000", "NEW", None)
    ]
    # audited in acme, with no actor, naming the request
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT a.actor_id, a.target_type FROM audit_logs a JOIN service_requests r "
        "ON r.tenant_id = a.tenant_id AND r.id = a.target_id "
        "WHERE a.action = 'service_request.submit_public' AND r.description LIKE 'Anonymous:%'",
    )
    assert [tuple(r) for r in audit] == [(None, "service_request")]
    assert (
        await scalar(
            runtime_conn,
            globex,
            "SELECT count(*) FROM audit_logs WHERE action = 'service_request.submit_public'",
        )
        == 0
    )
    # never linked to the account with that email, and no membership created
    assert (
        await scalar(
            runtime_conn,
            acme,
            "SELECT count(*) FROM tenant_memberships WHERE tenant_id = :t",
            {"t": acme},
        )
        == memberships_before
    )
    carol = await login(client, "carol@acme.test")
    mine = (await gql(client, MY_SERVICE_REQUESTS, {"first": 100}, session=carol)).json()
    assert mine["data"]["myServiceRequests"]["totalCount"] == 6
    # acme's staff see it; globex's staff, and globex's tables, do not
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, SERVICE_REQUESTS, {"first": 100}, session=alice)).json()
    assert body["data"]["serviceRequests"]["totalCount"] == 13
    assert "Anonymous: help with our audit, please." in {
        e["node"]["description"] for e in body["data"]["serviceRequests"]["edges"]
    }
    bob = await login(client, "bob@globex.test", host="globex.localhost")
    body = (await gql(client, SERVICE_REQUESTS, {"first": 100}, session=bob)).json()
    assert body["data"]["serviceRequests"]["totalCount"] == 7
    assert "Anonymous" not in str(body)
    assert (
        await scalar(
            runtime_conn,
            globex,
            "SELECT count(*) FROM service_requests WHERE description LIKE 'Anonymous:%'",
        )
        == 0
    )


async def test_an_anonymous_submission_on_globex_stays_in_globex(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    body = (
        await gql(
            client,
            SUBMIT,
            {"input": {"description": "Strategy day?", "contactEmail": "v@example.org"}},
            host="globex.localhost",
        )
    ).json()
    assert body["data"]["submitServiceRequest"]["submitted"] is True
    for slug, expected in (("globex", 1), ("acme", 0), ("initech", 0)):
        found = await scalar(
            runtime_conn,
            demo.tenants[slug],
            "SELECT count(*) FROM service_requests WHERE description = 'Strategy day?'",
        )
        assert found == expected, slug


async def test_an_anonymous_visitor_may_name_one_of_the_hosts_services(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    service = (await rows(runtime_conn, acme, "SELECT id FROM services WHERE slug = 'payroll'"))[0]
    body = (
        await gql(
            client,
            SUBMIT,
            {
                "input": {
                    "description": "Payroll for 40 people",
                    "serviceId": encode_id("Service", service.id),
                    "contactEmail": "hr@wingtip.example",
                }
            },
            host="acme.localhost",
        )
    ).json()
    assert body == {"data": {"submitServiceRequest": {"submitted": True, "serviceRequest": None}}}
    stored = await rows(
        runtime_conn,
        acme,
        "SELECT service_id, client_id FROM service_requests WHERE description = :d",
        {"d": "Payroll for 40 people"},
    )
    assert [tuple(r) for r in stored] == [(service.id, None)]


async def test_anonymous_submission_on_the_bare_domain_is_bad_input(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    body = (
        await gql(
            client,
            SUBMIT,
            {"input": {"description": "Which tenant?", "contactEmail": "v@example.org"}},
            host="localhost",
        )
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] is None
    for tenant_id in demo.tenants.values():
        assert (
            await scalar(
                runtime_conn,
                tenant_id,
                "SELECT count(*) FROM service_requests WHERE description = 'Which tenant?'",
            )
            == 0
        )


async def test_anonymous_submission_input_is_validated(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    globex_service = (
        await rows(runtime_conn, demo.tenants["globex"], "SELECT id FROM services LIMIT 1")
    )[0]
    good = {"description": "Validate me", "contactEmail": "v@example.org"}
    for change in (
        {"contactEmail": None},  # required when anonymous
        {"contactEmail": "   "},
        {"contactEmail": "not-an-email"},
        {"contactEmail": "two@@example.org"},
        {"contactEmail": "a@b"},
        {"contactEmail": "x" * 250 + "@example.org"},
        {"contactName": "n" * 201},
        {"contactPhone": "call me maybe"},
        {"contactPhone": "1" * 41},
        {"description": "   "},
        {"description": "d" * 5001},
        {"serviceId": "garbage"},
        {"serviceId": encode_id("Service", globex_service.id)},  # another tenant's service
        {"serviceId": encode_id("Service", uuid.uuid4())},
    ):
        body = (
            await gql(client, SUBMIT, {"input": {**good, **change}}, host="acme.localhost")
        ).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], change
        assert str(globex_service.id) not in str(body)
    assert (
        await scalar(
            runtime_conn,
            acme,
            "SELECT count(*) FROM service_requests WHERE description LIKE 'Validate me%'",
        )
        == 0
    )


# --- staff operations ---------------------------------------------------------------------


async def test_staff_update_the_status_with_audit(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    target = await a_request(runtime_conn, acme, "status = 'NEW'")
    carol = await login(client, "carol@acme.test")
    body = (
        await gql(client, UPDATE_STATUS, {"id": target, "status": "CLOSED"}, session=carol)
    ).json()
    assert error_codes(body) == ["FORBIDDEN"]
    dave = await login(client, "dave@initech.test", tenant="acme")
    body = (
        await gql(client, UPDATE_STATUS, {"id": target, "status": "IN_REVIEW"}, session=dave)
    ).json()
    assert body["data"]["updateServiceRequestStatus"] == {"id": target, "status": "IN_REVIEW"}
    body = (
        await gql(client, UPDATE_STATUS, {"id": target, "status": "CONVERTED"}, session=dave)
    ).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT actor_id, action, changes FROM audit_logs WHERE target_id = :i",
        {"i": decode_id("ServiceRequest", target)},
    )
    assert [(r.actor_id, r.action, r.changes) for r in audit] == [
        (
            demo.users["dave@initech.test"],
            "service_request.update_status",
            {"status": {"from": "NEW", "to": "IN_REVIEW"}},
        )
    ]


async def test_convert_makes_a_task_once(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    target = await a_request(runtime_conn, acme, "status = 'NEW' AND client_id IS NULL")
    carol = await login(client, "carol@acme.test")
    body = (await gql(client, CONVERT, {"id": target}, session=carol)).json()
    assert error_codes(body) == ["FORBIDDEN"]

    alice = await login(client, "alice@acme.test")
    body = (
        await gql(
            client,
            CONVERT,
            {
                "id": target,
                "input": {"assigneeId": demo.user_gid("dave@initech.test"), "priority": "HIGH"},
            },
            session=alice,
        )
    ).json()
    converted = body["data"]["convertServiceRequestToTask"]
    assert converted["status"] == "CONVERTED"
    task = converted["task"]
    assert task["title"].startswith("Service request: ")
    assert task["priority"] == "HIGH"
    assert task["assignee"] == {"email": "dave@initech.test"}
    assert task["createdBy"] == {"email": "alice@acme.test"}
    assert (await gql(client, TASK_COUNT, session=alice)).json()["data"]["tasks"][
        "totalCount"
    ] == 38

    # a second conversion, by anyone, is a conflict and makes no second task
    dave = await login(client, "dave@initech.test", tenant="acme")
    body = (
        await gql(client, CONVERT, {"id": target, "input": {"title": "again"}}, session=dave)
    ).json()
    assert error_codes(body) == ["CONFLICT"]
    body = (await gql(client, UPDATE_STATUS, {"id": target, "status": "NEW"}, session=dave)).json()
    assert error_codes(body) == ["CONFLICT"]
    assert (await gql(client, TASK_COUNT, session=alice)).json()["data"]["tasks"][
        "totalCount"
    ] == 38

    request_id, task_id = decode_id("ServiceRequest", target), decode_id("Task", task["id"])
    stored = await rows(
        runtime_conn,
        acme,
        "SELECT task_id, status FROM service_requests WHERE id = :i",
        {"i": request_id},
    )
    assert [tuple(r) for r in stored] == [(task_id, "CONVERTED")]
    audit = await rows(
        runtime_conn,
        acme,
        "SELECT action, target_id, changes FROM audit_logs WHERE target_id IN (:r, :t) "
        "ORDER BY action",
        {"r": request_id, "t": task_id},
    )
    assert [(r.action, r.target_id) for r in audit] == [
        ("service_request.convert", request_id),
        ("task.create", task_id),
    ]
    assert audit[0].changes["task_id"] == str(task_id)
    assert audit[1].changes["service_request_id"] == str(request_id)


async def test_convert_validates_its_input_and_writes_nothing(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme = demo.tenants["acme"]
    target = await a_request(runtime_conn, acme, "status = 'NEW'")
    alice = await login(client, "alice@acme.test")
    for given in (
        {"assigneeId": demo.user_gid("bob@globex.test")},  # not a member of acme
        {"assigneeId": demo.user_gid("carol@acme.test") + "x"},
        {"title": "t" * 201},
    ):
        body = (await gql(client, CONVERT, {"id": target, "input": given}, session=alice)).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], given
    assert (await gql(client, TASK_COUNT, session=alice)).json()["data"]["tasks"][
        "totalCount"
    ] == 37
    stored = await rows(
        runtime_conn,
        acme,
        "SELECT status, task_id FROM service_requests WHERE id = :i",
        {"i": decode_id("ServiceRequest", target)},
    )
    assert [tuple(r) for r in stored] == [("NEW", None)]


async def test_a_converted_task_stays_hidden_from_the_client_who_asked(
    client: httpx.AsyncClient, runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    acme, carol_id = demo.tenants["acme"], demo.users["carol@acme.test"]
    target = await a_request(
        runtime_conn, acme, f"client_id = '{carol_id}' AND status <> 'CONVERTED'"
    )
    alice = await login(client, "alice@acme.test")
    body = (await gql(client, CONVERT, {"id": target}, session=alice)).json()
    assert body["data"]["convertServiceRequestToTask"]["task"] is not None
    carol = await login(client, "carol@acme.test")
    query = "query($id: ID!) { serviceRequest(id: $id) { status task { id } } }"
    body = (await gql(client, query, {"id": target}, session=carol)).json()
    # she learns that it was converted, not the staff's task (a CLIENT sees only its own tasks)
    assert body == {"data": {"serviceRequest": {"status": "CONVERTED", "task": None}}}

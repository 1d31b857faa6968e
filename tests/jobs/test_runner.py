"""The runner: each tenant in its own transaction and context on the runtime role, so a job's
code cannot reach another tenant even when it forgets to filter; one tenant's failure is logged
and rolled back, and the others still run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
import structlog
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from structlog.testing import capture_logs

from app.jobs.registry import Job, JobRegistry, UnknownJob, registry
from app.jobs.runner import JobRun, Outcome
from repositories.models import HealthLog, Task
from tests.helpers import DemoData
from tests.jobs.support import demo_tenants, rows_in, run


def make_job(name: str, function: Any) -> Job:
    return Job(name, function, f"{name} (a test job)")


# --- a careless job ---------------------------------------------------------------------------


async def test_a_job_that_forgets_to_filter_reads_and_changes_only_its_tenant(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    seen: dict[str, set[uuid.UUID]] = {}

    async def careless(run: JobRun) -> Mapping[str, int]:
        # no WHERE at all: every task the database lets this transaction see
        rows = (await run.session.execute(select(Task.tenant_id, Task.id))).all()
        seen[run.tenant.slug] = {r.tenant_id for r in rows}
        changed = await run.session.execute(
            update(Task).values(description=f"touched by the run for {run.tenant.slug}")
        )
        return {"seen": len(rows), "updated": changed.rowcount}  # type: ignore[attr-defined]

    # Given a job that selects and updates tasks with no tenant filter, run for acme only
    report = await run(runtime_conn, make_job("careless", careless), demo_tenants(demo, "acme"))

    # Then it saw exactly acme's tasks and changed exactly those
    assert report.succeeded
    acme_tasks = len(demo.tasks["acme"])
    assert report.results[0].counts == {"seen": acme_tasks, "updated": acme_tasks}
    assert seen == {"acme": {demo.tenants["acme"]}}
    touched = "SELECT id FROM tasks WHERE description LIKE 'touched by%'"
    assert {r.id for r in await rows_in(runtime_conn, demo.tenants["acme"], touched)} == (
        demo.tasks["acme"]
    )
    # and globex's and initech's tasks are as they were
    for slug in ("globex", "initech"):
        assert await rows_in(runtime_conn, demo.tenants[slug], touched) == []
        count = await rows_in(runtime_conn, demo.tenants[slug], "SELECT count(*) FROM tasks")
        assert count[0][0] == len(demo.tasks[slug])

    # When it runs for globex and initech too, each run sees its own tenant's tasks only
    seen.clear()
    report = await run(
        runtime_conn, make_job("careless", careless), demo_tenants(demo, "globex", "initech")
    )
    assert seen == {"globex": {demo.tenants["globex"]}, "initech": {demo.tenants["initech"]}}
    assert [r.counts["seen"] for r in report.results] == [
        len(demo.tasks["globex"]),
        len(demo.tasks["initech"]),
    ]


@pytest.mark.parametrize("how", ["core", "orm"])
async def test_a_job_cannot_write_into_another_tenant(
    runtime_conn: AsyncConnection, demo: DemoData, how: str
) -> None:
    globex = demo.tenants["globex"]

    async def trespass(run: JobRun) -> Mapping[str, int]:
        if how == "core":  # past the repositories: row-level security refuses it
            await run.session.execute(
                insert(Task).values(tenant_id=globex, id=uuid.uuid4(), title="planted")
            )
        else:  # through the ORM: the session's flush guard refuses it first
            run.session.add(Task(tenant_id=globex, id=uuid.uuid4(), title="planted"))
            await run.session.flush()
        return {}

    report = await run(runtime_conn, make_job("trespass", trespass), demo_tenants(demo, "acme"))

    assert [r.outcome for r in report.results] == [Outcome.FAILED]
    error = report.results[0].error or ""
    if how == "core":
        assert "row-level security" in error
    else:
        assert error.startswith("TenantMismatch")
    for slug in ("acme", "globex"):
        planted = await rows_in(
            runtime_conn, demo.tenants[slug], "SELECT id FROM tasks WHERE title = 'planted'"
        )
        assert planted == []


@pytest.mark.parametrize(
    ("how", "action"), [("core", "security.rls_violation"), ("orm", "security.cross_tenant_write")]
)
async def test_a_refused_write_into_another_tenant_is_a_security_event_of_the_jobs_tenant(
    runtime_conn: AsyncConnection, demo: DemoData, how: str, action: str
) -> None:
    globex = demo.tenants["globex"]

    async def trespass(run: JobRun) -> Mapping[str, int]:
        if run.tenant.slug != "acme":
            return {}
        if how == "core":
            await run.session.execute(
                insert(Task).values(tenant_id=globex, id=uuid.uuid4(), title="planted")
            )
        else:
            run.session.add(Task(tenant_id=globex, id=uuid.uuid4(), title="planted"))
            await run.session.flush()
        return {}

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        report = await run(
            runtime_conn, make_job("trespass", trespass), demo_tenants(demo, "acme", "initech")
        )

    # the run went on (initech is fine), and acme's refusal is a security event like a request's:
    # a line, and an audit row in acme (the tenant the job ran for), none in globex or initech
    assert [r.outcome for r in report.results] == [Outcome.FAILED, Outcome.OK]
    request_id = f"job-{report.run_id}"
    (line,) = [e for e in logs if e["event"] == "security event"]
    assert line["security_event"] == action.removeprefix("security.").upper()
    assert line["tenant_id"] == str(demo.tenants["acme"])
    assert line["request_id"] == request_id
    assert line["audit"] == "written"
    security = "SELECT action, actor_id FROM audit_logs WHERE request_id = :r"
    rows = {
        slug: list(await rows_in(runtime_conn, demo.tenants[slug], security, {"r": request_id}))
        for slug in ("acme", "globex", "initech")
    }
    assert rows == {"acme": [(action, None)], "globex": [], "initech": []}


async def test_a_job_runs_as_the_runtime_role_bound_to_its_tenant_and_no_user(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    found: dict[str, Any] = {}

    async def whoami(run: JobRun) -> Mapping[str, int]:
        row = (
            await run.session.execute(
                text(
                    "SELECT current_user AS role,"
                    " (SELECT rolsuper OR rolbypassrls FROM pg_roles"
                    "   WHERE rolname = current_user) AS privileged,"
                    " current_setting('app.current_tenant_id', true) AS tenant,"
                    " current_setting('app.current_user_id', true) AS user_id,"
                    " current_setting('app.is_superadmin', true) AS superadmin"
                )
            )
        ).one()
        found[run.tenant.slug] = row._asdict()
        return {}

    await run(runtime_conn, make_job("whoami", whoami), demo_tenants(demo, "acme", "initech"))

    for slug in ("acme", "initech"):
        assert found[slug] == {
            "role": "tenantgraph_app",
            "privileged": False,
            "tenant": str(demo.tenants[slug]),
            "user_id": "",
            "superadmin": "false",
        }


# --- failures ---------------------------------------------------------------------------------


async def test_a_failing_tenant_is_rolled_back_and_logged_and_the_others_run(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    async def flaky(run: JobRun) -> Mapping[str, int]:
        structlog.get_logger("test").info("inside the job")
        await run.session.execute(
            insert(HealthLog).values(tenant_id=run.tenant.id, check_name="flaky", status="OK")
        )
        if run.tenant.slug == "globex":
            raise RuntimeError("globex broke")
        return {"written": 1}

    tenants = demo_tenants(demo, "acme", "globex", "initech")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        report = await run(runtime_conn, make_job("flaky", flaky), tenants)

    # every tenant ran; globex failed, the others did not
    assert [(r.tenant.slug, r.outcome) for r in report.results] == [
        ("acme", Outcome.OK),
        ("globex", Outcome.FAILED),
        ("initech", Outcome.OK),
    ]
    assert not report.succeeded
    assert [r.tenant.slug for r in report.failed] == ["globex"]
    assert report.results[1].error == "RuntimeError: globex broke"
    # globex's write was rolled back with its failure; the others' writes stayed
    flaky_rows = "SELECT count(*) FROM health_logs WHERE check_name = 'flaky'"
    counts = {
        slug: (await rows_in(runtime_conn, demo.tenants[slug], flaky_rows))[0][0]
        for slug in ("acme", "globex", "initech")
    }
    assert counts == {"acme": 1, "globex": 0, "initech": 1}

    # the failure is logged with the job and the tenant, and so is every line inside the job
    failed = [e for e in logs if e["event"] == "job.tenant_failed"]
    assert len(failed) == 1
    assert failed[0]["job"] == "flaky"
    assert failed[0]["tenant_slug"] == "globex"
    assert failed[0]["tenant_id"] == str(demo.tenants["globex"])
    assert failed[0]["error"] == "RuntimeError: globex broke"
    assert failed[0]["log_level"] == "error"
    inside = [e for e in logs if e["event"] == "inside the job"]
    assert [(e["tenant_slug"], e["tenant_id"], e["job"]) for e in inside] == [
        (t.slug, str(t.id), "flaky") for t in tenants
    ]
    assert len({e["run_id"] for e in logs}) == 1
    # nothing stays bound once the run is over
    assert "tenant_id" not in structlog.contextvars.get_contextvars()
    assert "job" not in structlog.contextvars.get_contextvars()


async def test_a_tenant_whose_job_is_cancelled_from_within_does_not_stop_the_run(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    async def cancelled_inside(run: JobRun) -> Mapping[str, int]:
        if run.tenant.slug == "globex":
            # what an inner timeout or a library's own cancellation lets escape
            raise asyncio.CancelledError("a call inside the job was cancelled")
        return {"done": 1}

    tenants = demo_tenants(demo, "acme", "globex", "initech")
    report = await run(runtime_conn, make_job("cancelled-inside", cancelled_inside), tenants)

    assert [(r.tenant.slug, r.outcome) for r in report.results] == [
        ("acme", Outcome.OK),
        ("globex", Outcome.FAILED),
        ("initech", Outcome.OK),
    ]
    assert (report.results[1].error or "").startswith("CancelledError")


async def test_a_cancelled_run_still_stops(runtime_conn: AsyncConnection, demo: DemoData) -> None:
    started = asyncio.Event()

    async def slow(run: JobRun) -> Mapping[str, int]:
        started.set()
        await asyncio.sleep(30)
        return {}

    task = asyncio.ensure_future(
        run(runtime_conn, make_job("slow", slow), demo_tenants(demo, "acme", "globex"))
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_every_line_of_a_run_carries_its_request_id(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    async def quiet(run: JobRun) -> Mapping[str, int]:
        return {}

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        report = await run(runtime_conn, make_job("quiet", quiet), demo_tenants(demo, "acme"))

    # the run's first and last lines too, not only those written while a tenant runs
    assert [e["event"] for e in logs] == ["job.started", "job.tenant_done", "job.finished"]
    assert {e["request_id"] for e in logs} == {f"job-{report.run_id}"}
    assert "request_id" not in structlog.contextvars.get_contextvars()


async def test_a_database_error_is_summarised_without_the_statement(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    async def broken(run: JobRun) -> Mapping[str, int]:
        await run.session.execute(
            text("SELECT * FROM no_such_table WHERE x = :secret"), {"secret": "s3cr3t"}
        )
        return {}

    report = await run(runtime_conn, make_job("broken", broken), demo_tenants(demo, "initech"))

    error = report.results[0].error
    assert error is not None
    assert "no_such_table" in error
    assert "s3cr3t" not in error
    assert "SELECT" not in error


async def test_a_stop_request_finishes_the_tenant_in_progress_and_skips_the_rest(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    import asyncio

    stop = asyncio.Event()
    ran: list[str] = []

    async def first_only(run: JobRun) -> Mapping[str, int]:
        ran.append(run.tenant.slug)
        stop.set()  # as SIGTERM would, while the first tenant runs
        return {"ran": 1}

    report = await run(
        runtime_conn,
        make_job("stop", first_only),
        demo_tenants(demo, "acme", "globex", "initech"),
        stop=stop,
    )

    assert ran == ["acme"]
    assert [r.outcome for r in report.results] == [Outcome.OK, Outcome.SKIPPED, Outcome.SKIPPED]
    assert not report.succeeded


async def test_a_tenant_no_longer_active_when_its_turn_comes_gets_nothing(
    runtime_conn: AsyncConnection, demo: DemoData
) -> None:
    """The tenants are read when the run starts; one suspended or deleted before its turn (a
    run over many tenants takes minutes) must not get reminders or health logs any more. Here
    the run's list names a tenant that is gone, between acme and globex."""
    from repositories.records import TenantRecord

    ran: list[str] = []

    async def writes(run: JobRun) -> Mapping[str, int]:
        ran.append(run.tenant.slug)
        return {"ran": 1}

    gone = TenantRecord(uuid.uuid4(), "gone", "Gone")
    acme, globex = demo_tenants(demo, "acme", "globex")
    report = await run(runtime_conn, make_job("writes", writes), [acme, gone, globex])

    assert ran == ["acme", "globex"]
    assert [r.outcome for r in report.results] == [Outcome.OK, Outcome.INACTIVE, Outcome.OK]
    assert report.results[1].error == "tenant deleted"
    assert report.succeeded  # no failure: there was nothing to do for it


# --- the registry -----------------------------------------------------------------------------


def test_the_registry_knows_the_shipped_jobs_with_their_descriptions() -> None:
    names = [job.name for job in registry]
    assert names == [
        "compliance-due-dates",
        "health-check",
        "overdue-task-reminders",
        "upcoming-booking-reminders",
    ]
    assert all(job.summary and "\n" not in job.summary for job in registry)


def test_the_registry_refuses_duplicates_and_undocumented_jobs() -> None:
    local = JobRegistry()

    @local.job("one")
    async def one(run: JobRun) -> Mapping[str, int]:
        """Does one thing."""
        return {}

    with pytest.raises(ValueError, match="registered already"):
        local.job("one")(one)

    async def undocumented(run: JobRun) -> Mapping[str, int]:
        return {}

    with pytest.raises(ValueError, match="docstring"):
        local.job("two")(undocumented)
    with pytest.raises(UnknownJob, match="known jobs: one"):
        local.get("two")
    assert [job.name for job in local] == ["one"]
    assert local.get("one").description == "Does one thing."

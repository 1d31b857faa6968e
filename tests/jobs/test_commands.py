"""`tenantgraph jobs` as an operator runs it: a real process against a database of its own
(migrated and seeded here), its exit status, its summary and its log lines."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.seed import seed_demo
from tests.conftest import drop_database, fresh_database, migrate_database

ROOT = Path(__file__).resolve().parent.parent.parent
CLI = [sys.executable, "-m", "app.cli"]
# the CLI with one more job registered (tests/jobs/cli_extra.py), in its own process
CLI_WITH_EXTRA = [
    sys.executable,
    "-c",
    "import tests.jobs.cli_extra; from app.cli import main; main()",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def owner_url(admin_url: URL) -> AsyncIterator[URL]:
    name = f"tenantgraph_jobs_cli_{os.getpid()}"
    urls = await fresh_database(admin_url, name)
    await migrate_database(urls)
    engine = create_async_engine(urls.owner, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session, session.begin():
            await seed_demo(session)
    finally:
        await engine.dispose()
    yield urls.owner
    await drop_database(admin_url, name)


@pytest.fixture(scope="module")
def env(owner_url: URL) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TENANTGRAPH_")}
    environment["DATABASE_URL"] = owner_url.render_as_string(hide_password=False)
    # production: JSON log lines, which the tests read
    environment["TENANTGRAPH_ENV"] = "production"
    environment["TENANTGRAPH_SECRET_KEY"] = secrets.token_urlsafe(48)
    environment["COLUMNS"] = "240"  # tables unwrapped, for the assertions
    return environment


def run(env: dict[str, str], *args: str, cli: list[str] = CLI) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def log_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_list_names_every_job_with_its_description(env: dict[str, str]) -> None:
    listed = run(env, "jobs", "list")
    assert listed.returncode == 0, listed.stderr
    for name in (
        "overdue-task-reminders",
        "upcoming-booking-reminders",
        "compliance-due-dates",
        "health-check",
    ):
        assert name in listed.stdout
    assert "Remind members of open tasks past their due time." in listed.stdout


def test_run_for_every_tenant_then_one_then_again(env: dict[str, str]) -> None:
    first = run(env, "jobs", "run", "overdue-task-reminders")
    assert first.returncode == 0, first.stderr
    assert "overdue-task-reminders: 3 tenants, 3 ok, 0 failed, 0 skipped" in first.stdout
    for slug in ("acme", "globex", "initech"):
        assert slug in first.stdout
    done = [e for e in log_lines(first.stderr) if e["event"] == "job.tenant_done"]
    assert sorted(e["tenant_slug"] for e in done) == ["acme", "globex", "initech"]
    assert all(e["job"] == "overdue-task-reminders" and e["tenant_id"] for e in done)
    created = {e["tenant_slug"]: e["created"] for e in done}
    assert created["acme"] > 0
    assert created["acme"] != created["initech"]

    # one tenant, run again: everything was reminded already
    again = run(env, "jobs", "run", "overdue-task-reminders", "--tenant", "acme")
    assert again.returncode == 0, again.stderr
    assert "1 tenant, 1 ok" in again.stdout
    assert "created=0" in again.stdout
    assert "globex" not in again.stdout


def test_a_failing_tenant_makes_the_run_exit_1_and_the_summary_says_so(
    env: dict[str, str],
) -> None:
    result = run(env, "jobs", "run", "fails-for-globex", cli=CLI_WITH_EXTRA)

    assert result.returncode == 1, result.stderr
    assert "fails-for-globex: 3 tenants, 2 ok, 1 failed, 0 skipped" in result.stdout
    assert "globex is broken on purpose" in result.stdout
    failed = [e for e in log_lines(result.stderr) if e["event"] == "job.tenant_failed"]
    assert [(e["tenant_slug"], e["job"]) for e in failed] == [("globex", "fails-for-globex")]
    assert "RuntimeError: globex is broken on purpose" in failed[0]["exception"]
    done = [e["tenant_slug"] for e in log_lines(result.stderr) if e["event"] == "job.tenant_done"]
    assert sorted(done) == ["acme", "initech"]


def test_the_log_format_setting_is_honoured(env: dict[str, str]) -> None:
    # production writes JSON by default; TENANTGRAPH_LOG_FORMAT chooses, as it does for serve
    readable = run(
        {**env, "TENANTGRAPH_LOG_FORMAT": "console"},
        "jobs",
        "run",
        "health-check",
        "--tenant",
        "acme",
    )
    assert readable.returncode == 0, readable.stderr
    assert "job.tenant_done" in readable.stderr
    assert log_lines(readable.stderr) == []
    development = {**env, "TENANTGRAPH_ENV": "development", "TENANTGRAPH_LOG_FORMAT": "json"}
    structured = run(development, "jobs", "run", "health-check", "--tenant", "globex")
    assert structured.returncode == 0, structured.stderr
    done = [e for e in log_lines(structured.stderr) if e["event"] == "job.tenant_done"]
    assert [e["tenant_slug"] for e in done] == ["globex"]


class SentrySink:
    """A local HTTP server standing in for Sentry: keeps every event the SDK sends."""

    def __init__(self) -> None:
        import http.server
        import threading

        events = self.events = []  # type: list[dict[str, Any]]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                lines = body.split(b"\n")
                for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                    if json.loads(header).get("type") == "event":
                        events.append(json.loads(payload))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://public@127.0.0.1:{self.server.server_address[1]}/1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_failing_tenant_reaches_sentry_tagged_with_its_tenant_and_job(
    env: dict[str, str],
) -> None:
    sink = SentrySink()
    try:
        result = run(
            {**env, "SENTRY_DSN": sink.dsn}, "jobs", "run", "fails-for-globex", cli=CLI_WITH_EXTRA
        )
    finally:
        sink.close()
    assert result.returncode == 1, result.stderr
    (failed,) = [e for e in log_lines(result.stderr) if e["event"] == "job.tenant_failed"]
    # one event: globex's failure, tagged with globex, the job and the run; acme and initech
    # ran fine and sent nothing
    (event,) = sink.events
    assert event["tags"] == {
        "tenant_id": failed["tenant_id"],
        "request_id": failed["request_id"],
        "job": "fails-for-globex",
    }
    assert event["exception"]["values"][-1]["value"] == "globex is broken on purpose"
    assert event.get("user") == {}
    assert "server_name" not in event


def test_bad_input_is_refused_clearly(env: dict[str, str]) -> None:
    unknown = run(env, "jobs", "run", "no-such-job")
    assert unknown.returncode == 2
    assert "no job named 'no-such-job'" in unknown.stderr
    assert "health-check" in unknown.stderr
    dsn = run({**env, "SENTRY_DSN": "not-a-dsn"}, "jobs", "run", "health-check")
    assert dsn.returncode == 2
    assert "SENTRY_DSN" in dsn.stderr
    assert "Traceback" not in dsn.stderr
    nowhere = run(env, "jobs", "run", "health-check", "--tenant", "nowhere")
    assert nowhere.returncode == 2
    assert "no active tenant with slug 'nowhere'" in nowhere.stderr


def test_a_database_that_refuses_the_connection_is_a_clear_error(
    env: dict[str, str], owner_url: URL
) -> None:
    # the server answers, but the database (or role) named is not there
    missing = owner_url.set(database="tenantgraph_no_such_database")
    broken = {**env, "DATABASE_URL": missing.render_as_string(hide_password=False)}
    for args in (("run", "health-check"), ("loop", "--interval", "60")):
        result = run(broken, "jobs", *args)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert "cannot reach the database" in result.stderr
        assert "tenantgraph_no_such_database" in result.stderr


async def test_suspended_tenants_are_left_out(env: dict[str, str], owner_url: URL) -> None:
    engine = create_async_engine(owner_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE tenants SET status = 'suspended' WHERE slug = 'initech'")
            )
        result = run(env, "jobs", "run", "health-check")
        suspended = run(env, "jobs", "run", "health-check", "--tenant", "initech")
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE tenants SET status = 'active' WHERE slug = 'initech'"))
        await engine.dispose()
    assert result.returncode == 0, result.stderr
    assert "health-check: 2 tenants, 2 ok" in result.stdout
    assert "initech" not in result.stdout
    assert suspended.returncode == 2


def test_loop_runs_rounds_until_sigterm_and_exits_cleanly(
    env: dict[str, str], tmp_path: Path
) -> None:
    output, errors = tmp_path / "loop.out", tmp_path / "loop.err"
    with output.open("w") as out, errors.open("w") as err:
        proc = subprocess.Popen(
            [*CLI, "jobs", "loop", "--interval", "3600", "--job", "compliance-due-dates"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while "compliance-due-dates: 3 tenants" not in output.read_text():
            assert proc.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, "the first round did not finish"
            time.sleep(0.2)
        # the loop now waits for its next round; SIGTERM ends the wait
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, errors.read_text()
    events = [e["event"] for e in log_lines(errors.read_text())]
    assert "jobs.stopping" in events
    assert events[-1] == "jobs.loop_stopped"
    assert "3 ok, 0 failed" in output.read_text()

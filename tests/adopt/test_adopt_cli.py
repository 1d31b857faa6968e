"""`tenantgraph adopt` as an operator runs it: a real process against a scratch legacy database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from app.adopt.runner import adopt_revision
from tests.adopt.fixtures import load_small_legacy, run_sync, scratch_database

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.slow


def _cli(owner: URL, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTGRAPH_")}
    env["DATABASE_URL"] = owner.render_as_string(hide_password=False)
    env["COLUMNS"] = "160"
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "adopt", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )


async def test_adopt_command(admin_url: URL) -> None:
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)

        bad = _cli(urls.owner, "--orphans", "bin")
        assert bad.returncode == 2
        assert "--orphans" in bad.stderr
        slug = _cli(urls.owner, "--system-tenant", "acme")
        assert slug.returncode == 2
        assert "a legacy tenant is called 'acme'" in slug.stderr

        dry = _cli(urls.owner, "--dry-run", "--orphans", "archive")
        assert dry.returncode == 0, dry.stderr
        assert "Adoption dry run" in dry.stdout
        assert "dave@acme.test →" in dry.stdout
        assert "the database is unchanged" in dry.stdout
        assert await run_sync(urls.owner, adopt_revision) is None

        first = _cli(
            urls.owner, "--backfill-only", "--batch-size", "2", "--system-tenant", "orphanage"
        )
        assert first.returncode == 0, first.stderr
        assert "tasks: 6 with a tenant, 0 without (2 orphans)" in first.stdout
        assert "backfill done" in first.stdout
        assert await run_sync(urls.owner, adopt_revision) == "adopt_0002"

        done = _cli(urls.owner)
        assert done.returncode == 0, done.stderr
        assert "Adoption report" in done.stdout
        assert "counts check: ok" in done.stdout
        assert "orphanage (system)" in done.stdout
        assert "checks passed" in done.stdout  # verify ran at the end
        assert "FAIL" not in done.stdout
        assert "tasks" in first.stderr  # the progress bars

        again = _cli(urls.owner)
        assert again.returncode == 0, again.stderr
        assert "Already adopted" in again.stdout

        undo = _cli(urls.owner, "--rollback")
        assert undo.returncode == 0, undo.stderr
        tables = await run_sync(
            urls.owner,
            lambda c: c.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            ).scalar_one(),
        )
        assert tables == 13  # the legacy tables, back


async def test_rollback_with_another_option_is_refused_and_keeps_the_adoption(
    admin_url: URL,
) -> None:
    """`--rollback --dry-run` reads like "show me what a rollback would do": it must not undo an
    adoption (with every row written since); nor may --rollback quietly ignore other options."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        done = _cli(urls.owner)
        assert done.returncode == 0, done.stderr

        for extra in (
            ("--dry-run",),
            ("--backfill-only",),
            ("--orphans", "archive"),
            ("--system-tenant", "attic"),
            ("--batch-size", "5"),
        ):
            refused = _cli(urls.owner, "--rollback", *extra)
            assert refused.returncode == 2, (extra, refused.stdout, refused.stderr)
            assert "--rollback" in refused.stderr
            assert await run_sync(urls.owner, adopt_revision) == "adopt_0004"

        tasks = await run_sync(
            urls.owner, lambda c: c.execute(text("SELECT count(*) FROM public.tasks")).scalar()
        )
        assert tasks == 6
        # alone, it rolls back
        undone = _cli(urls.owner, "--rollback")
        assert undone.returncode == 0, undone.stderr
        assert await run_sync(urls.owner, adopt_revision) is None


async def test_migrate_refuses_a_legacy_database_adopted_halfway_or_not_at_all(
    admin_url: URL,
) -> None:
    """`tenantgraph migrate` pointed at a legacy database ended in a traceback ("relation tenants
    already exists"); it says what the database is and which command it needs, changing
    nothing."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)

        def migrate() -> subprocess.CompletedProcess[str]:
            env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTGRAPH_")}
            env["DATABASE_URL"] = urls.owner.render_as_string(hide_password=False)
            return subprocess.run(
                [sys.executable, "-m", "app.cli", "migrate"],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                cwd=ROOT,
                check=False,
            )

        legacy = migrate()
        assert legacy.returncode == 2, legacy.stderr
        assert "Traceback" not in legacy.stderr
        assert "tenantgraph adopt" in legacy.stderr

        halfway = _cli(urls.owner, "--backfill-only")
        assert halfway.returncode == 0, halfway.stderr
        refused = migrate()
        assert refused.returncode == 2, refused.stderr
        assert "adoption of this legacy database is under way (revision adopt_0002)" in (
            refused.stderr
        )
        assert await run_sync(urls.owner, adopt_revision) == "adopt_0002"

        done = _cli(urls.owner)
        assert done.returncode == 0, done.stderr
        adopted = migrate()
        assert adopted.returncode == 0, adopted.stderr
        assert "database at revision" in adopted.stdout


def _cli_with(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTGRAPH_")}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "adopt", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


async def test_a_wrong_database_url_is_a_clear_error(admin_url: URL) -> None:
    """A DATABASE_URL that cannot be read, or that names a database or role the server does not
    have: exit 2 with what is wrong — no traceback, and no claim that a step was rolled back."""
    missing_db = admin_url.set(database="tenantgraph_adopt_no_such_database")
    missing_role = admin_url.set(username="tenantgraph_no_such_role", password=None)
    for url, args, expected in (
        ("not a url", (), "a database URL cannot be read"),
        ("not a url", ("--rollback",), "a database URL cannot be read"),
        (missing_db.render_as_string(hide_password=False), (), "cannot connect to the database"),
        (missing_db.render_as_string(hide_password=False), ("--rollback",), "cannot connect"),
        (missing_role.render_as_string(hide_password=False), (), "cannot connect to the database"),
    ):
        result = _cli_with(url, *args)
        assert result.returncode == 2, (url, args, result.stderr)
        assert "Traceback" not in result.stderr
        assert expected in result.stderr, result.stderr
        assert "rolled back" not in result.stderr


async def test_run_again_after_the_product_wrote_rows_is_no_false_alarm(admin_url: URL) -> None:
    """Run again once the product has been writing (here one more task), `tenantgraph adopt`
    says the database is adopted and shows today's counts — without calling them a MISMATCH,
    failing the counts check or exiting 1, as if rows had been lost."""
    async with scratch_database(admin_url) as urls:
        await run_sync(urls.owner, load_small_legacy)
        assert _cli(urls.owner).returncode == 0
        await run_sync(
            urls.owner,
            lambda c: c.execute(
                text(
                    "INSERT INTO public.tasks (tenant_id, title)"
                    " SELECT id, 'Written through the product' FROM public.tenants"
                    " WHERE slug = 'acme'"
                )
            ),
        )

        again = _cli(urls.owner)

        assert again.returncode == 0, again.stdout + again.stderr
        assert "Already adopted" in again.stdout
        assert "MISMATCH" not in again.stdout
        assert "FAILED" not in again.stdout
        assert "counts check: ok when the adoption committed" in again.stdout

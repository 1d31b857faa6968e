"""The real command line against a throwaway embedded server: administer, serve, stop cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "app.cli"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    # Short and inside the project: run as root, the server's wheel opens every parent folder.
    path = ROOT / f".pgdata-cli-{os.getpid()}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def env(data_dir: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TENANTGRAPH_")}
    environment.pop("DATABASE_URL", None)
    environment["TENANTGRAPH_DATA_DIR"] = str(data_dir)
    return environment


def run(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def servers_for(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("name") == "postgres" and any(str(data_dir) in part for part in cmdline):
            found.append(proc)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_administration_commands(env: dict[str, str], data_dir: Path) -> None:
    migrated = run(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout
    first = run(env, "seed", "--demo")
    assert first.returncode == 0, first.stderr
    assert "3 tenants" in first.stdout
    again = run(env, "seed", "--demo")
    assert again.returncode == 0, again.stderr
    assert "0 tenants, 0 users, 0 memberships, 0 services, 0 tasks" in again.stdout

    created = run(env, "tenants", "create", "umbrella", "--name", "Umbrella Corp")
    assert created.returncode == 0, created.stderr
    duplicate = run(env, "tenants", "create", "umbrella", "--name", "Umbrella again")
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    bad_slug = run(env, "tenants", "create", "not_a_slug!", "--name", "x")
    assert bad_slug.returncode == 1
    assert "not a valid slug" in bad_slug.stderr
    reserved = run(env, "tenants", "create", "www", "--name", "x")
    assert reserved.returncode == 1
    assert "reserved" in reserved.stderr
    user = run(env, "users", "create", "eve@umbrella.test", stdin="eve-long-password\n")
    assert user.returncode == 0, user.stderr
    short = run(env, "users", "create", "mallory@umbrella.test", stdin="short\n")
    assert short.returncode == 2
    member = run(
        env, "members", "add", "umbrella", "eve@umbrella.test", "--role", "ADMIN", "--default"
    )
    assert member.returncode == 0, member.stderr
    missing = run(env, "members", "add", "nowhere", "eve@umbrella.test", "--role", "STAFF")
    assert missing.returncode == 1
    assert "no tenant" in missing.stderr

    verified = run(env, "verify")
    assert verified.returncode == 0, verified.stderr
    schema = run(env, "export-schema")
    assert schema.stdout == (ROOT / "schema.graphql").read_text()
    # every command stopped the server it started
    assert servers_for(data_dir) == []


LOGIN = 'mutation { login(email: "%s", password: "%s") { token } }'


def test_serve_answers_and_stops_cleanly(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.3)

        def graphql(host: str, query: str, **headers: str) -> httpx.Response:
            return httpx.post(
                f"{base}/graphql",
                json={"query": query},
                headers={"Host": host, **headers},
                timeout=10,
            )

        counts = {}
        for host, email, password in (
            ("acme.localhost", "alice@acme.test", "demo-password"),
            ("umbrella.localhost", "eve@umbrella.test", "eve-long-password"),
        ):
            response = graphql(host, LOGIN % (email, password))
            token = response.json()["data"]["login"]["token"]
            cookie = response.cookies["tenant_sig"]
            tasks = graphql(
                host,
                "{ tasks { totalCount } }",
                Authorization=f"Bearer {token}",
                Cookie=f"tenant_sig={cookie}",
            )
            counts[host] = tasks.json()["data"]["tasks"]["totalCount"]
        assert counts == {"acme.localhost": 37, "umbrella.localhost": 0}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, log.read_text()
    assert "serving http://localhost" in log.read_text()
    assert servers_for(data_dir) == []
    assert not (data_dir / "pg" / "postmaster.pid").exists()


def test_serve_refuses_an_unmigrated_database(env: dict[str, str]) -> None:
    empty = ROOT / f".pgdata-empty-{os.getpid()}"
    try:
        result = subprocess.run(
            [*CLI, "serve", "--port", str(free_port())],
            env={**env, "TENANTGRAPH_DATA_DIR": str(empty)},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            check=False,
        )
        assert result.returncode == 1
        assert "refusing to serve" in result.stderr
        assert "tenantgraph migrate" in result.stderr
        assert servers_for(empty) == []
    finally:
        shutil.rmtree(empty, ignore_errors=True)


def test_serve_with_a_database_that_refuses_the_connection_is_a_clear_error(
    env: dict[str, str], admin_url: URL
) -> None:
    # the server answers, but the database named is not there
    missing = admin_url.set(database="tenantgraph_no_such_database")
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        env={**env, "DATABASE_URL": missing.render_as_string(hide_password=False)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot reach the database" in result.stderr
    assert "tenantgraph_no_such_database" in result.stderr

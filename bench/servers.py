"""The servers under test, each a process of its own: the API (as the runtime role, or as the
bypass role for baseline b), the floor (a), and PostGraphile (c)."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from bench.db import BENCH_DATA_DIR, ROOT, dsn

POSTGRAPHILE_DIR = ROOT / "bench" / "postgraphile"
LOG_DIR = BENCH_DATA_DIR / "logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    def _status(self, field: str) -> int:
        """A /proc/<pid>/status figure in KiB (the process serving: one uvicorn worker, or
        node)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def rss_kib(self) -> int:
        return self._status("VmRSS")

    def peak_rss_kib(self) -> int:
        return self._status("VmHWM")

    def reset_peak(self) -> None:
        """Start the peak RSS (VmHWM) afresh: `5` in /proc/<pid>/clear_refs (Linux ≥ 4.0)."""
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_listening(server: Server, timeout: float = 60.0) -> Server:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (LOG_DIR / f"{server.name}.log").read_text()[-3000:]
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.name} did not listen on {server.port} within {timeout:.0f} s")


def _spawn(name: str, args: list[str], env: dict[str, str], port: int, cwd: Path = ROOT) -> Server:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = (LOG_DIR / f"{name}.log").open("wb")
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    return _wait_listening(Server(name, port, process))


def _base_env(secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTGRAPH_")}
    env.pop("REDIS_URL", None)  # the in-process cache: one worker, nothing to share
    env.update(
        TENANTGRAPH_ENV="production",
        TENANTGRAPH_SECRET_KEY=secret,
        TENANTGRAPH_BASE_DOMAIN="localhost",
        # the login scenario signs in thousands of times from one address
        TENANTGRAPH_LOGIN_ATTEMPTS_PER_ACCOUNT="100000000",
        TENANTGRAPH_LOGIN_ATTEMPTS_PER_ADDRESS="100000000",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_api(name: str, runtime: URL, secret: str, extra: dict[str, str] | None = None) -> Server:
    """`tenantgraph serve`'s app under uvicorn with one worker (its defaults: uvloop and
    httptools when installed), connected as `runtime`."""
    port = free_port()
    env = _base_env(secret)
    env["TENANTGRAPH_APP_DATABASE_URL"] = runtime.render_as_string(hide_password=False)
    env.update(extra or {})
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--no-server-header",
        "--log-level",
        "warning",
    ]
    return _spawn(name, args, env, port)


def start_floor(runtime: URL, secret: str) -> Server:
    port = free_port()
    env = _base_env(secret)
    env["BENCH_RUNTIME_DSN"] = dsn(runtime)
    return _spawn("floor", [sys.executable, "-m", "bench.floor", "--port", str(port)], env, port)


def postgraphile_problem() -> str | None:
    """Why PostGraphile cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (PostGraphile baseline skipped)"
    if not (POSTGRAPHILE_DIR / "node_modules" / "postgraphile").exists():
        return "bench/postgraphile/node_modules is missing (`make bench` runs `npm ci` there)"
    return None


def start_postgraphile(runtime: URL, jwt_key: bytes, issuer: str, audience: str) -> Server:
    port = free_port()
    query = dict(runtime.query)
    host = query.get("host") or runtime.host or "127.0.0.1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTGRAPH_")}
    env.update(
        BENCH_PORT=str(port),
        BENCH_PG_HOST=str(host),
        BENCH_PG_PORT=str(runtime.port or query.get("port") or 5432),
        BENCH_PG_USER=runtime.username or "",
        BENCH_PG_PASSWORD=runtime.password or "",
        BENCH_PG_DATABASE=runtime.database or "",
        BENCH_POOL_SIZE="10",
        BENCH_JWT_KEY_B64=base64.b64encode(jwt_key).decode(),
        BENCH_JWT_ISSUER=issuer,
        BENCH_JWT_AUDIENCE=audience,
        NODE_ENV="production",
    )
    node = shutil.which("node") or "node"
    return _spawn("postgraphile", [node, "server.js"], env, port, cwd=POSTGRAPHILE_DIR)

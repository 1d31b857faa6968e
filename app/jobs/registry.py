"""The one registry of background jobs: a name, the function, and what it does (its docstring)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.jobs.runner import JobRun

JobFunction = Callable[["JobRun"], Awaitable[Mapping[str, int]]]
"""A job: given one tenant's run (its session, context and clock), do the work in that tenant
and answer counts worth reporting (e.g. `{"found": 4, "created": 1}`)."""


class UnknownJob(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    function: JobFunction
    description: str

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return self.description.splitlines()[0] if self.description else ""


class JobRegistry:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    def job(self, name: str) -> Callable[[JobFunction], JobFunction]:
        """Register the decorated function under `name`; its docstring says what it does."""

        def register(function: JobFunction) -> JobFunction:
            self.add(Job(name, function, _reflow(inspect.cleandoc(function.__doc__ or ""))))
            return function

        return register

    def add(self, job: Job) -> None:
        if not job.description:
            raise ValueError(f"job {job.name!r} needs a docstring saying what it does")
        if job.name in self._jobs:
            raise ValueError(f"a job named {job.name!r} is registered already")
        self._jobs[job.name] = job

    def remove(self, name: str) -> None:
        self._jobs.pop(name, None)

    def get(self, name: str) -> Job:
        try:
            return self._jobs[name]
        except KeyError:
            known = ", ".join(sorted(self._jobs)) or "none"
            raise UnknownJob(f"no job named {name!r} (known jobs: {known})") from None

    def __iter__(self) -> Iterator[Job]:
        return iter(sorted(self._jobs.values(), key=lambda job: job.name))

    def __contains__(self, name: object) -> bool:
        return name in self._jobs


def _reflow(doc: str) -> str:
    """Paragraphs on one line each (the terminal wraps them), separated by a blank line."""
    return "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n") if p.strip())


registry = JobRegistry()
"""Every job the `tenantgraph jobs` commands know (`app.jobs.builtin` registers the shipped
ones)."""

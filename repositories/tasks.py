from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select

from app.errors import BadUserInput, NotFound
from repositories import pagination
from repositories.audit import AuditRepository
from repositories.base import TenantRepository, Values, columns, one_of
from repositories.models import Task
from repositories.pagination import Cursor, Page
from repositories.users import UserRepository

UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class TaskFilter:
    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    assignee_id: uuid.UUID | None = None
    unassigned: bool | None = None
    overdue: bool | None = None
    search: str | None = None


_EDITABLE = ("title", "description", "status", "priority", "due_at", "assignee_id")


class TaskRepository(TenantRepository):
    """Tasks of the context tenant. A CLIENT sees only the tasks it created."""

    def _visible(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [Task.tenant_id == self.tenant_id]
        if self.is_client:
            conditions.append(Task.created_by_id == self.user_id)
        return conditions

    def _filtered(self, flt: TaskFilter) -> list[ColumnElement[bool]]:
        conditions = self._visible()
        if flt.statuses:
            conditions.append(Task.status.in_(flt.statuses))
        if flt.priorities:
            conditions.append(Task.priority.in_(flt.priorities))
        if flt.assignee_id is not None:
            conditions.append(Task.assignee_id == flt.assignee_id)
        if flt.unassigned is not None:
            conditions.append(
                Task.assignee_id.is_(None) if flt.unassigned else Task.assignee_id.is_not(None)
            )
        if flt.overdue is not None:
            # never NULL (a task without a due date is simply not late), so NOT is exact
            late = and_(Task.due_at.is_not(None), Task.due_at < func.now(), Task.status != "DONE")
            conditions.append(late if flt.overdue else ~late)
        if flt.search:
            escaped = flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(Task.title.ilike(f"%{escaped}%", escape="\\"))
        return conditions

    async def get(self, *, id: uuid.UUID) -> Task | None:
        """One visible task, or None (another tenant's task is simply not there)."""
        result = await self._execute(select(Task).where(Task.id == id, *self._visible()))
        return result.scalar_one_or_none()

    async def get_many(self, *, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Task]:
        """The visible tasks among `ids`; the others are simply absent."""
        if not ids:
            return {}
        result = await self._execute(select(Task).where(one_of(Task.id, ids), *self._visible()))
        return {task.id: task for task in result.scalars()}

    async def list(
        self, *, first: int, after: Cursor | None = None, flt: TaskFilter = TaskFilter()
    ) -> Page[Values]:
        """A page of visible tasks (their values), newest first, after the cursor."""
        conditions = self._filtered(flt)
        if after is not None:
            conditions.append(pagination.after(Task.created_at, Task.id, after, descending=True))
        result = await self._execute(
            select(*columns(Task))
            .where(*conditions)
            .order_by(*pagination.order(Task.created_at, Task.id, descending=True))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.all()), first)

    async def count(self, *, flt: TaskFilter = TaskFilter()) -> int:
        """How many visible tasks match the filter."""
        result = await self._execute(
            select(func.count()).select_from(Task).where(*self._filtered(flt))
        )
        return int(result.scalar_one())

    async def _check_assignee(self, assignee_id: uuid.UUID | None) -> None:
        if assignee_id is None:
            return
        if not await UserRepository(self.session, self.ctx).is_active_member(user_id=assignee_id):
            raise BadUserInput("The assignee is not an active member of this organization")

    async def create(
        self,
        *,
        title: str,
        description: str | None = None,
        priority: str = "MEDIUM",
        due_at: datetime | None = None,
        assignee_id: uuid.UUID | None = None,
        service_id: uuid.UUID | None = None,
        source: dict[str, str] | None = None,
    ) -> Task:
        """A new task in the context tenant, created by the context user; audited (`source`
        says where it came from, e.g. a template or a service request)."""
        await self._check_assignee(assignee_id)
        task = Task(
            tenant_id=self.tenant_id,
            id=uuid.uuid4(),
            title=title,
            description=description,
            priority=priority,
            status="TODO",
            due_at=due_at,
            assignee_id=assignee_id,
            created_by_id=self.user_id,
            service_id=service_id,
        )
        self.session.add(task)
        await self._flush()
        await self._refresh(task)
        await AuditRepository(self.session, self.ctx).record(
            action="task.create",
            target_type="task",
            target_id=task.id,
            changes={
                "title": title,
                "priority": priority,
                "assignee_id": _str(assignee_id),
                **(source or {}),
            },
        )
        return task

    async def update(self, *, id: uuid.UUID, changes: dict[str, Any]) -> Task:
        """Apply `changes` to a visible task; NOT_FOUND otherwise; audited with before/after."""
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise BadUserInput(f"Cannot change {', '.join(sorted(unknown))}")
        task = await self.get(id=id)
        if task is None:
            raise NotFound("Task not found")
        if "assignee_id" in changes and changes["assignee_id"] != task.assignee_id:
            await self._check_assignee(changes["assignee_id"])
        diff = {
            key: {"from": _str(getattr(task, key)), "to": _str(value)}
            for key, value in changes.items()
            if getattr(task, key) != value
        }
        for key, value in changes.items():
            setattr(task, key, value)
        if diff:
            task.updated_at = func.now()
        await self._flush()
        await self._refresh(task)
        if diff:  # nothing changed, nothing to audit
            await AuditRepository(self.session, self.ctx).record(
                action="task.update", target_type="task", target_id=task.id, changes=diff
            )
        return task

    async def delete(self, *, id: uuid.UUID) -> None:
        """Delete a visible task; NOT_FOUND otherwise; audited."""
        task = await self.get(id=id)
        if task is None:
            raise NotFound("Task not found")
        await self._delete(task)
        await self._flush()
        await AuditRepository(self.session, self.ctx).record(
            action="task.delete", target_type="task", target_id=id, changes={"title": task.title}
        )

    async def _lock_all(self, ids: Sequence[uuid.UUID]) -> Sequence[Task]:
        """Every task of `ids`, locked for the change, in the order given; NOT_FOUND (naming
        none of them) unless each one is visible."""
        wanted = list(dict.fromkeys(ids))
        result = await self._execute(
            select(Task)
            .where(Task.id.in_(wanted), *self._visible())
            .order_by(Task.id)
            .with_for_update()
        )
        found = {task.id: task for task in result.scalars()}
        if len(found) != len(wanted):
            raise NotFound("One or more of the tasks were not found")
        return [found[task_id] for task_id in wanted]

    async def update_many(
        self, *, ids: Sequence[uuid.UUID], changes: dict[str, Any]
    ) -> Sequence[Task]:
        """Apply the same `changes` to every task of `ids`, all or nothing: NOT_FOUND unless
        each one is visible. One audit row per task that changed."""
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise BadUserInput(f"Cannot change {', '.join(sorted(unknown))}")
        tasks = await self._lock_all(ids)
        if "assignee_id" in changes:
            await self._check_assignee(changes["assignee_id"])
        audit = AuditRepository(self.session, self.ctx)
        diffs: list[tuple[uuid.UUID, dict[str, Any]]] = []
        for task in tasks:
            diff = {
                key: {"from": _str(getattr(task, key)), "to": _str(value)}
                for key, value in changes.items()
                if getattr(task, key) != value
            }
            if not diff:
                continue
            for key, value in changes.items():
                setattr(task, key, value)
            task.updated_at = func.now()
            diffs.append((task.id, diff))
        await self._flush()
        for task_id, diff in diffs:
            await audit.record(
                action="task.update", target_type="task", target_id=task_id, changes=diff
            )
        result = await self._execute(
            select(Task)
            .where(Task.id.in_([task.id for task in tasks]), *self._visible())
            .execution_options(populate_existing=True)
        )
        fresh = {task.id: task for task in result.scalars()}
        return [fresh[task.id] for task in tasks]

    async def delete_many(self, *, ids: Sequence[uuid.UUID]) -> int:
        """Delete every task of `ids`, all or nothing: NOT_FOUND unless each one is visible.
        One audit row per task; how many were deleted."""
        tasks = await self._lock_all(ids)
        for task in tasks:
            await self._delete(task)
        await self._flush()
        audit = AuditRepository(self.session, self.ctx)
        for task in tasks:
            await audit.record(
                action="task.delete",
                target_type="task",
                target_id=task.id,
                changes={"title": task.title, "bulk": True},
            )
        return len(tasks)


def _str(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return value

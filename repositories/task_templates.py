"""Task templates: named blueprints a tenant's staff turn into tasks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select

from app.errors import BadUserInput, Conflict, NotFound
from repositories import pagination
from repositories.audit import AuditRepository
from repositories.base import TenantRepository
from repositories.models import Task, TaskTemplate
from repositories.pagination import Cursor, Page
from repositories.tasks import TaskRepository

_EDITABLE = ("name", "title", "description", "priority", "due_in_days")


class TaskTemplateRepository(TenantRepository):
    """Task templates of the context tenant."""

    def _visible(self) -> list[ColumnElement[bool]]:
        return [TaskTemplate.tenant_id == self.tenant_id]

    async def get(self, *, id: uuid.UUID) -> TaskTemplate | None:
        """One template of the context tenant, or None."""
        result = await self._execute(
            select(TaskTemplate).where(TaskTemplate.id == id, *self._visible())
        )
        return result.scalar_one_or_none()

    async def list(self, *, first: int, after: Cursor | None = None) -> Page[TaskTemplate]:
        """A page of templates, newest first, after the cursor."""
        t = TaskTemplate
        conditions = self._visible()
        if after is not None:
            conditions.append(pagination.after(t.created_at, t.id, after, descending=True))
        result = await self._execute(
            select(t)
            .where(*conditions)
            .order_by(*pagination.order(t.created_at, t.id, descending=True))
            .limit(first + 1)
        )
        return pagination.page_of(list(result.scalars()), first)

    async def count(self) -> int:
        """How many templates the context tenant has."""
        result = await self._execute(
            select(func.count()).select_from(TaskTemplate).where(*self._visible())
        )
        return int(result.scalar_one())

    async def _check_name(self, name: str, *, other_than: uuid.UUID | None = None) -> None:
        conditions = [*self._visible(), TaskTemplate.name == name]
        if other_than is not None:
            conditions.append(TaskTemplate.id != other_than)
        found = await self._execute(select(TaskTemplate.id).where(*conditions))
        if found.first() is not None:
            raise Conflict("A task template with this name already exists")

    async def create(
        self,
        *,
        name: str,
        title: str,
        description: str | None = None,
        priority: str = "MEDIUM",
        due_in_days: int | None = None,
    ) -> TaskTemplate:
        """A new template in the context tenant; CONFLICT when the name is taken; audited."""
        await self._check_name(name)
        template = TaskTemplate(
            tenant_id=self.tenant_id,
            id=uuid.uuid4(),
            name=name,
            title=title,
            description=description,
            priority=priority,
            due_in_days=due_in_days,
        )
        self.session.add(template)
        await self._flush()
        await self._refresh(template)
        await AuditRepository(self.session, self.ctx).record(
            action="task_template.create",
            target_type="task_template",
            target_id=template.id,
            changes={"name": name, "title": title, "priority": priority},
        )
        return template

    async def update(self, *, id: uuid.UUID, changes: dict[str, Any]) -> TaskTemplate:
        """Apply `changes` to a template; NOT_FOUND otherwise; audited with before/after."""
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise BadUserInput(f"Cannot change {', '.join(sorted(unknown))}")
        template = await self.get(id=id)
        if template is None:
            raise NotFound("Task template not found")
        if "name" in changes and changes["name"] != template.name:
            await self._check_name(changes["name"], other_than=template.id)
        diff = {
            key: {"from": getattr(template, key), "to": value}
            for key, value in changes.items()
            if getattr(template, key) != value
        }
        for key, value in changes.items():
            setattr(template, key, value)
        await self._flush()
        await self._refresh(template)
        await AuditRepository(self.session, self.ctx).record(
            action="task_template.update",
            target_type="task_template",
            target_id=template.id,
            changes=diff,
        )
        return template

    async def delete(self, *, id: uuid.UUID) -> None:
        """Delete a template (tasks made from it stay); NOT_FOUND otherwise; audited."""
        template = await self.get(id=id)
        if template is None:
            raise NotFound("Task template not found")
        await self._delete(template)
        await self._flush()
        await AuditRepository(self.session, self.ctx).record(
            action="task_template.delete",
            target_type="task_template",
            target_id=id,
            changes={"name": template.name},
        )

    async def create_task(
        self,
        *,
        template_id: uuid.UUID,
        assignee_id: uuid.UUID | None = None,
        due_at: datetime | None = None,
    ) -> Task:
        """A new task from a template: its title, description and priority; due `due_at`, else
        `due_in_days` from now (else never). NOT_FOUND for an unknown template; audited."""
        template = await self.get(id=template_id)
        if template is None:
            raise NotFound("Task template not found")
        if due_at is None and template.due_in_days is not None:
            due_at = datetime.now(UTC) + timedelta(days=template.due_in_days)
        return await TaskRepository(self.session, self.ctx).create(
            title=template.title,
            description=template.description,
            priority=template.priority,
            due_at=due_at,
            assignee_id=assignee_id,
            source={"template_id": str(template.id)},
        )

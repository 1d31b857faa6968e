"""Audit the one write an anonymous visitor can make.

The public path may insert a NEW service request into the host's tenant; with this policy it may
also append the matching audit row there, and nothing else: no actor, that one action, the host's
tenant only. It still reads nothing back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLIC_TENANT = "(SELECT NULLIF(current_setting('app.public_tenant_id', true), '')::uuid)"


def upgrade() -> None:
    op.execute(
        "CREATE POLICY audit_logs_public_submit ON audit_logs FOR INSERT "
        f"WITH CHECK (tenant_id = {PUBLIC_TENANT} AND actor_id IS NULL "
        "AND action = 'service_request.submit_public' AND target_type = 'service_request')"
    )


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS audit_logs_public_submit ON audit_logs")

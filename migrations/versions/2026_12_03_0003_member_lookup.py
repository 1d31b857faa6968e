"""A narrow lookup for adding an existing user to a tenant by email.

Users are visible to the runtime role only as themselves or as members of the current tenant, so
an admin adding someone new cannot read the row. This SECURITY DEFINER function answers one
question — the id of the account with this email — and only to a caller whose current tenant
is set (the repository also checks the caller is that tenant's ADMIN). Platform super-admin
accounts are never answered: a tenant cannot pull one in as a member.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    role = '"' + context.config.attributes.get("app_role", "tenantgraph_app") + '"'
    op.execute("""
        CREATE FUNCTION tenantgraph_user_id_by_email(p_email text)
        RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT u.id FROM public.users u
             WHERE lower(u.email) = lower(p_email)
               AND NOT u.is_superadmin
               AND NULLIF(current_setting('app.current_tenant_id', true), '') IS NOT NULL
        $$""")
    op.execute("REVOKE ALL ON FUNCTION tenantgraph_user_id_by_email(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION tenantgraph_user_id_by_email(text) TO {role}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tenantgraph_user_id_by_email(text)")

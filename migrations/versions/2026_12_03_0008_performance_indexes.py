"""Performance: the request's first statement also checks the session; indexes for analytics.

- `tenantgraph_begin(...)` binds the transaction to a context (the same transaction-local
  `set_config(..., true)` calls as before) and then, when there is a user, reads what its token
  depends on (token version, membership, role, tenant status): one round trip instead of two.
  It is plpgsql and SECURITY INVOKER on purpose. plpgsql runs its statements in order, each
  planned and executed on its own, so the check runs strictly after the settings are applied and
  reads the users, memberships and tenants through the runtime role's own row-level security
  with the new context, exactly like the separate statement it replaces. (In one plain
  `SELECT set_config(...), (SELECT ...)` the order in which PostgreSQL evaluates the target list
  and the policies' sub-selects is not something to rely on.) There is no SET clause on the
  function: one would confine the settings to the function call.
- Indexes that lead with `tenant_id` for the analytics of a large tenant: tasks completed in a
  period (DONE by `updated_at`, holding `created_at` for the median time to done) and open tasks
  by due date (overdue). Partial: each holds only the rows its figure reads.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEGIN = "tenantgraph_begin(text, text, text, text, text)"


def upgrade() -> None:
    role = '"' + context.config.attributes.get("app_role", "tenantgraph_app") + '"'
    op.execute("""
        CREATE FUNCTION tenantgraph_begin(
            p_tenant_id text, p_user_id text, p_is_superadmin text, p_public_tenant_id text,
            p_statement_timeout text)
        RETURNS TABLE (token_version integer, role text, membership_status text,
                       tenant_status text)
        LANGUAGE plpgsql VOLATILE SECURITY INVOKER
        AS $$
        #variable_conflict use_column
        BEGIN
            PERFORM pg_catalog.set_config('app.current_tenant_id', p_tenant_id, true),
                    pg_catalog.set_config('app.current_user_id', p_user_id, true),
                    pg_catalog.set_config('app.is_superadmin', p_is_superadmin, true),
                    pg_catalog.set_config('app.public_tenant_id', p_public_tenant_id, true),
                    pg_catalog.set_config('statement_timeout', p_statement_timeout, true);
            IF p_user_id <> '' THEN
                -- runs after the PERFORM above has returned: under the new context's RLS
                RETURN QUERY
                SELECT u.token_version, m.role::text, m.status::text,
                       (SELECT t.status::text FROM public.tenants t
                         WHERE t.id = NULLIF(p_tenant_id, '')::uuid)
                  FROM public.users u
                  LEFT JOIN public.tenant_memberships m
                    ON m.user_id = u.id AND m.tenant_id = NULLIF(p_tenant_id, '')::uuid
                 WHERE u.id = p_user_id::uuid;
            END IF;
        END
        $$""")
    op.execute(f"REVOKE ALL ON FUNCTION {BEGIN} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {BEGIN} TO {role}")
    op.execute(
        "CREATE INDEX ix_tasks_completed ON tasks (tenant_id, updated_at) INCLUDE (created_at)"
        " WHERE status = 'DONE'"
    )
    op.execute("CREATE INDEX ix_tasks_open_due ON tasks (tenant_id, due_at) WHERE status <> 'DONE'")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_tasks_open_due")
    op.execute("DROP INDEX IF EXISTS ix_tasks_completed")
    op.execute(f"DROP FUNCTION IF EXISTS {BEGIN}")

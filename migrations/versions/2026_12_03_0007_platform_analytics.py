"""Platform analytics for super-admins: the one path that crosses tenants.

The runtime role can never read another tenant's rows: every tenant table forces RLS and the
role bypasses nothing. The platform dashboard is the single, deliberate exception, and it is
built so that no request code can widen it:

- Only the platform role (`<runtime role>_platform`, created beside the runtime role: LOGIN,
  NOSUPERUSER, NOBYPASSRLS, owns nothing, holds no table privilege) may execute the two
  functions below. The runtime role may not, and is not a member of it: SQL run on a request's
  connection — whatever settings it forges — cannot reach them. The API opens a connection of
  the platform role only for a verified super-admin's platform session.

- `tenantgraph_platform_analytics(from, to, request_id)` is SECURITY DEFINER, owned by the
  schema owner (whose maintenance policies see every row), with a pinned search_path and
  schema-qualified names. It returns aggregates only — counts and sums per tenant — never a row
  of tenant data.
- It decides for itself who may call it: the transaction's user (`app.current_user_id`) must be
  a super-admin in `users` *and* the transaction must be a platform session
  (`app.is_superadmin`, no `app.current_tenant_id`). Anyone else gets SQLSTATE 42501.
- It writes the audit row itself, in `platform_audit_logs`, naming the super-admin, before it
  answers: a caller cannot skip the audit.
- `tenantgraph_platform_audit(action, request_id)` records the platform session's own events
  (sign-in, sign-out) under the same super-admin check.
- `platform_audit_logs` is append-only, global (it belongs to no tenant) and not readable by the
  runtime role at all.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The super-admin check shared by both functions: a platform session of a user who is a
# super-admin now (not when the token was issued).
_CALLER = """
            v_user uuid := NULLIF(current_setting('app.current_user_id', true), '')::uuid;
        BEGIN
            IF v_user IS NULL
               OR current_setting('app.is_superadmin', true) IS DISTINCT FROM 'true'
               OR NULLIF(current_setting('app.current_tenant_id', true), '') IS NOT NULL
               OR NOT EXISTS (
                   SELECT 1 FROM public.users u WHERE u.id = v_user AND u.is_superadmin)
            THEN
                RAISE EXCEPTION 'platform access needs a super-admin platform session'
                    USING ERRCODE = '42501';
            END IF;
"""


def _platform_role() -> str:
    runtime = context.config.attributes.get("app_role", "tenantgraph_app")
    return f'"{runtime}_platform"'


def upgrade() -> None:
    role = _platform_role()
    op.execute("""
        CREATE TABLE platform_audit_logs (
            id bigint GENERATED ALWAYS AS IDENTITY,
            actor_user_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
            action text NOT NULL,
            request_id text,
            details jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_platform_audit_logs PRIMARY KEY (id),
            CONSTRAINT ck_platform_audit_logs_action CHECK (length(action) BETWEEN 1 AND 100)
        )""")
    op.execute(
        "CREATE INDEX ix_platform_audit_logs_actor ON platform_audit_logs (actor_user_id, created_at)"
    )
    # Nobody but the owner touches it directly; the platform role writes it only through the two
    # functions below and reads nothing.
    op.execute("REVOKE ALL ON platform_audit_logs FROM PUBLIC")

    op.execute(f"""
        CREATE FUNCTION tenantgraph_platform_audit(p_action text, p_request_id text)
        RETURNS void
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE{_CALLER}
            IF p_action NOT IN ('platform.login', 'platform.logout', 'platform.revoke_all_sessions')
            THEN
                RAISE EXCEPTION 'unknown platform action' USING ERRCODE = '22023';
            END IF;
            INSERT INTO public.platform_audit_logs (actor_user_id, action, request_id)
            VALUES (v_user, p_action, left(p_request_id, 100));
        END
        $$""")

    op.execute(f"""
        CREATE FUNCTION tenantgraph_platform_analytics(
            p_from timestamptz, p_to timestamptz, p_request_id text)
        RETURNS TABLE (
            tenant_id uuid,
            slug text,
            name text,
            status text,
            created_at timestamptz,
            members_active bigint,
            tasks_total bigint,
            tasks_open bigint,
            tasks_overdue bigint,
            tasks_created bigint,
            tasks_completed bigint,
            bookings bigint,
            revenue_cents bigint,
            service_requests bigint,
            service_requests_converted bigint,
            compliance_overdue bigint
        )
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE{_CALLER}
            IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
                RAISE EXCEPTION 'the period must end after it starts' USING ERRCODE = '22023';
            END IF;
            INSERT INTO public.platform_audit_logs (actor_user_id, action, request_id, details)
            VALUES (v_user, 'platform.analytics', left(p_request_id, 100),
                    jsonb_build_object('from', p_from, 'to', p_to));
            RETURN QUERY
            WITH m AS (
                SELECT x.tenant_id, count(*) AS n FROM public.tenant_memberships x
                 WHERE x.status = 'active' GROUP BY x.tenant_id
            ), t AS (
                SELECT x.tenant_id,
                       count(*) AS total,
                       count(*) FILTER (WHERE x.status <> 'DONE') AS open,
                       count(*) FILTER (WHERE x.status <> 'DONE' AND x.due_at < now()) AS overdue,
                       count(*) FILTER (WHERE x.created_at >= p_from AND x.created_at < p_to)
                           AS created,
                       count(*) FILTER (WHERE x.status = 'DONE'
                                          AND x.updated_at >= p_from AND x.updated_at < p_to)
                           AS completed
                  FROM public.tasks x GROUP BY x.tenant_id
            ), b AS (
                SELECT x.tenant_id, count(*) AS n,
                       coalesce(sum(s.price_cents) FILTER (
                           WHERE x.status IN ('CONFIRMED', 'COMPLETED')), 0) AS revenue
                  FROM public.bookings x
                  JOIN public.services s ON s.tenant_id = x.tenant_id AND s.id = x.service_id
                 WHERE x.starts_at >= p_from AND x.starts_at < p_to
                 GROUP BY x.tenant_id
            ), r AS (
                SELECT x.tenant_id, count(*) AS n,
                       count(*) FILTER (WHERE x.task_id IS NOT NULL) AS converted
                  FROM public.service_requests x
                 WHERE x.created_at >= p_from AND x.created_at < p_to
                 GROUP BY x.tenant_id
            ), c AS (
                SELECT x.tenant_id, count(*) AS overdue FROM public.compliance_records x
                 WHERE x.status IN ('PENDING', 'NON_COMPLIANT') AND x.due_at < now()
                 GROUP BY x.tenant_id
            )
            SELECT tn.id, tn.slug, tn.name, tn.status, tn.created_at,
                   coalesce(m.n, 0), coalesce(t.total, 0), coalesce(t.open, 0),
                   coalesce(t.overdue, 0), coalesce(t.created, 0), coalesce(t.completed, 0),
                   coalesce(b.n, 0), coalesce(b.revenue, 0)::bigint,
                   coalesce(r.n, 0), coalesce(r.converted, 0), coalesce(c.overdue, 0)
              FROM public.tenants tn
              LEFT JOIN m ON m.tenant_id = tn.id
              LEFT JOIN t ON t.tenant_id = tn.id
              LEFT JOIN b ON b.tenant_id = tn.id
              LEFT JOIN r ON r.tenant_id = tn.id
              LEFT JOIN c ON c.tenant_id = tn.id
             ORDER BY tn.slug;
        END
        $$""")
    for fn in (
        "tenantgraph_platform_audit(text, text)",
        "tenantgraph_platform_analytics(timestamptz, timestamptz, text)",
    ):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {role}")


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS tenantgraph_platform_analytics(timestamptz, timestamptz, text)"
    )
    op.execute("DROP FUNCTION IF EXISTS tenantgraph_platform_audit(text, text)")
    op.execute("DROP TABLE IF EXISTS platform_audit_logs")

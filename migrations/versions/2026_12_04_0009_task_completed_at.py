"""When a task was completed: `tasks.completed_at`, kept by the database.

Analytics took a DONE task's last change (`updated_at`) for its completion, so fixing the title
of a task done last month, reassigning it or changing its priority in bulk moved it to today's
completions and stretched its time to done. `completed_at` is the instant the task last became
DONE, and NULL while it is not:

- a trigger keeps it, whatever writes the row (the API, the seed, a COPY, an operator): a task
  that becomes DONE is completed now, one inserted as DONE when it was last changed, one that
  stays DONE keeps its completion, one that leaves DONE loses it; a value written explicitly
  along with the change is kept (data repairs, tests);
- a CHECK says the same, as a second wall: DONE exactly when `completed_at` is set;
- existing DONE tasks take `updated_at` (the best that is known of them);
- `ix_tasks_completed` and the platform function read `completed_at`.

The platform function also counts a service request as converted by its status (CONVERTED is
final and only a conversion sets it), not only by its link to a task: deleting the task clears
the link, and the request was converted all the same.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATFORM_ANALYTICS = "tenantgraph_platform_analytics(timestamptz, timestamptz, text)"

# revision 0007's function, with what completes a task and converts a request as parameters
_PLATFORM_FUNCTION = """
    CREATE OR REPLACE FUNCTION tenantgraph_platform_analytics(
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
    DECLARE
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
                                      AND x.{completion} >= p_from AND x.{completion} < p_to)
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
                   count(*) FILTER (WHERE {converted}) AS converted
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
    $$"""


def upgrade() -> None:
    op.execute("ALTER TABLE tasks ADD COLUMN completed_at timestamptz")
    op.execute("UPDATE tasks SET completed_at = updated_at WHERE status = 'DONE'")
    op.execute("""
        CREATE FUNCTION tenantgraph_task_completed_at() RETURNS trigger
        LANGUAGE plpgsql
        SET search_path = pg_catalog, pg_temp
        AS $$
        BEGIN
            IF NEW.status <> 'DONE' THEN
                NEW.completed_at := NULL;
            ELSIF TG_OP = 'INSERT' THEN
                NEW.completed_at := coalesce(NEW.completed_at, NEW.updated_at);
            ELSIF OLD.status <> 'DONE' THEN
                NEW.completed_at := coalesce(NEW.completed_at, now());
            ELSIF NEW.completed_at IS NULL THEN
                NEW.completed_at := OLD.completed_at;
            END IF;
            RETURN NEW;
        END
        $$""")
    op.execute(
        "CREATE TRIGGER tasks_completed_at BEFORE INSERT OR UPDATE ON tasks"
        " FOR EACH ROW EXECUTE FUNCTION tenantgraph_task_completed_at()"
    )
    op.execute(
        "ALTER TABLE tasks ADD CONSTRAINT ck_tasks_completed_at"
        " CHECK ((status = 'DONE') = (completed_at IS NOT NULL))"
    )
    op.execute("DROP INDEX ix_tasks_completed")
    op.execute(
        "CREATE INDEX ix_tasks_completed ON tasks (tenant_id, completed_at) INCLUDE (created_at)"
        " WHERE status = 'DONE'"
    )
    op.execute(
        _PLATFORM_FUNCTION.replace("{completion}", "completed_at").replace(
            "{converted}", "x.status = 'CONVERTED' OR x.task_id IS NOT NULL"
        )
    )


def downgrade() -> None:
    op.execute(
        _PLATFORM_FUNCTION.replace("{completion}", "updated_at").replace(
            "{converted}", "x.task_id IS NOT NULL"
        )
    )
    op.execute("DROP INDEX IF EXISTS ix_tasks_completed")
    op.execute(
        "CREATE INDEX ix_tasks_completed ON tasks (tenant_id, updated_at) INCLUDE (created_at)"
        " WHERE status = 'DONE'"
    )
    op.execute("DROP TRIGGER IF EXISTS tasks_completed_at ON tasks")
    op.execute("DROP FUNCTION IF EXISTS tenantgraph_task_completed_at()")
    op.execute("ALTER TABLE tasks DROP COLUMN completed_at")

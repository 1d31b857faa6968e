"""Tenants, users, memberships, services, tasks and audit logs, behind row-level security.

Every tenant-owned table: `tenant_id` leads the primary key and every unique key and index;
references to another tenant-owned row are composite `(tenant_id, x_id)` foreign keys, so a row
can never point across tenants; RLS is enabled *and forced* with a policy that reads the tenant
from the transaction-local `app.current_tenant_id` inside a sub-select (evaluated once per
statement; an unset or reset setting reads as NULL and matches no row).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "(SELECT NULLIF(current_setting('app.current_tenant_id', true), '')::uuid)"
USER = "(SELECT NULLIF(current_setting('app.current_user_id', true), '')::uuid)"


def _app_role() -> str:
    return '"' + context.config.attributes.get("app_role", "tenantgraph_app") + '"'


def _protect(table: str, *, using: str, check: str | None = None) -> None:
    """Enable and force RLS; one policy for everyone, one for the schema owner (maintenance)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {table}_isolation ON {table} USING ({using}) WITH CHECK ({check or using})"
    )
    # The owner runs migrations and the operator CLI; the runtime role never connects as it
    # (`serve` refuses to start if it does), so this policy is not reachable from a request.
    op.execute(
        f"CREATE POLICY {table}_owner_maintenance ON {table} TO CURRENT_ROLE "
        "USING (true) WITH CHECK (true)"
    )


def upgrade() -> None:
    role = _app_role()
    op.execute("""
        CREATE TABLE tenants (
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            slug text NOT NULL,
            name text NOT NULL,
            status text NOT NULL DEFAULT 'active',
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_tenants PRIMARY KEY (id),
            CONSTRAINT uq_tenants_slug UNIQUE (slug),
            CONSTRAINT ck_tenants_slug CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
            CONSTRAINT ck_tenants_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
            CONSTRAINT ck_tenants_status CHECK (status IN ('active', 'suspended'))
        )""")
    op.execute("""
        CREATE TABLE tenant_domains (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            domain text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_tenant_domains PRIMARY KEY (tenant_id, domain),
            CONSTRAINT uq_tenant_domains_domain UNIQUE (domain),
            CONSTRAINT ck_tenant_domains_lowercase CHECK (domain = lower(domain))
        )""")
    op.execute("""
        CREATE TABLE users (
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            email text NOT NULL,
            password_hash text,
            token_version integer NOT NULL DEFAULT 1,
            is_superadmin boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_users PRIMARY KEY (id),
            CONSTRAINT ck_users_email CHECK (email ~ '^[^@\\s]+@[^@\\s]+$' AND length(email) <= 320)
        )""")
    op.execute("CREATE UNIQUE INDEX uq_users_email_lower ON users (lower(email))")
    op.execute("""
        CREATE TABLE tenant_memberships (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role text NOT NULL,
            is_default boolean NOT NULL DEFAULT false,
            status text NOT NULL DEFAULT 'active',
            display_name text,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_tenant_memberships PRIMARY KEY (tenant_id, user_id),
            CONSTRAINT ck_tenant_memberships_role CHECK (role IN ('ADMIN', 'STAFF', 'CLIENT')),
            CONSTRAINT ck_tenant_memberships_status CHECK (status IN ('active', 'suspended'))
        )""")
    op.execute("CREATE INDEX ix_tenant_memberships_user_id ON tenant_memberships (user_id)")
    op.execute(
        "CREATE UNIQUE INDEX uq_tenant_memberships_one_default ON tenant_memberships (user_id) "
        "WHERE is_default"
    )
    op.execute("""
        CREATE TABLE services (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            slug text NOT NULL,
            name text NOT NULL,
            description text,
            price_cents integer NOT NULL DEFAULT 0,
            duration_minutes integer NOT NULL DEFAULT 60,
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_services PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_services_tenant_id_slug UNIQUE (tenant_id, slug),
            CONSTRAINT ck_services_price CHECK (price_cents >= 0),
            CONSTRAINT ck_services_duration CHECK (duration_minutes > 0)
        )""")
    op.execute("""
        CREATE TABLE tasks (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            title text NOT NULL,
            description text,
            status text NOT NULL DEFAULT 'TODO',
            priority text NOT NULL DEFAULT 'MEDIUM',
            due_at timestamptz,
            assignee_id uuid,
            created_by_id uuid,
            service_id uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_tasks PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_tasks_assignee FOREIGN KEY (tenant_id, assignee_id)
                REFERENCES tenant_memberships (tenant_id, user_id) ON DELETE SET NULL (assignee_id),
            CONSTRAINT fk_tasks_created_by FOREIGN KEY (tenant_id, created_by_id)
                REFERENCES tenant_memberships (tenant_id, user_id) ON DELETE SET NULL (created_by_id),
            CONSTRAINT fk_tasks_service FOREIGN KEY (tenant_id, service_id)
                REFERENCES services (tenant_id, id) ON DELETE SET NULL (service_id),
            CONSTRAINT ck_tasks_title CHECK (length(btrim(title)) BETWEEN 1 AND 200),
            CONSTRAINT ck_tasks_status CHECK (status IN ('TODO', 'IN_PROGRESS', 'BLOCKED', 'DONE')),
            CONSTRAINT ck_tasks_priority CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT'))
        )""")
    op.execute("CREATE INDEX ix_tasks_page ON tasks (tenant_id, created_at DESC, id DESC)")
    op.execute("CREATE INDEX ix_tasks_assignee ON tasks (tenant_id, assignee_id)")
    op.execute("CREATE INDEX ix_tasks_created_by ON tasks (tenant_id, created_by_id)")
    op.execute("CREATE INDEX ix_tasks_service ON tasks (tenant_id, service_id)")
    op.execute("""
        CREATE TABLE audit_logs (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
            action text NOT NULL,
            target_type text,
            target_id uuid,
            request_id text,
            changes jsonb,
            -- the statement's clock, not the transaction's: rows of one request keep their order
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            CONSTRAINT pk_audit_logs PRIMARY KEY (tenant_id, id)
        )""")
    op.execute("CREATE INDEX ix_audit_logs_recent ON audit_logs (tenant_id, created_at DESC)")

    # --- row-level security -------------------------------------------------------------------
    for table in ("tenant_memberships", "services", "tasks", "audit_logs", "tenant_domains"):
        if table == "tenant_memberships":
            # A member sees the memberships of its tenant, and a user its own (tenant switcher).
            _protect(
                table,
                using=f"tenant_id = {TENANT} OR user_id = {USER}",
                check=f"tenant_id = {TENANT}",
            )
        else:
            _protect(table, using=f"tenant_id = {TENANT}")
    _protect(
        "tenants",
        using=(
            f"id = {TENANT} OR id IN (SELECT m.tenant_id FROM tenant_memberships m "
            f"WHERE m.user_id = {USER} AND m.status = 'active')"
        ),
        check="false",
    )
    _protect(
        "users",
        using=(
            f"id = {USER} OR id IN (SELECT m.user_id FROM tenant_memberships m "
            f"WHERE m.tenant_id = {TENANT})"
        ),
        check=f"id = {USER}",
    )

    # --- what the runtime role may do ---------------------------------------------------------
    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    op.execute(f"GRANT SELECT ON alembic_version TO {role}")  # /readyz compares it with head
    op.execute(f"GRANT SELECT ON tenants, tenant_domains, tenant_memberships, users TO {role}")
    op.execute(f"GRANT UPDATE (token_version) ON users TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON services, tasks TO {role}")
    # Audit history is append-only for the API.
    op.execute(f"GRANT SELECT, INSERT ON audit_logs TO {role}")

    # --- the two lookups that happen before a tenant or user is known -------------------------
    # SECURITY DEFINER with a pinned search_path and schema-qualified names; each returns only the
    # columns its caller needs, for one key.
    op.execute("""
        CREATE FUNCTION tenantgraph_resolve_tenant(p_slug text, p_domain text)
        RETURNS TABLE (id uuid, slug text, name text)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT t.id, t.slug, t.name FROM public.tenants t
             WHERE t.status = 'active' AND p_slug IS NOT NULL AND t.slug = p_slug
            UNION ALL
            SELECT t.id, t.slug, t.name FROM public.tenants t
              JOIN public.tenant_domains d ON d.tenant_id = t.id
             WHERE t.status = 'active' AND p_domain IS NOT NULL AND d.domain = lower(p_domain)
            LIMIT 1
        $$""")
    op.execute("""
        CREATE FUNCTION tenantgraph_login_lookup(p_email text)
        RETURNS TABLE (id uuid, password_hash text, token_version integer)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT u.id, u.password_hash, u.token_version FROM public.users u
             WHERE lower(u.email) = lower(p_email)
        $$""")
    for fn in ("tenantgraph_resolve_tenant(text, text)", "tenantgraph_login_lookup(text)"):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {role}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tenantgraph_login_lookup(text)")
    op.execute("DROP FUNCTION IF EXISTS tenantgraph_resolve_tenant(text, text)")
    # these two policies read tenant_memberships, so they go before it
    op.execute("DROP POLICY IF EXISTS tenants_isolation ON tenants")
    op.execute("DROP POLICY IF EXISTS users_isolation ON users")
    for table in (
        "audit_logs",
        "tasks",
        "services",
        "tenant_memberships",
        "users",
        "tenant_domains",
        "tenants",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")

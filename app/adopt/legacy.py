"""The legacy shape `tenantgraph adopt` starts from, and generators of legacy databases.

The legacy product was built for one organization and then grew a `tenants` table and a
membership table, but none of its data tables say which tenant a row belongs to:

- `tenants (id, slug, name, status, created_at)` and `tenant_memberships (tenant_id, user_id,
  role, is_default, status, display_name, created_at)` — who belongs where, the only source of
  tenancy;
- `users` — email unique as written (`Alice@x` and `alice@x` may both exist), no token version;
- `services` — slug unique across the whole database;
- `tasks` (assignee, creator and service as plain foreign keys), `compliance_records` (task,
  creator), `health_logs` (with the `actor_id` of the connection that logged it), `audit_logs`
  (actor);
- the five settings singletons, one row each, without `tenant_id`.

Ids are uuids. Tables of the current schema that the legacy product never had (bookings, service
requests, availability, task templates, custom domains) are created empty by the adoption.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

SETTINGS_COLUMNS: dict[str, str] = {
    "organization_settings": """
        display_name text,
        timezone text NOT NULL DEFAULT 'UTC',
        locale text NOT NULL DEFAULT 'en'""",
    "booking_settings": """
        slot_minutes integer NOT NULL DEFAULT 30,
        min_notice_hours integer NOT NULL DEFAULT 24,
        max_advance_days integer NOT NULL DEFAULT 90,
        cancellation_notice_hours integer NOT NULL DEFAULT 24,
        require_confirmation boolean NOT NULL DEFAULT true""",
    "integration_settings": """
        calendar_provider text,
        accounting_provider text,
        webhook_url text""",
    "communication_settings": """
        sender_name text,
        reply_to_email text,
        reminders_enabled boolean NOT NULL DEFAULT true,
        reminder_hours_before integer NOT NULL DEFAULT 24""",
    "security_settings": """
        session_ttl_minutes integer NOT NULL DEFAULT 60,
        password_min_length integer NOT NULL DEFAULT 12,
        mfa_required boolean NOT NULL DEFAULT false,
        allowed_email_domains text[] NOT NULL DEFAULT '{}'""",
}

LEGACY_DDL: tuple[str, ...] = (
    """CREATE TABLE tenants (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slug text NOT NULL UNIQUE,
        name text NOT NULL,
        status text NOT NULL DEFAULT 'active',
        created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL UNIQUE,
        password_hash text,
        is_superadmin boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE tenant_memberships (
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        user_id uuid NOT NULL REFERENCES users (id),
        role text NOT NULL,
        is_default boolean NOT NULL DEFAULT false,
        status text NOT NULL DEFAULT 'active',
        display_name text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, user_id))""",
    "CREATE INDEX tenant_memberships_user_id_idx ON tenant_memberships (user_id)",
    """CREATE TABLE services (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slug text NOT NULL UNIQUE,
        name text NOT NULL,
        description text,
        price_cents integer NOT NULL DEFAULT 0,
        duration_minutes integer NOT NULL DEFAULT 60,
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE tasks (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        title text NOT NULL,
        description text,
        status text NOT NULL DEFAULT 'TODO',
        priority text NOT NULL DEFAULT 'MEDIUM',
        due_at timestamptz,
        assignee_id uuid REFERENCES users (id),
        created_by_id uuid REFERENCES users (id),
        service_id uuid REFERENCES services (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now())""",
    "CREATE INDEX tasks_assignee_id_idx ON tasks (assignee_id)",
    """CREATE TABLE compliance_records (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        task_id uuid REFERENCES tasks (id),
        title text NOT NULL,
        category text,
        status text NOT NULL DEFAULT 'PENDING',
        due_at timestamptz,
        notes text,
        created_by_id uuid REFERENCES users (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE health_logs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        actor_id uuid REFERENCES users (id),
        check_name text NOT NULL,
        status text NOT NULL,
        details jsonb,
        created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE audit_logs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        actor_id uuid REFERENCES users (id),
        action text NOT NULL,
        target_type text,
        target_id uuid,
        request_id text,
        changes jsonb,
        created_at timestamptz NOT NULL DEFAULT now())""",
    *(
        f"""CREATE TABLE {table} (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        {columns.strip()},
        updated_at timestamptz NOT NULL DEFAULT now())"""
        for table, columns in SETTINGS_COLUMNS.items()
    ),
)

LEGACY_TABLES: tuple[str, ...] = (
    "tenants",
    "users",
    "tenant_memberships",
    "services",
    "tasks",
    "compliance_records",
    "health_logs",
    "audit_logs",
    *SETTINGS_COLUMNS,
)
"""Every table of the legacy shape; the adoption moves them aside and copies them over."""

# the columns each legacy table must have (more are allowed and kept in the legacy copy)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "tenants": ("id", "slug", "name"),
    "users": ("id", "email", "created_at"),
    "tenant_memberships": ("tenant_id", "user_id", "role", "is_default", "created_at"),
    "services": ("id", "slug", "name"),
    "tasks": ("id", "title", "assignee_id", "created_by_id", "service_id", "created_at"),
    "compliance_records": ("id", "task_id", "title", "created_by_id"),
    "health_logs": ("id", "actor_id", "check_name", "status", "details"),
    "audit_logs": ("id", "actor_id", "action", "target_type", "target_id"),
    **dict.fromkeys(SETTINGS_COLUMNS, ("id", "updated_at")),
}


def create_legacy_schema(conn: Connection) -> None:
    """The legacy tables, empty, with one row in each settings singleton."""
    for statement in LEGACY_DDL:
        conn.execute(text(statement))
    for table in SETTINGS_COLUMNS:
        conn.execute(text(f"INSERT INTO {table} DEFAULT VALUES"))


def generate_legacy_data(conn: Connection, *, tasks: int, tenants: int = 20) -> dict[str, int]:
    """Bulk legacy data with `generate_series`: `tasks` tasks and, proportionally, users,
    memberships, services, compliance records, health logs and audit rows. Orphans: about 1 % of
    the tasks and 3 % of the health logs lead to no tenant, and about 40 % of the services are
    used by no task; one user in 25 differs from another only by the case of the email, one in 40
    belongs to no tenant, one in 7 belongs to two.

    Returns the row count of each table (`tasks=48_000` makes 101,625 rows in all)."""
    users = max(tasks // 20, 10)
    services = max(tasks // 100, 5)
    conn.execute(
        text(
            "INSERT INTO tenants (slug, name, created_at) "
            "SELECT 'firm-' || g, 'Firm ' || g, now() - g * interval '1 day' "
            "FROM generate_series(1, :n) g"
        ),
        {"n": tenants},
    )
    # user g: every 25th is a case variant of user g-1's address (legacy emails were compared as
    # written); every 40th has no membership at all (a former employee)
    conn.execute(
        text(
            "INSERT INTO users (email, password_hash, created_at) "
            "SELECT CASE WHEN g % 25 = 0 THEN 'User' || (g - 1) || '@Legacy.test' "
            "            ELSE 'user' || g || '@legacy.test' END, "
            "       NULL, now() - interval '400 days' + g * interval '1 second' "
            "FROM generate_series(1, :n) g"
        ),
        {"n": users},
    )
    conn.execute(
        text(
            "WITH u AS (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM users), "
            "t AS (SELECT id, row_number() OVER (ORDER BY slug) - 1 AS n FROM tenants) "
            "INSERT INTO tenant_memberships (tenant_id, user_id, role, is_default, created_at) "
            "SELECT t.id, u.id, CASE WHEN u.n % 10 = 1 THEN 'ADMIN' WHEN u.n % 3 = 0 "
            "       THEN 'CLIENT' ELSE 'STAFF' END, true, now() - interval '300 days' "
            "FROM u JOIN t ON t.n = u.n % :tenants WHERE u.n % 40 <> 0 "
            "UNION ALL "  # every 7th user is also a member of the next tenant
            "SELECT t.id, u.id, 'STAFF', false, now() - interval '200 days' "
            "FROM u JOIN t ON t.n = (u.n + 1) % :tenants WHERE u.n % 7 = 0 AND u.n % 40 <> 0"
        ),
        {"tenants": tenants},
    )
    conn.execute(
        text(
            "INSERT INTO services (slug, name, price_cents, created_at) "
            "SELECT 'service-' || g, 'Service ' || g, 1000 * (g % 20), now() - interval '1 year' "
            "FROM generate_series(1, :n) g"
        ),
        {"n": services},
    )
    # task g: assignee and creator are users of the same tenant most of the time; every 100th
    # task has neither (an orphan); every 9th names no creator; services by g
    conn.execute(
        text(
            "WITH u AS (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM users), "
            "s AS (SELECT id, row_number() OVER (ORDER BY slug) AS n FROM services) "
            "INSERT INTO tasks (title, status, priority, assignee_id, created_by_id, service_id, "
            "                   created_at) "
            "SELECT 'Task ' || g, (ARRAY['TODO','IN_PROGRESS','BLOCKED','DONE'])[1 + g % 4], "
            "       (ARRAY['LOW','MEDIUM','HIGH','URGENT'])[1 + g % 4], "
            "       CASE WHEN g % 100 <> 0 THEN ua.id END, "
            "       CASE WHEN g % 100 <> 0 AND g % 9 <> 0 THEN uc.id END, "
            "       CASE WHEN g % 3 <> 0 THEN s.id END, "
            "       now() - g * interval '1 minute' "
            "FROM generate_series(1, :n) g "
            "JOIN u ua ON ua.n = 1 + (g % :users) "
            "JOIN u uc ON uc.n = 1 + ((g + :tenants) % :users) "
            "JOIN s ON s.n = 1 + (g % :services)"
        ),
        {"n": tasks, "users": users, "tenants": tenants, "services": services},
    )
    # unused services: one in ten is never referenced by a task (an orphan)
    conn.execute(
        text(
            "INSERT INTO services (slug, name, created_at) "
            "SELECT 'retired-' || g, 'Retired ' || g, now() - interval '2 years' "
            "FROM generate_series(1, :n) g"
        ),
        {"n": max(services // 10, 1)},
    )
    conn.execute(
        text(
            "INSERT INTO compliance_records (task_id, title, status, created_by_id) "
            "SELECT t.id, 'Check for ' || t.title, 'PENDING', t.created_by_id "
            "FROM tasks t WHERE t.created_at > now() - (:n * interval '1 minute') / 4"
        ),
        {"n": tasks},
    )
    conn.execute(
        text(
            "WITH u AS (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM users) "
            "INSERT INTO health_logs (actor_id, check_name, status, details) "
            "SELECT CASE WHEN g % 100 <> 0 THEN u.id END, 'realtime.connect', 'OK', "
            "       jsonb_build_object('seq', g) "
            "FROM generate_series(1, :n) g JOIN u ON u.n = 1 + (g % :users)"
        ),
        {"n": tasks // 4, "users": users},
    )
    conn.execute(
        text(
            "INSERT INTO audit_logs (actor_id, action, target_type, target_id, request_id) "
            "SELECT CASE WHEN row_number() OVER (ORDER BY t.id) % 100 <> 0 THEN t.created_by_id "
            "       END, 'task.create', 'task', t.id, 'legacy' "
            "FROM tasks t WHERE t.created_at > now() - (:n * interval '1 minute') / 2"
        ),
        {"n": tasks},
    )
    return table_counts(conn, LEGACY_TABLES)


def table_counts(
    conn: Connection, tables: tuple[str, ...], schema: str = "public"
) -> dict[str, int]:
    return {
        table: int(conn.execute(text(f"SELECT count(*) FROM {schema}.{table}")).scalar_one())
        for table in tables
    }

"""The tenant-owned domain: bookings, service requests, availability, task templates, compliance
records, health logs, and the settings singletons; plus the narrow public path.

Same rules as 0001: `tenant_id` leads every key, references are composite foreign keys, RLS is
enabled and forced. Two additions:

- Settings singletons: `tenant_id IS NULL` is the global default row (at most one, by a partial
  unique index), and at most one row per tenant (a second partial unique index). A tenant reads
  the global row and its own, and writes only its own.
- The public path: an anonymous request on a tenant's host binds `app.public_tenant_id`, which
  lets it read that tenant's active services and availability and insert a NEW, unattached
  service request, and nothing else (no other policy reads that setting).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "(SELECT NULLIF(current_setting('app.current_tenant_id', true), '')::uuid)"
USER = "(SELECT NULLIF(current_setting('app.current_user_id', true), '')::uuid)"
PUBLIC_TENANT = "(SELECT NULLIF(current_setting('app.public_tenant_id', true), '')::uuid)"

SETTINGS_TABLES: dict[str, str] = {
    "organization_settings": """
        display_name text,
        timezone text NOT NULL DEFAULT 'UTC',
        locale text NOT NULL DEFAULT 'en',
        CONSTRAINT ck_organization_settings_locale CHECK (locale ~ '^[a-z]{2}(-[A-Z]{2})?$')""",
    "booking_settings": """
        slot_minutes integer NOT NULL DEFAULT 30,
        min_notice_hours integer NOT NULL DEFAULT 24,
        max_advance_days integer NOT NULL DEFAULT 90,
        cancellation_notice_hours integer NOT NULL DEFAULT 24,
        require_confirmation boolean NOT NULL DEFAULT true,
        CONSTRAINT ck_booking_settings_ranges CHECK (
            slot_minutes BETWEEN 5 AND 480 AND min_notice_hours BETWEEN 0 AND 720
            AND max_advance_days BETWEEN 1 AND 730 AND cancellation_notice_hours BETWEEN 0 AND 720)""",
    "integration_settings": """
        calendar_provider text,
        accounting_provider text,
        webhook_url text,
        CONSTRAINT ck_integration_settings_webhook CHECK (webhook_url IS NULL OR webhook_url ~ '^https://')""",
    "communication_settings": """
        sender_name text,
        reply_to_email text,
        reminders_enabled boolean NOT NULL DEFAULT true,
        reminder_hours_before integer NOT NULL DEFAULT 24,
        CONSTRAINT ck_communication_settings_hours CHECK (reminder_hours_before BETWEEN 1 AND 336)""",
    "security_settings": """
        session_ttl_minutes integer NOT NULL DEFAULT 60,
        password_min_length integer NOT NULL DEFAULT 12,
        mfa_required boolean NOT NULL DEFAULT false,
        allowed_email_domains text[] NOT NULL DEFAULT '{}',
        CONSTRAINT ck_security_settings_ranges CHECK (
            session_ttl_minutes BETWEEN 5 AND 43200 AND password_min_length BETWEEN 8 AND 128)""",
}

TENANT_TABLES = (
    "bookings",
    "service_requests",
    "availability_slots",
    "task_templates",
    "compliance_records",
    "health_logs",
)


def _app_role() -> str:
    return '"' + context.config.attributes.get("app_role", "tenantgraph_app") + '"'


def _force_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {table}_owner_maintenance ON {table} TO CURRENT_ROLE "
        "USING (true) WITH CHECK (true)"
    )


def upgrade() -> None:
    role = _app_role()
    op.execute("""
        CREATE TABLE bookings (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            service_id uuid NOT NULL,
            client_id uuid NOT NULL,
            staff_id uuid,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            status text NOT NULL DEFAULT 'REQUESTED',
            notes text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_bookings PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_bookings_service FOREIGN KEY (tenant_id, service_id)
                REFERENCES services (tenant_id, id),
            CONSTRAINT fk_bookings_client FOREIGN KEY (tenant_id, client_id)
                REFERENCES tenant_memberships (tenant_id, user_id),
            CONSTRAINT fk_bookings_staff FOREIGN KEY (tenant_id, staff_id)
                REFERENCES tenant_memberships (tenant_id, user_id) ON DELETE SET NULL (staff_id),
            CONSTRAINT ck_bookings_period CHECK (ends_at > starts_at),
            CONSTRAINT ck_bookings_status
                CHECK (status IN ('REQUESTED', 'CONFIRMED', 'CANCELLED', 'COMPLETED'))
        )""")
    op.execute("CREATE INDEX ix_bookings_starts ON bookings (tenant_id, starts_at)")
    op.execute("CREATE INDEX ix_bookings_client ON bookings (tenant_id, client_id, starts_at)")
    op.execute("CREATE INDEX ix_bookings_staff ON bookings (tenant_id, staff_id, starts_at)")
    op.execute("CREATE INDEX ix_bookings_service ON bookings (tenant_id, service_id)")

    op.execute("""
        CREATE TABLE service_requests (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            service_id uuid,
            client_id uuid,
            contact_name text,
            contact_email text,
            contact_phone text,
            description text NOT NULL,
            status text NOT NULL DEFAULT 'NEW',
            task_id uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_service_requests PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_service_requests_service FOREIGN KEY (tenant_id, service_id)
                REFERENCES services (tenant_id, id) ON DELETE SET NULL (service_id),
            CONSTRAINT fk_service_requests_client FOREIGN KEY (tenant_id, client_id)
                REFERENCES tenant_memberships (tenant_id, user_id) ON DELETE SET NULL (client_id),
            CONSTRAINT fk_service_requests_task FOREIGN KEY (tenant_id, task_id)
                REFERENCES tasks (tenant_id, id) ON DELETE SET NULL (task_id),
            CONSTRAINT ck_service_requests_who CHECK (client_id IS NOT NULL OR contact_email IS NOT NULL),
            CONSTRAINT ck_service_requests_description CHECK (length(btrim(description)) BETWEEN 1 AND 5000),
            CONSTRAINT ck_service_requests_status
                CHECK (status IN ('NEW', 'IN_REVIEW', 'CONVERTED', 'REJECTED', 'CLOSED'))
        )""")
    op.execute(
        "CREATE INDEX ix_service_requests_recent ON service_requests (tenant_id, created_at DESC)"
    )
    op.execute("CREATE INDEX ix_service_requests_client ON service_requests (tenant_id, client_id)")
    op.execute("CREATE INDEX ix_service_requests_task ON service_requests (tenant_id, task_id)")

    op.execute("""
        CREATE TABLE availability_slots (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            staff_id uuid NOT NULL,
            service_id uuid,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            capacity integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_availability_slots PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_availability_slots_staff FOREIGN KEY (tenant_id, staff_id)
                REFERENCES tenant_memberships (tenant_id, user_id) ON DELETE CASCADE,
            CONSTRAINT fk_availability_slots_service FOREIGN KEY (tenant_id, service_id)
                REFERENCES services (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_availability_slots_period CHECK (ends_at > starts_at),
            CONSTRAINT ck_availability_slots_capacity CHECK (capacity BETWEEN 1 AND 1000)
        )""")
    op.execute(
        "CREATE INDEX ix_availability_slots_starts ON availability_slots (tenant_id, starts_at)"
    )
    op.execute(
        "CREATE INDEX ix_availability_slots_staff ON availability_slots (tenant_id, staff_id)"
    )
    op.execute(
        "CREATE INDEX ix_availability_slots_service ON availability_slots (tenant_id, service_id)"
    )

    op.execute("""
        CREATE TABLE task_templates (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            name text NOT NULL,
            title text NOT NULL,
            description text,
            priority text NOT NULL DEFAULT 'MEDIUM',
            due_in_days integer,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_task_templates PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_task_templates_tenant_id_name UNIQUE (tenant_id, name),
            CONSTRAINT ck_task_templates_priority CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
            CONSTRAINT ck_task_templates_due CHECK (due_in_days IS NULL OR due_in_days BETWEEN 0 AND 3650)
        )""")

    op.execute("""
        CREATE TABLE compliance_records (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            task_id uuid,
            title text NOT NULL,
            category text,
            status text NOT NULL DEFAULT 'PENDING',
            due_at timestamptz,
            notes text,
            created_by_id uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_compliance_records PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_compliance_records_task FOREIGN KEY (tenant_id, task_id)
                REFERENCES tasks (tenant_id, id) ON DELETE SET NULL (task_id),
            CONSTRAINT fk_compliance_records_created_by FOREIGN KEY (tenant_id, created_by_id)
                REFERENCES tenant_memberships (tenant_id, user_id) ON DELETE SET NULL (created_by_id),
            CONSTRAINT ck_compliance_records_title CHECK (length(btrim(title)) BETWEEN 1 AND 200),
            CONSTRAINT ck_compliance_records_status
                CHECK (status IN ('PENDING', 'COMPLIANT', 'NON_COMPLIANT', 'WAIVED'))
        )""")
    op.execute("CREATE INDEX ix_compliance_records_due ON compliance_records (tenant_id, due_at)")
    op.execute("CREATE INDEX ix_compliance_records_task ON compliance_records (tenant_id, task_id)")
    op.execute(
        "CREATE INDEX ix_compliance_records_created_by ON compliance_records (tenant_id, created_by_id)"
    )

    op.execute("""
        CREATE TABLE health_logs (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            check_name text NOT NULL,
            status text NOT NULL,
            details jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_health_logs PRIMARY KEY (tenant_id, id),
            CONSTRAINT ck_health_logs_status CHECK (status IN ('OK', 'WARNING', 'FAILED'))
        )""")
    op.execute("CREATE INDEX ix_health_logs_recent ON health_logs (tenant_id, created_at DESC)")

    for table in TENANT_TABLES:
        _force_rls(table)
        op.execute(
            f"CREATE POLICY {table}_isolation ON {table} "
            f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})"
        )

    # --- the public path (anonymous visitors of a tenant's host) ------------------------------
    op.execute(
        f"CREATE POLICY services_public_read ON services FOR SELECT "
        f"USING (active AND tenant_id = {PUBLIC_TENANT})"
    )
    op.execute(
        f"CREATE POLICY availability_slots_public_read ON availability_slots FOR SELECT "
        f"USING (tenant_id = {PUBLIC_TENANT} AND starts_at > now())"
    )
    op.execute(
        f"CREATE POLICY service_requests_public_submit ON service_requests FOR INSERT "
        f"WITH CHECK (tenant_id = {PUBLIC_TENANT} AND client_id IS NULL AND task_id IS NULL "
        f"AND status = 'NEW' AND contact_email IS NOT NULL)"
    )

    # --- settings singletons ------------------------------------------------------------------
    for table, columns in SETTINGS_TABLES.items():
        op.execute(f"""
            CREATE TABLE {table} (
                id uuid NOT NULL DEFAULT gen_random_uuid(),
                tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
                {columns.strip()},
                updated_at timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT pk_{table} PRIMARY KEY (id)
            )""")
        op.execute(
            f"CREATE UNIQUE INDEX uq_{table}_global ON {table} ((true)) WHERE tenant_id IS NULL"
        )
        op.execute(
            f"CREATE UNIQUE INDEX uq_{table}_tenant ON {table} (tenant_id) WHERE tenant_id IS NOT NULL"
        )
        _force_rls(table)
        # read: the global default and the tenant's own row; write: only the tenant's own row
        op.execute(
            f"CREATE POLICY {table}_read ON {table} FOR SELECT USING (tenant_id IS NULL OR tenant_id = {TENANT})"
        )
        op.execute(
            f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK (tenant_id = {TENANT})"
        )
        op.execute(
            f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})"
        )
        op.execute(
            f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING (tenant_id = {TENANT})"
        )
        op.execute(f"INSERT INTO {table} (tenant_id) VALUES (NULL)")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")

    # --- memberships become writable: split 0001's policy so that writes stay in the tenant ---
    # (the user's own memberships elsewhere stay readable, for the tenant switcher, but a row of
    # another tenant can never be changed or deleted, even one's own)
    op.execute("DROP POLICY tenant_memberships_isolation ON tenant_memberships")
    op.execute(
        "CREATE POLICY tenant_memberships_read ON tenant_memberships FOR SELECT "
        f"USING (tenant_id = {TENANT} OR user_id = {USER})"
    )
    op.execute(
        "CREATE POLICY tenant_memberships_insert ON tenant_memberships FOR INSERT "
        f"WITH CHECK (tenant_id = {TENANT})"
    )
    op.execute(
        "CREATE POLICY tenant_memberships_update ON tenant_memberships FOR UPDATE "
        f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})"
    )
    op.execute(
        f"CREATE POLICY tenant_memberships_delete ON tenant_memberships FOR DELETE USING (tenant_id = {TENANT})"
    )

    # --- grants -----------------------------------------------------------------------------
    op.execute(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON bookings, service_requests, availability_slots, "
        f"task_templates, compliance_records TO {role}"
    )
    op.execute(f"GRANT SELECT, INSERT ON health_logs TO {role}")
    # Admins manage members and custom domains through the API from now on.
    op.execute(f"GRANT INSERT, UPDATE, DELETE ON tenant_memberships, tenant_domains TO {role}")


def downgrade() -> None:
    role = _app_role()
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON tenant_memberships, tenant_domains FROM {role}")
    for action in ("read", "insert", "update", "delete"):
        op.execute(f"DROP POLICY IF EXISTS tenant_memberships_{action} ON tenant_memberships")
    op.execute(
        "CREATE POLICY tenant_memberships_isolation ON tenant_memberships "
        f"USING (tenant_id = {TENANT} OR user_id = {USER}) WITH CHECK (tenant_id = {TENANT})"
    )
    op.execute("DROP POLICY IF EXISTS services_public_read ON services")
    for table in (*SETTINGS_TABLES, *reversed(TENANT_TABLES)):
        op.execute(f"DROP TABLE IF EXISTS {table}")

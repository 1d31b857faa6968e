"""Notifications: reminders the background jobs leave for members.

A notification belongs to one tenant and one member of it, and is about exactly one task,
booking or compliance record of that tenant (composite foreign keys; deleting the subject or the
membership deletes its notifications). `(tenant_id, user_id, dedupe_key)` is unique: a job names
each reminder (what, about which row, for which day or due date) and inserts it with
`ON CONFLICT DO NOTHING`, so running a job twice never doubles a reminder.

Row-level security: the usual tenant policy, and a restrictive one on top: a signed-in member
reads and marks only their own notifications. A job runs with a tenant and no user, so it sees
every notification of that tenant and of no other. The runtime role may read, insert, and change
`read_at` only.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "(SELECT NULLIF(current_setting('app.current_tenant_id', true), '')::uuid)"
USER = "(SELECT NULLIF(current_setting('app.current_user_id', true), '')::uuid)"


def _app_role() -> str:
    return '"' + context.config.attributes.get("app_role", "tenantgraph_app") + '"'


def upgrade() -> None:
    role = _app_role()
    op.execute("""
        CREATE TABLE notifications (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            user_id uuid NOT NULL,
            kind text NOT NULL,
            task_id uuid,
            booking_id uuid,
            compliance_record_id uuid,
            dedupe_key text NOT NULL,
            message text NOT NULL,
            due_at timestamptz,
            read_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_notifications PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_notifications_tenant_id_user_id_dedupe_key
                UNIQUE (tenant_id, user_id, dedupe_key),
            CONSTRAINT fk_notifications_user FOREIGN KEY (tenant_id, user_id)
                REFERENCES tenant_memberships (tenant_id, user_id) ON DELETE CASCADE,
            CONSTRAINT fk_notifications_task FOREIGN KEY (tenant_id, task_id)
                REFERENCES tasks (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT fk_notifications_booking FOREIGN KEY (tenant_id, booking_id)
                REFERENCES bookings (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT fk_notifications_compliance_record FOREIGN KEY (tenant_id, compliance_record_id)
                REFERENCES compliance_records (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_notifications_kind CHECK (kind IN
                ('TASK_OVERDUE', 'BOOKING_UPCOMING', 'COMPLIANCE_DUE', 'COMPLIANCE_OVERDUE')),
            CONSTRAINT ck_notifications_one_subject
                CHECK (num_nonnulls(task_id, booking_id, compliance_record_id) = 1),
            CONSTRAINT ck_notifications_message CHECK (length(message) BETWEEN 1 AND 500),
            CONSTRAINT ck_notifications_dedupe_key CHECK (length(dedupe_key) BETWEEN 1 AND 200)
        )""")
    op.execute(
        "CREATE INDEX ix_notifications_inbox "
        "ON notifications (tenant_id, user_id, created_at DESC, id DESC)"
    )
    op.execute("CREATE INDEX ix_notifications_task ON notifications (tenant_id, task_id)")
    op.execute("CREATE INDEX ix_notifications_booking ON notifications (tenant_id, booking_id)")
    op.execute(
        "CREATE INDEX ix_notifications_compliance_record "
        "ON notifications (tenant_id, compliance_record_id)"
    )

    op.execute("ALTER TABLE notifications ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE notifications FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY notifications_owner_maintenance ON notifications TO CURRENT_ROLE "
        "USING (true) WITH CHECK (true)"
    )
    op.execute(
        "CREATE POLICY notifications_isolation ON notifications "
        f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})"
    )
    # restrictive: AND-ed with the policies above, for every role and command
    op.execute(
        "CREATE POLICY notifications_recipient ON notifications AS RESTRICTIVE "
        f"USING ({USER} IS NULL OR user_id = {USER}) "
        f"WITH CHECK ({USER} IS NULL OR user_id = {USER})"
    )
    op.execute(f"GRANT SELECT, INSERT ON notifications TO {role}")
    op.execute(f"GRANT UPDATE (read_at) ON notifications TO {role}")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS notifications")

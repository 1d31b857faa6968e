"""Booking guards the database keeps even when two requests race.

- A staff member is never in two open (REQUESTED/CONFIRMED) bookings that overlap. An exclusion
  constraint would need btree_gist, which the embedded server does not ship; a trigger that
  serialises on (tenant, staff member) with a transaction-scoped advisory lock, then looks for an
  overlap, gives the same guarantee and raises the same SQLSTATE (23P01).
- Anonymous visitors read future slots only of services that are active (or slots open to any
  service): the public policy now says so too, not only the repository.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLIC_TENANT = "(SELECT NULLIF(current_setting('app.public_tenant_id', true), '')::uuid)"


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION tenantgraph_booking_staff_free() RETURNS trigger
        LANGUAGE plpgsql
        SET search_path = pg_catalog, pg_temp
        AS $$
        BEGIN
            IF NEW.staff_id IS NULL OR NEW.status NOT IN ('REQUESTED', 'CONFIRMED') THEN
                RETURN NEW;
            END IF;
            PERFORM pg_advisory_xact_lock(
                hashtextextended(NEW.tenant_id::text || '/' || NEW.staff_id::text, 0));
            IF EXISTS (
                SELECT 1 FROM public.bookings b
                 WHERE b.tenant_id = NEW.tenant_id AND b.staff_id = NEW.staff_id
                   AND b.id <> NEW.id AND b.status IN ('REQUESTED', 'CONFIRMED')
                   AND tstzrange(b.starts_at, b.ends_at) && tstzrange(NEW.starts_at, NEW.ends_at)
            ) THEN
                RAISE EXCEPTION 'the staff member already has an open booking at that time'
                    USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'ex_bookings_staff_overlap';
            END IF;
            RETURN NEW;
        END
        $$""")
    op.execute(
        "CREATE TRIGGER bookings_staff_free BEFORE INSERT OR UPDATE OF staff_id, starts_at, "
        "ends_at, status ON bookings FOR EACH ROW EXECUTE FUNCTION tenantgraph_booking_staff_free()"
    )
    op.execute("DROP POLICY availability_slots_public_read ON availability_slots")
    op.execute(
        "CREATE POLICY availability_slots_public_read ON availability_slots FOR SELECT "
        f"USING (tenant_id = {PUBLIC_TENANT} AND starts_at > now() AND (service_id IS NULL "
        "OR EXISTS (SELECT 1 FROM services s WHERE s.tenant_id = availability_slots.tenant_id "
        "AND s.id = availability_slots.service_id AND s.active)))"
    )


def downgrade() -> None:
    op.execute("DROP POLICY availability_slots_public_read ON availability_slots")
    op.execute(
        "CREATE POLICY availability_slots_public_read ON availability_slots FOR SELECT "
        f"USING (tenant_id = {PUBLIC_TENANT} AND starts_at > now())"
    )
    op.execute("DROP TRIGGER IF EXISTS bookings_staff_free ON bookings")
    op.execute("DROP FUNCTION IF EXISTS tenantgraph_booking_staff_free()")

-- Organisation read models. Documented for BI in docs/bi.md. Times UTC (business time).

-- One row per period during which a staff member held one department and one role.
CREATE TABLE IF NOT EXISTS staff_assignment (
    staff_id        uuid        NOT NULL,
    period          integer     NOT NULL,
    department      text        NOT NULL,
    role            text        NOT NULL,
    since           timestamptz NOT NULL,
    until           timestamptz,
    reason          text        NOT NULL,
    by              text        NOT NULL,
    cause_position  bigint      NOT NULL,
    ended_reason    text,
    ended_by        text,
    ended_position  bigint,
    opened_version  bigint      NOT NULL,
    closed_version  bigint,
    PRIMARY KEY (staff_id, period)
);
CREATE INDEX IF NOT EXISTS staff_assignment_current_idx ON staff_assignment (department, role)
    WHERE until IS NULL;

-- The department a staff member belonged to at a business time (null: not employed then).
CREATE OR REPLACE FUNCTION staff_department_at(staff uuid, at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT department FROM staff_assignment
    WHERE staff_id = staff AND since <= at AND (until IS NULL OR until > at)
    ORDER BY period DESC LIMIT 1
$$;

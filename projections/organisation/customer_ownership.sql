-- Ownership read models. Documented for BI in docs/bi.md. Times UTC (business time).

-- One row per period during which one staff member owned (was in charge of) a customer.
CREATE TABLE IF NOT EXISTS customer_ownership (
    customer_id     uuid        NOT NULL,
    period          integer     NOT NULL,
    staff_id        text        NOT NULL,
    since           timestamptz NOT NULL,
    until           timestamptz,
    reason          text        NOT NULL,
    handover_id     text,
    by              text        NOT NULL,
    cause_position  bigint      NOT NULL,
    ended_reason    text,
    ended_by        text,
    ended_position  bigint,
    opened_version  bigint      NOT NULL,
    closed_version  bigint,
    PRIMARY KEY (customer_id, period)
);
CREATE UNIQUE INDEX IF NOT EXISTS customer_ownership_current_idx
    ON customer_ownership (customer_id) WHERE until IS NULL;
CREATE INDEX IF NOT EXISTS customer_ownership_staff_idx
    ON customer_ownership (staff_id, cause_position) WHERE until IS NULL;
CREATE INDEX IF NOT EXISTS customer_ownership_history_idx
    ON customer_ownership (staff_id, since);

-- Each customer's owner now.
CREATE OR REPLACE VIEW customer_current_owner AS
SELECT customer_id, staff_id, since, reason, handover_id, cause_position
FROM customer_ownership WHERE until IS NULL;

-- Who owned the customer (stream) at a business time; null if nobody did.
CREATE OR REPLACE FUNCTION customer_owner_at(customer uuid, at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT staff_id FROM customer_ownership
    WHERE customer_id = customer AND since <= at AND (until IS NULL OR until > at)
    ORDER BY period DESC LIMIT 1
$$;

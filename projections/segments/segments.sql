-- Segments (分层): definitions, current members, the membership ledger and due checks.
-- Maintained by the customer_profile projection in the same transaction as the profiles
-- (docs/bi.md). Times are UTC; "at" is when the platform evaluated the change, "occurred_at"
-- the business time of its cause (the event's occurred_at; a tick's time for time passing).
CREATE TABLE IF NOT EXISTS segment (
    segment_id      uuid PRIMARY KEY,
    name            text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    rule            jsonb       NOT NULL,
    rule_version    integer     NOT NULL,
    time_dependent  boolean     NOT NULL,
    built_in        boolean     NOT NULL DEFAULT false,
    defined_by      text        NOT NULL,
    defined_at      timestamptz NOT NULL,
    revised_at      timestamptz,
    archived_at     timestamptz,
    member_count    integer     NOT NULL DEFAULT 0,
    auto_tag        text,
    position        bigint      NOT NULL
);
CREATE TABLE IF NOT EXISTS segment_membership (
    segment_id      uuid        NOT NULL,
    customer_id     uuid        NOT NULL,
    rule_version    integer     NOT NULL,
    since           timestamptz NOT NULL,
    entry_position  bigint      NOT NULL,
    PRIMARY KEY (segment_id, customer_id)
);
CREATE INDEX IF NOT EXISTS segment_membership_customer_idx
    ON segment_membership (customer_id);
CREATE TABLE IF NOT EXISTS segment_ledger (
    entry_id        bigserial PRIMARY KEY,
    segment_id      uuid        NOT NULL,
    rule_version    integer     NOT NULL,
    customer_id     uuid        NOT NULL,
    change          text        NOT NULL CHECK (change IN ('ENTERED', 'EXITED')),
    at              timestamptz NOT NULL,
    occurred_at     timestamptz NOT NULL,
    cause           text        NOT NULL,
    cause_position  bigint      NOT NULL,
    cause_event     text        NOT NULL,
    backfilled      boolean     NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS segment_ledger_segment_at_idx ON segment_ledger (segment_id, at);
CREATE INDEX IF NOT EXISTS segment_ledger_segment_occurred_idx
    ON segment_ledger (segment_id, occurred_at);
CREATE INDEX IF NOT EXISTS segment_ledger_customer_idx
    ON segment_ledger (customer_id, segment_id, entry_id);
-- Internal: when a customer's answer could next change with no event (time windows).
CREATE TABLE IF NOT EXISTS segment_check (
    segment_id      uuid        NOT NULL,
    customer_id     uuid        NOT NULL,
    check_at        timestamptz NOT NULL,
    PRIMARY KEY (segment_id, customer_id)
);
CREATE INDEX IF NOT EXISTS segment_check_due_idx ON segment_check (check_at);
-- A page loads the checks of its customers (store.load_state): without this index each page
-- scanned the whole table (8.4 s a page at 1.46M notifications, docs/benchmarks.md).
CREATE INDEX IF NOT EXISTS segment_check_customer_idx ON segment_check (customer_id);
-- Internal: the product library's category of each SKU, as of the projection's position
-- (boughtFromCategory rules are evaluated against it; see projections/segments/library.py).
CREATE TABLE IF NOT EXISTS segment_product (
    product_id      uuid        PRIMARY KEY,
    sku             text        NOT NULL UNIQUE,
    category        text        NOT NULL
);
-- BI: members of each segment at the end of each business day (Asia/Shanghai) by business
-- time (each entry dated by its cause's occurred_at), from its first entry to today; the
-- actual history (see docs/bi.md).
CREATE OR REPLACE VIEW segment_size_daily AS
SELECT s.segment_id, s.name, d.day::date AS day,
       (SELECT coalesce(sum(CASE l.change WHEN 'ENTERED' THEN 1 ELSE -1 END), 0)
        FROM segment_ledger l
        WHERE l.segment_id = s.segment_id AND (NOT l.backfilled OR l.rule_version = 1)
          AND l.occurred_at < (d.day + interval '1 day') AT TIME ZONE 'Asia/Shanghai')::integer
       AS size
FROM segment s
CROSS JOIN LATERAL generate_series(
    date_trunc('day', (SELECT min(l.occurred_at) FROM segment_ledger l
                       WHERE l.segment_id = s.segment_id) AT TIME ZONE 'Asia/Shanghai'),
    date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai'), interval '1 day') AS d(day);
-- BI: every lifecycle stage a customer entered (the built-in lifecycle segments' ledger):
-- entered_at when evaluated, occurred_at by business time.
CREATE OR REPLACE VIEW customer_lifecycle_history AS
SELECT l.customer_id, s.rule ->> 'lifecycle' AS stage, l.at AS entered_at, l.cause,
       l.cause_event, l.cause_position, l.occurred_at
FROM segment_ledger l JOIN segment s USING (segment_id)
WHERE s.built_in AND l.change = 'ENTERED' AND NOT l.backfilled;

-- Read models. Documented for BI in docs/bi.md. Money in fen (integer), times UTC.
CREATE TABLE IF NOT EXISTS customer_profile (
    customer_id         uuid PRIMARY KEY,
    position            bigint      NOT NULL,
    first_channel       text        NOT NULL,
    first_seen_at       timestamptz NOT NULL,
    identities          jsonb       NOT NULL DEFAULT '[]',
    staff_relations     jsonb       NOT NULL DEFAULT '[]',
    current_staff_ids   text[]      NOT NULL DEFAULT '{}',
    ever_friend         boolean     NOT NULL DEFAULT false,
    tags                text[]      NOT NULL DEFAULT '{}',
    groups              text[]      NOT NULL DEFAULT '{}',
    order_count         integer     NOT NULL DEFAULT 0,
    gmv_fen             bigint      NOT NULL DEFAULT 0,
    refund_count        integer     NOT NULL DEFAULT 0,
    refunded_fen        bigint      NOT NULL DEFAULT 0,
    content_views       integer     NOT NULL DEFAULT 0,
    last_interaction_at timestamptz,
    last_order_at       timestamptz,
    event_count         integer     NOT NULL DEFAULT 0,
    last_version        bigint      NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS customer_profile_position_idx ON customer_profile (position);
CREATE INDEX IF NOT EXISTS customer_profile_tags_idx ON customer_profile USING gin (tags);
CREATE INDEX IF NOT EXISTS customer_profile_staff_idx
    ON customer_profile USING gin (current_staff_ids);

-- Lifecycle rules (first match wins), evaluated at read time against now():
--   CHURNED  had at least one staff friend and now has none;
--   SILENT   no interaction for 30 days or more;
--   NEW      first seen less than 30 days ago and no paid order;
--   ACTIVE   everything else.
CREATE OR REPLACE FUNCTION siyu_lifecycle(
    ever_friend boolean, current_staff_ids text[], last_interaction_at timestamptz,
    first_seen_at timestamptz, order_count integer, at timestamptz
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN ever_friend AND cardinality(current_staff_ids) = 0 THEN 'CHURNED'
        WHEN coalesce(last_interaction_at, first_seen_at) <= at - interval '30 days' THEN 'SILENT'
        WHEN first_seen_at > at - interval '30 days' AND order_count = 0 THEN 'NEW'
        ELSE 'ACTIVE'
    END
$$;

CREATE OR REPLACE VIEW customer_profile_view AS
SELECT p.*,
       siyu_lifecycle(p.ever_friend, p.current_staff_ids, p.last_interaction_at,
                      p.first_seen_at, p.order_count, now()) AS lifecycle
FROM customer_profile p;

CREATE TABLE IF NOT EXISTS staff_directory (
    staff_id    uuid PRIMARY KEY,
    role        text        NOT NULL,
    department  text        NOT NULL,
    hired_at    timestamptz NOT NULL,
    left_at     timestamptz,
    last_version bigint     NOT NULL
);

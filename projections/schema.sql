-- Read models. Documented for BI in docs/bi.md. Money in fen (integer), times UTC.
CREATE TABLE IF NOT EXISTS siyu_read_model_version (
    name    text PRIMARY KEY,
    version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS customer_profile (
    customer_id         uuid PRIMARY KEY,
    position            bigint      NOT NULL,
    first_channel       text        NOT NULL,
    first_seen_at       timestamptz NOT NULL,
    identities          jsonb       NOT NULL DEFAULT '[]',
    staff_relations     jsonb       NOT NULL DEFAULT '[]',
    current_staff_ids   text[]      NOT NULL DEFAULT '{}',
    ever_friend         boolean     NOT NULL DEFAULT false,
    muted_staff_ids     text[]      NOT NULL DEFAULT '{}',
    tags                text[]      NOT NULL DEFAULT '{}',
    groups              text[]      NOT NULL DEFAULT '{}',
    official_accounts   text[]      NOT NULL DEFAULT '{}',
    member_level        text,
    referred_by         text,
    order_count         integer     NOT NULL DEFAULT 0,
    gmv_fen             bigint      NOT NULL DEFAULT 0,
    refund_count        integer     NOT NULL DEFAULT 0,
    refunded_fen        bigint      NOT NULL DEFAULT 0,
    orders_placed       integer     NOT NULL DEFAULT 0,
    orders_cancelled    integer     NOT NULL DEFAULT 0,
    points_balance      bigint      NOT NULL DEFAULT 0,
    coupons_issued      integer     NOT NULL DEFAULT 0,
    coupons_redeemed    integer     NOT NULL DEFAULT 0,
    dnd                 boolean     NOT NULL DEFAULT false,
    consents            jsonb       NOT NULL DEFAULT '{}',
    referrals_brought   integer     NOT NULL DEFAULT 0,
    content_views       integer     NOT NULL DEFAULT 0,
    content_forwards    integer     NOT NULL DEFAULT 0,
    messages_received   integer     NOT NULL DEFAULT 0,
    messages_sent       integer     NOT NULL DEFAULT 0,
    activities_joined   integer     NOT NULL DEFAULT 0,
    last_interaction_at timestamptz,
    last_order_at       timestamptz,
    last_message_at     timestamptz,
    event_count         integer     NOT NULL DEFAULT 0,
    stream_versions     jsonb       NOT NULL DEFAULT '{}',
    updated_at          timestamptz NOT NULL
);
-- OneID: a customer absorbed by a merge points at its survivor (a tree: roots have no row).
CREATE TABLE IF NOT EXISTS customer_profile_member (
    stream_id uuid PRIMARY KEY,
    parent_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS customer_profile_member_parent_idx
    ON customer_profile_member (parent_id);
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

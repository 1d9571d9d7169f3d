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
    friend_changes      jsonb       NOT NULL DEFAULT '[]',
    current_staff_ids   text[]      NOT NULL DEFAULT '{}',
    ever_friend         boolean     NOT NULL DEFAULT false,
    muted_staff_ids     text[]      NOT NULL DEFAULT '{}',
    personal_wechat_staff_ids text[] NOT NULL DEFAULT '{}',
    tags                text[]      NOT NULL DEFAULT '{}',
    tag_details         jsonb       NOT NULL DEFAULT '{}',
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
    consents_withdrawn  text[]      NOT NULL DEFAULT '{}',
    referrals_brought   integer     NOT NULL DEFAULT 0,
    content_views       integer     NOT NULL DEFAULT 0,
    content_forwards    integer     NOT NULL DEFAULT 0,
    messages_received   integer     NOT NULL DEFAULT 0,
    messages_sent       integer     NOT NULL DEFAULT 0,
    activities_joined   integer     NOT NULL DEFAULT 0,
    last_interaction_at timestamptz,
    first_order_at      timestamptz,
    last_order_at       timestamptz,
    order_times         timestamptz[] NOT NULL DEFAULT '{}',
    order_amounts       bigint[]    NOT NULL DEFAULT '{}',
    order_lines         jsonb       NOT NULL DEFAULT '[]',  -- per paid order (as order_times): {sku: fen spent}
    last_message_at     timestamptz,
    last_activity_at    timestamptz,
    sku_quantities      jsonb       NOT NULL DEFAULT '{}',
    category_orders     jsonb       NOT NULL DEFAULT '{}',
    topic_views         jsonb       NOT NULL DEFAULT '{}',
    event_count         integer     NOT NULL DEFAULT 0,
    stream_versions     jsonb       NOT NULL DEFAULT '{}',
    updated_at          timestamptz NOT NULL,
    erased_at           timestamptz
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
CREATE INDEX IF NOT EXISTS customer_profile_skus_idx
    ON customer_profile USING gin (sku_quantities);  -- buyers of a SKU (sku_quantities ? sku)
CREATE INDEX IF NOT EXISTS customer_profile_staff_idx
    ON customer_profile USING gin (current_staff_ids);

-- Lifecycle rules (first match wins), evaluated at read time against now(); a day is 24 hours:
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
        WHEN coalesce(last_interaction_at, first_seen_at) <= at - interval '720 hours' THEN 'SILENT'
        WHEN first_seen_at > at - interval '720 hours' AND order_count = 0 THEN 'NEW'
        ELSE 'ACTIVE'
    END
$$;

-- RFM scores, 0 (no order) to 5, fixed bins (docs/bi.md):
--   recency   days since the last paid order: <=7 5, <=30 4, <=90 3, <=180 2, else 1
--   frequency paid orders: >=10 5, >=5 4, >=3 3, 2 2, 1 1
--   monetary  net GMV (paid - refunded) in fen: >=500000 5, >=100000 4, >=30000 3, >=10000 2, >0 1
CREATE OR REPLACE FUNCTION siyu_recency_score(last_order_at timestamptz, at timestamptz)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN last_order_at IS NULL THEN 0
        WHEN last_order_at > at - interval '168 hours' THEN 5
        WHEN last_order_at > at - interval '720 hours' THEN 4
        WHEN last_order_at > at - interval '2160 hours' THEN 3
        WHEN last_order_at > at - interval '4320 hours' THEN 2
        ELSE 1
    END
$$;
CREATE OR REPLACE FUNCTION siyu_frequency_score(order_count integer)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN order_count >= 10 THEN 5 WHEN order_count >= 5 THEN 4
                WHEN order_count >= 3 THEN 3 ELSE greatest(order_count, 0) END
$$;
CREATE OR REPLACE FUNCTION siyu_monetary_score(net_fen bigint)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN net_fen >= 500000 THEN 5 WHEN net_fen >= 100000 THEN 4
                WHEN net_fen >= 30000 THEN 3 WHEN net_fen >= 10000 THEN 2
                WHEN net_fen > 0 THEN 1 ELSE 0 END
$$;
-- Positioning by frequency x ticket size (docs/domain.md): high frequency = 3+ paid orders,
-- high ticket = average order value >= 20000 fen (200 yuan); null without orders.
CREATE OR REPLACE FUNCTION siyu_positioning(order_count integer, gmv_fen bigint)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN order_count = 0 THEN NULL
        WHEN order_count >= 3 AND gmv_fen / order_count >= 20000 THEN 'TRANSACTION_HUB'
        WHEN order_count >= 3 THEN 'INFORMATION_HUB'
        WHEN gmv_fen / order_count >= 20000 THEN 'SERVICE_HUB'
        ELSE 'MERCHANT_ALLIANCE_HUB'
    END
$$;

CREATE OR REPLACE VIEW customer_profile_view AS
SELECT p.*,
       siyu_lifecycle(p.ever_friend, p.current_staff_ids, p.last_interaction_at,
                      p.first_seen_at, p.order_count, now()) AS lifecycle,
       CASE WHEN p.order_count > 0 THEN p.gmv_fen / p.order_count END AS average_order_fen,
       siyu_recency_score(p.last_order_at, now()) AS recency_score,
       siyu_frequency_score(p.order_count) AS frequency_score,
       siyu_monetary_score(p.gmv_fen - p.refunded_fen) AS monetary_score,
       siyu_positioning(p.order_count, p.gmv_fen) AS positioning
FROM customer_profile p;

CREATE TABLE IF NOT EXISTS staff_directory (
    staff_id    uuid PRIMARY KEY,
    role        text        NOT NULL,
    department  text        NOT NULL,
    wecom_user_id text,
    hired_at    timestamptz NOT NULL,
    left_at     timestamptz,
    last_version bigint     NOT NULL
);
CREATE INDEX IF NOT EXISTS staff_directory_wecom_idx ON staff_directory (wecom_user_id);

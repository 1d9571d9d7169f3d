-- Activities (活动) and the customer journey facts their figures are computed from.
-- Documented in docs/activities.md and docs/bi.md. Money in fen; times timestamptz (UTC);
-- days are calendar days in Asia/Shanghai.
CREATE TABLE IF NOT EXISTS activity (
    activity_id     uuid        PRIMARY KEY,
    name            text        NOT NULL,
    kind            text        NOT NULL,  -- promotion | live_stream | acquisition | quiz | member_day
    starts_at       timestamptz NOT NULL,  -- the period is [starts_at, ends_at), business time
    ends_at         timestamptz NOT NULL,
    channels        text[]      NOT NULL,  -- channel codes; 'qr' covers 'qr:store-01'
    campaign_ids    uuid[]      NOT NULL,  -- linked campaigns
    products        text[]      NOT NULL,  -- SKUs; empty: every product
    steps           text[]      NOT NULL,  -- the journey tracked, ending with 'pay'
    target_gmv_fen  bigint      NOT NULL,
    target_users    bigint,                -- with target_aov_fen: the factor targets
    target_aov_fen  bigint,
    planned_by      text        NOT NULL,
    planned_at      timestamptz NOT NULL,
    revised_by      text,
    revised_at      timestamptz,
    cancelled_at    timestamptz,
    cancel_reason   text,
    position        bigint      NOT NULL,  -- log position of the plan: list order
    last_version    bigint      NOT NULL
);

-- One row per customer event that belongs to a customer journey, whatever the activity:
-- activities, funnels and BI read their figures from here (docs/activities.md).
CREATE TABLE IF NOT EXISTS customer_journey (
    position      bigint      PRIMARY KEY,  -- the event's position in the log
    customer_id   uuid        NOT NULL,
    occurred_at   timestamptz NOT NULL,     -- business time
    step          text        NOT NULL,     -- touch | visit | cart | order | pay | refund
    event_type    text        NOT NULL,     -- Customer.<Name>
    channel       text,                     -- the event's channel, when it has one
    campaign_id   uuid,                     -- a campaign message sent, read or clicked
    activity_ref  text,                     -- ACTIVITY_JOINED's activity id, as reported
    order_id      text,
    amount_fen    bigint,                   -- order placed or paid; refund
    skus          text[]      NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS customer_journey_time_idx ON customer_journey (occurred_at);
CREATE INDEX IF NOT EXISTS customer_journey_customer_idx
    ON customer_journey (customer_id, occurred_at);
CREATE INDEX IF NOT EXISTS customer_journey_order_idx
    ON customer_journey (customer_id, order_id) WHERE order_id IS NOT NULL;

-- Internal: the journey facts attributed to each activity on its current plan (docs/
-- activities.md, "Which events count"), kept by the projection — re-derived when a plan is
-- recorded or revised, extended as facts arrive — so a read groups a few rows instead of
-- attributing a period of the whole journey.
CREATE TABLE IF NOT EXISTS siyu_activity_fact (
    activity_id  uuid        NOT NULL,
    position     bigint      NOT NULL,  -- the fact's position in the log
    customer_id  uuid        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    day          date        NOT NULL,  -- business day (Asia/Shanghai)
    step         text        NOT NULL,
    entry        text,                  -- the channel it enters the activity under; null: none
    counts       boolean     NOT NULL,  -- counts as its step for a participant
    order_id     text,
    amount_fen   bigint,
    PRIMARY KEY (activity_id, position)
);

-- Funnels, cohorts, value, spread and satisfaction (docs/funnels.md). Documented in docs/bi.md.
-- Money in fen (integers); times timestamptz (UTC); days are calendar days in Asia/Shanghai.
-- Internal: one row per customer, the facts every funnel stage is judged on.
CREATE TABLE IF NOT EXISTS funnel_customer (
    customer_id       uuid        PRIMARY KEY,
    acquired_at       timestamptz,            -- earliest acquisition fact (business time)
    channel           text,                   -- channel of the earliest channelled one
    channel_at        timestamptz,
    first_engaged_at  timestamptz,            -- customer-initiated facts: earliest, latest
    last_engaged_at   timestamptz,
    paid_orders       integer     NOT NULL,
    paid_fen          bigint      NOT NULL,
    refunded_fen      bigint      NOT NULL,
    invite_codes      integer     NOT NULL,   -- referral invite codes issued to the customer
    invitees          integer     NOT NULL,   -- new customers the customer brought
    touchpoints       jsonb       NOT NULL,   -- {touchpoint: {joined_at, keys, left_at}}
    last_position     bigint      NOT NULL,
    owners            jsonb       NOT NULL,   -- [[at, staff id | null], ...] in log order
    merged_into       uuid,                   -- OneID: the customer this one was merged into
    root_id           uuid        NOT NULL    -- the survivor its facts count for (itself)
);
CREATE INDEX IF NOT EXISTS funnel_customer_root_idx ON funnel_customer (root_id);
-- AARRR counts per acquisition day and acquisition channel (exact channel code).
CREATE TABLE IF NOT EXISTS funnel_daily (
    day             date    NOT NULL,
    channel         text    NOT NULL,
    acquired        bigint  NOT NULL,
    activated       bigint  NOT NULL,
    retained        bigint  NOT NULL,
    paying          bigint  NOT NULL,
    repeat_buyers   bigint  NOT NULL,
    paid_orders     bigint  NOT NULL,
    net_fen         bigint  NOT NULL,
    sharers         bigint  NOT NULL,   -- customers issued at least one invite code
    invite_codes    bigint  NOT NULL,
    referrers       bigint  NOT NULL,   -- customers who brought at least one new customer
    invitees        bigint  NOT NULL,
    PRIMARY KEY (day, channel)
);
-- The same counts per acquisition day and credited owner (the staff member in charge of the
-- customer at the end of the acquisition day); customers nobody owned then are not here.
CREATE TABLE IF NOT EXISTS funnel_owner_daily (
    day             date    NOT NULL,
    owner           text    NOT NULL,
    acquired        bigint  NOT NULL,
    activated       bigint  NOT NULL,
    retained        bigint  NOT NULL,
    paying          bigint  NOT NULL,
    repeat_buyers   bigint  NOT NULL,
    paid_orders     bigint  NOT NULL,
    net_fen         bigint  NOT NULL,
    sharers         bigint  NOT NULL,
    invite_codes    bigint  NOT NULL,
    referrers       bigint  NOT NULL,
    invitees        bigint  NOT NULL,
    PRIMARY KEY (day, owner)
);
-- Retention per touchpoint, join day and acquisition channel: members who joined that day,
-- and how many of them were still members (mini_program: still active) at each checkpoint.
CREATE TABLE IF NOT EXISTS cohort_daily (
    touchpoint  text    NOT NULL,  -- wecom_friend | personal_wechat | group | mini_program
    day         date    NOT NULL,  -- join day
    channel     text    NOT NULL,
    joined      bigint  NOT NULL,
    d1 bigint NOT NULL, d7 bigint NOT NULL, d30 bigint NOT NULL,
    m1 bigint NOT NULL, m2 bigint NOT NULL, m3 bigint NOT NULL,
    m4 bigint NOT NULL, m5 bigint NOT NULL, m6 bigint NOT NULL,
    PRIMARY KEY (touchpoint, day, channel)
);
-- One row per survey answer (SURVEY_ANSWERED).
CREATE TABLE IF NOT EXISTS survey_answer (
    position     bigint      PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    staff_id     text,                    -- the staff member whose service was rated
    survey_kind  text        NOT NULL,    -- csat (1-5) | nps (0-10)
    score        integer     NOT NULL,
    occurred_at  timestamptz NOT NULL,
    day          date        NOT NULL
);
CREATE INDEX IF NOT EXISTS survey_answer_day_idx ON survey_answer (day, survey_kind);

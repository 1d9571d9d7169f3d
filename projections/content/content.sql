-- Content (内容): the pieces, their cadence plans, and the customer facts their figures are
-- computed from. Documented in docs/content.md and docs/bi.md. Times timestamptz (UTC).
CREATE TABLE IF NOT EXISTS content (
    content_id      uuid        PRIMARY KEY,
    reference       text        NOT NULL UNIQUE,  -- the contentId customer events carry
    kind            text        NOT NULL,         -- article | video | moments_post | live_replay
    title           text        NOT NULL,
    author_id       text        NOT NULL,         -- staff id
    operator_id     text,                         -- staff id
    topics          text[]      NOT NULL,
    published_at    timestamptz NOT NULL,         -- business time
    published_by    text        NOT NULL,
    revised_at      timestamptz,
    withdrawn_at    timestamptz,
    withdraw_reason text,
    last_version    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS content_author_idx ON content (author_id, published_at);

CREATE TABLE IF NOT EXISTS content_cadence (
    cadence_id    uuid        PRIMARY KEY,
    kind          text        NOT NULL,
    author_id     text,                 -- null: the brand's plan for the kind
    per_week      integer     NOT NULL,
    set_by        text        NOT NULL,
    set_at        timestamptz NOT NULL,
    last_version  bigint      NOT NULL
);

-- One row per customer content event (viewed, forwarded, commented).
CREATE TABLE IF NOT EXISTS content_engagement (
    position     bigint      PRIMARY KEY,
    reference    text        NOT NULL,
    customer_id  uuid        NOT NULL,
    action       text        NOT NULL,  -- view | forward | comment
    occurred_at  timestamptz NOT NULL,  -- business time
    seconds      integer,               -- time on the piece (views, when reported)
    channel      text
);
CREATE INDEX IF NOT EXISTS content_engagement_ref_idx ON content_engagement (reference, occurred_at);
CREATE INDEX IF NOT EXISTS content_engagement_customer_idx
    ON content_engagement (customer_id, occurred_at) WHERE action = 'view';

-- One row per customer fact a piece may be credited with: friend added, official account
-- followed, order paid, order refunded (to net attributed GMV).
CREATE TABLE IF NOT EXISTS content_conversion (
    position     bigint      PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    kind         text        NOT NULL,  -- friend_add | follow | pay | refund
    occurred_at  timestamptz NOT NULL,
    order_id     text,
    amount_fen   bigint
);
CREATE INDEX IF NOT EXISTS content_conversion_time_idx ON content_conversion (occurred_at);
CREATE INDEX IF NOT EXISTS content_conversion_order_idx
    ON content_conversion (customer_id, order_id) WHERE kind = 'refund';

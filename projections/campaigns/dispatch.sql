CREATE TABLE IF NOT EXISTS campaign_dispatch (   -- internal: what the dispatcher enqueued
    campaign_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    step        integer NOT NULL,
    enqueued_at timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, customer_id, step)
);
CREATE TABLE IF NOT EXISTS siyu_rate_limit (   -- internal: next free slot per limiter
    name    text PRIMARY KEY,
    next_at timestamptz NOT NULL
);

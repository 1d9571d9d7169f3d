CREATE TABLE IF NOT EXISTS welcome_outbox (
    outbox_key         text PRIMARY KEY,          -- welcome:{customer_id}:{originator_version}
    customer_id        uuid        NOT NULL,
    staff_id           text        NOT NULL,
    channel            text        NOT NULL,
    welcome_code       text        NOT NULL,      -- single-use at WeCom; never logged
    status             text        NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'sent', 'failed')),
    attempts           integer     NOT NULL DEFAULT 0,  -- gateway calls made
    recorded_at        timestamptz NOT NULL,      -- when FriendAdded was recorded (UTC)
    enqueued_at        timestamptz,               -- last time a message was enqueued
    template_id        text,
    outcome            text CHECK (outcome IN ('sent', 'failed')),  -- the gateway's answer
    answered_at        timestamptz,               -- when the gateway answered
    completed_at       timestamptz,               -- when the outcome event was recorded
    gateway_message_id text,
    failure            text
);
CREATE INDEX IF NOT EXISTS welcome_outbox_pending_idx
    ON welcome_outbox (enqueued_at, recorded_at) WHERE status = 'pending';
-- v2: the code's state (which channel code the add came through) and the add's business time
-- (a WeCom welcome_code is valid for 20 seconds after it; no call is made after that)
ALTER TABLE welcome_outbox ADD COLUMN IF NOT EXISTS state text;
ALTER TABLE welcome_outbox ADD COLUMN IF NOT EXISTS occurred_at timestamptz;

CREATE TABLE IF NOT EXISTS staff_alert_outbox (
    alert_key    text PRIMARY KEY,     -- the cause; the StaffAlert id derives from it
    kind         text        NOT NULL,
    staff_id     text        NOT NULL, -- whose customer or conduct it concerns
    customer_id  uuid,
    context      jsonb       NOT NULL DEFAULT '{}',
    occurred_at  timestamptz NOT NULL, -- business time of the cause (UTC)
    status       text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'done', 'skipped')),
    enqueued_at  timestamptz,
    completed_at timestamptz
);
CREATE INDEX IF NOT EXISTS staff_alert_outbox_pending_idx
    ON staff_alert_outbox (enqueued_at, occurred_at) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS unanswered_message (
    customer_id  uuid        NOT NULL,
    staff_id     text        NOT NULL,
    since        timestamptz NOT NULL, -- the oldest unanswered customer message (UTC)
    position     bigint      NOT NULL,
    PRIMARY KEY (customer_id, staff_id)
);
CREATE INDEX IF NOT EXISTS unanswered_message_since_idx ON unanswered_message (since);

-- Campaigns (docs/bi.md): one row per campaign, one per planned send, one per exclusion.
CREATE TABLE IF NOT EXISTS campaign (
    campaign_id      uuid PRIMARY KEY,
    name             text        NOT NULL,
    owner            text        NOT NULL,
    channel          text        NOT NULL,
    segment_id       uuid        NOT NULL,
    state            text        NOT NULL,
    variants         jsonb       NOT NULL,
    holdout_percent  integer     NOT NULL,
    cost_fen         bigint      NOT NULL,
    attribution_days integer     NOT NULL,
    harm_days        integer     NOT NULL,
    drafted_by       text        NOT NULL,
    drafted_at       timestamptz NOT NULL,
    start_at         timestamptz,
    launched_at      timestamptz,
    audience         integer     NOT NULL DEFAULT 0,
    included         integer     NOT NULL DEFAULT 0,
    deferred         integer     NOT NULL DEFAULT 0,
    excluded         jsonb       NOT NULL DEFAULT '{}',
    sent             integer     NOT NULL DEFAULT 0,
    delivered        integer     NOT NULL DEFAULT 0,
    failed           integer     NOT NULL DEFAULT 0,
    completed_at     timestamptz,
    cancelled_at     timestamptz,
    cancel_reason    text,
    last_version     bigint      NOT NULL,
    message_class    text        NOT NULL DEFAULT 'marketing'  -- v4: or service
);
CREATE TABLE IF NOT EXISTS campaign_send (
    campaign_id  uuid        NOT NULL,
    customer_id  uuid        NOT NULL,
    step         integer     NOT NULL,
    variant_id   text        NOT NULL,
    send_at      timestamptz NOT NULL,
    sender       text,
    status       text        NOT NULL CHECK (status IN ('planned', 'sent', 'failed', 'cancelled')),
    detail       text,
    outcome_at   timestamptz,
    delivery     text,                  -- WeCom mass send: final status of the message
    delivered_at timestamptz,           -- ... and when: the member sent the task (or expiry)
    PRIMARY KEY (campaign_id, customer_id, step)
);
CREATE INDEX IF NOT EXISTS campaign_send_due_idx ON campaign_send (send_at)
    WHERE status = 'planned';
CREATE INDEX IF NOT EXISTS campaign_send_customer_idx ON campaign_send (customer_id, send_at);
CREATE TABLE IF NOT EXISTS campaign_exclusion (
    campaign_id  uuid NOT NULL,
    customer_id  uuid NOT NULL,
    reason       text NOT NULL,
    PRIMARY KEY (campaign_id, customer_id)
);
-- Customer events a campaign report measures: reads and clicks of a campaign, and harm
-- (deleted the staff member, muted, do-not-disturb, marketing consent withdrawn).
CREATE TABLE IF NOT EXISTS campaign_customer_event (
    customer_id  uuid        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('read', 'clicked', 'friend_deleted',
                                                      'muted', 'dnd', 'consent_withdrawn')),
    campaign_id  uuid,
    at           timestamptz NOT NULL,
    position     bigint      NOT NULL PRIMARY KEY
);
CREATE INDEX IF NOT EXISTS campaign_customer_event_idx
    ON campaign_customer_event (customer_id, kind, at);
-- A group campaign's groups with WeCom's final word (GroupsDelivered): delivered,
-- already_received (status 3) or expired. Planning counts a group's quota from it.
CREATE TABLE IF NOT EXISTS campaign_group_delivery (
    campaign_id uuid        NOT NULL,
    chat_id     text        NOT NULL,
    status      text        NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, chat_id)
);
CREATE INDEX IF NOT EXISTS campaign_group_delivery_chat_idx
    ON campaign_group_delivery (chat_id, at);
-- WeCom mass-send tasks: one per (campaign, sender staff member); confirmed by the staff
-- member in WeCom, or expired. Execution rate per staff = confirmed / finished tasks.
CREATE TABLE IF NOT EXISTS campaign_task (
    campaign_id    uuid    NOT NULL,
    task_id        text    NOT NULL,
    sender         text,
    recipients     integer NOT NULL DEFAULT 0,
    sent           integer NOT NULL DEFAULT 0,
    not_friend     integer NOT NULL DEFAULT 0,
    quota_exceeded integer NOT NULL DEFAULT 0,
    expired        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, task_id)
);
CREATE OR REPLACE VIEW campaign_task_view AS
SELECT t.*, (t.sent + t.not_friend + t.quota_exceeded) > 0 AS confirmed,
       (t.sent + t.not_friend + t.quota_exceeded + t.expired) = t.recipients AS finished
FROM campaign_task t;

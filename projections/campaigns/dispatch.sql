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
-- internal: every send about to leave, recorded (committed) before the provider is called;
-- one row per send key, the rows of one provider request share an intent_id. outcome NULL:
-- the call may be in flight or its answer lost (reconciled, or recorded unknown).
CREATE TABLE IF NOT EXISTS siyu_send_intent (
    send_key    text PRIMARY KEY,
    intent_id   uuid        NOT NULL,
    channel     text        NOT NULL,
    sender      text,                       -- WeCom mass send: the member's UserID
    text_digest text        NOT NULL,       -- SHA-256 of the text sent
    started_at  timestamptz NOT NULL,       -- the database's clock, before the call
    outcome     text CHECK (outcome IN ('sent', 'not_sent', 'unknown')),
    detail      text,                       -- msgid / serial, or the reason
    settled_at  timestamptz
);
CREATE INDEX IF NOT EXISTS siyu_send_intent_intent_idx ON siyu_send_intent (intent_id);
CREATE INDEX IF NOT EXISTS siyu_send_intent_detail_idx ON siyu_send_intent (detail)
    WHERE outcome = 'sent';
-- internal: the reminders (remind_groupmsg_send) asked for each WeCom mass-send task
CREATE TABLE IF NOT EXISTS siyu_task_reminder (
    campaign_id uuid        NOT NULL,
    task_id     text        NOT NULL,
    number      integer     NOT NULL,
    noted_at    timestamptz NOT NULL,
    PRIMARY KEY (task_id, number)
);
-- internal: mass messages members sent themselves from the WeCom client (群发助手), listed by
-- get_groupmsg_list_v2 (filter_type 1) and read per recipient by workers.wecom_quota: they use
-- the customers' WeCom quota. kind: 'sent' (status 1) or 'quota_full' (status 3: the
-- customer already had the period's mass messages). sent_at: the task's creation time.
CREATE TABLE IF NOT EXISTS siyu_wecom_member_send (
    task_id     text        NOT NULL,
    customer_id uuid        NOT NULL,
    sent_at     timestamptz NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('sent', 'quota_full')),
    PRIMARY KEY (task_id, customer_id)
);
CREATE INDEX IF NOT EXISTS siyu_wecom_member_send_customer_idx
    ON siyu_wecom_member_send (customer_id, sent_at);
-- internal: mass messages members sent themselves from the WeCom client into their customer
-- groups (get_groupmsg_list_v2 chat_type group, filter_type 1), read per group by
-- workers.wecom_quota: they use the groups' WeCom quota. kind as above, per chat_id;
-- sent_at: when the member sent it.
CREATE TABLE IF NOT EXISTS siyu_wecom_member_group_send (
    task_id text        NOT NULL,
    chat_id text        NOT NULL,
    sent_at timestamptz NOT NULL,
    kind    text        NOT NULL CHECK (kind IN ('sent', 'quota_full')),
    PRIMARY KEY (task_id, chat_id)
);
CREATE INDEX IF NOT EXISTS siyu_wecom_member_group_send_chat_idx
    ON siyu_wecom_member_group_send (chat_id, sent_at);
-- internal: the member-created tasks read so far (to customers or into groups); settled: every recipient final (not read again)
CREATE TABLE IF NOT EXISTS siyu_wecom_member_task (
    task_id    text        PRIMARY KEY,
    creator    text        NOT NULL,
    created_at timestamptz NOT NULL,
    settled    boolean     NOT NULL
);

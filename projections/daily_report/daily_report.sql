-- Daily-report read models (数据日报). Documented for BI in docs/bi.md.
-- Days are calendar days in Asia/Shanghai (UTC+08:00, no daylight saving); money in fen.

-- Per staff member and day: what the daily report counts.
CREATE TABLE IF NOT EXISTS daily_report_activity (
    staff_id             text    NOT NULL,
    day                  date    NOT NULL,
    new_friends          integer NOT NULL DEFAULT 0,
    deleted_by_customer  integer NOT NULL DEFAULT 0,
    deleted_by_staff     integer NOT NULL DEFAULT 0,
    messages_received    integer NOT NULL DEFAULT 0,
    messages_sent        integer NOT NULL DEFAULT 0,
    orders               integer NOT NULL DEFAULT 0,
    gmv_fen              bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (staff_id, day)
);

-- Internal: each customer's owner as of the projection's position in the log.
CREATE TABLE IF NOT EXISTS daily_report_owner (
    customer_id uuid PRIMARY KEY,
    staff_id    text NOT NULL
);

-- One row per compiled report (recipient, day).
CREATE TABLE IF NOT EXISTS daily_report (
    report_id     uuid PRIMARY KEY,
    recipient_id  text        NOT NULL,
    scope         text        NOT NULL,
    day           date        NOT NULL,
    figures       jsonb       NOT NULL,
    previous      jsonb       NOT NULL,
    targets       jsonb       NOT NULL DEFAULT '[]',
    members       jsonb       NOT NULL DEFAULT '[]',
    compiled_at   timestamptz NOT NULL,
    status        text        NOT NULL,
    sent_at       timestamptz,
    failure       text,
    last_version  bigint      NOT NULL,
    UNIQUE (recipient_id, day)
);

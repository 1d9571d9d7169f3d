-- Enterprise moment tasks (客户朋友圈). Documented for BI in docs/moments.md. Times UTC.
CREATE TABLE IF NOT EXISTS moment_task (
    task_id          uuid PRIMARY KEY,
    position         bigint      NOT NULL,
    content          text        NOT NULL,         -- the brand's text (not personal data)
    staff_ids        text[]      NOT NULL,         -- members asked to post it
    user_ids         text[]      NOT NULL,         -- their WeCom UserIDs, in the same order
    -- what customer_profile.current_staff_ids holds for these members (uuid or wecom_user:)
    audience_staff   text[]      NOT NULL,
    tags             text[]      NOT NULL DEFAULT '{}',  -- only customers with one of them
    day              date        NOT NULL,         -- business day (Asia/Shanghai) it is for
    audience         integer     NOT NULL,         -- customers in range when planned
    status           text        NOT NULL,         -- planned | submitting | submitted | accepted
                                                   -- | unknown | refused | cancelled
    attempts         integer     NOT NULL DEFAULT 0,
    attempted_at     timestamptz,
    jobid            text,
    moment_id        text,
    invalid_user_ids text[]      NOT NULL DEFAULT '{}',
    refused_reason   text,
    posted_user_ids  text[]      NOT NULL DEFAULT '{}',
    posted_count     integer     NOT NULL DEFAULT 0,
    stopped_at_wecom boolean     NOT NULL DEFAULT false,  -- cancelled and nothing left at
                                                   -- WeCom (stopped there, or it made none)
    cancelled_creating boolean   NOT NULL DEFAULT false,  -- cancelled while WeCom created it
    created_by       text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    last_version     bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS moment_task_day_idx ON moment_task (day, status);
CREATE INDEX IF NOT EXISTS moment_task_status_idx ON moment_task (status);

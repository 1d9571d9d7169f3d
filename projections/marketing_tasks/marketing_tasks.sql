-- Marketing-task read model. Documented for BI in docs/bi.md. Times UTC; due_day is the
-- Asia/Shanghai business day of due_at.

-- One row per marketing task (营销任务). status: open | completed | cancelled; overdue is
-- derived (open past due_at): see marketing_task_view.
CREATE TABLE IF NOT EXISTS marketing_task (
    task_id          uuid PRIMARY KEY,
    assignment_key   text        NOT NULL UNIQUE,
    title            text        NOT NULL,
    kind             text        NOT NULL,
    staff_id         text        NOT NULL,
    previous_staff   text[]      NOT NULL,
    status           text        NOT NULL,
    due_at           timestamptz NOT NULL,
    due_day          date        NOT NULL,
    campaign_id      uuid,
    segment_id       uuid,
    target_count     integer,
    completed_count  integer,
    evidence         text[]      NOT NULL,
    assigned_by      text        NOT NULL,
    assigned_at      timestamptz NOT NULL,
    reassigned_by    text,
    reassigned_at    timestamptz,
    completed_by     text,
    completed_at     timestamptz,
    cancelled_by     text,
    cancelled_at     timestamptz,
    cancel_reason    text,
    position         bigint      NOT NULL,
    last_version     bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS marketing_task_staff_idx ON marketing_task (staff_id, due_at, task_id);
CREATE INDEX IF NOT EXISTS marketing_task_due_idx ON marketing_task (due_at, task_id);
CREATE INDEX IF NOT EXISTS marketing_task_campaign_idx ON marketing_task (campaign_id)
    WHERE campaign_id IS NOT NULL;

-- With what is derived at read time: overdue now, and whether a completion was late.
CREATE OR REPLACE VIEW marketing_task_view AS
SELECT t.*, (t.status = 'open' AND t.due_at < now()) AS overdue,
       (t.status = 'completed' AND t.completed_at > t.due_at) AS completed_late
FROM marketing_task t;

-- Automated sequences (SOPs), docs/bi.md: one row per sequence, per revision, per
-- enrolment (a customer's run through one revision) and per step of an enrolment.
CREATE TABLE IF NOT EXISTS sop (
    sop_id            uuid PRIMARY KEY,
    name              text        NOT NULL,
    owner             text        NOT NULL,
    state             text        NOT NULL CHECK (state IN ('active', 'paused', 'archived')),
    revision          integer     NOT NULL,
    trigger           jsonb       NOT NULL,
    steps             jsonb       NOT NULL,
    stop_on_converted boolean     NOT NULL,
    stop_on_opted_out boolean     NOT NULL,
    defined_by        text        NOT NULL,
    defined_at        timestamptz NOT NULL,
    changed_at        timestamptz NOT NULL,
    last_version      bigint      NOT NULL
);
CREATE TABLE IF NOT EXISTS sop_revision (
    sop_id            uuid        NOT NULL,
    revision          integer     NOT NULL,
    name              text        NOT NULL,
    trigger           jsonb       NOT NULL,
    steps             jsonb       NOT NULL,
    stop_on_converted boolean     NOT NULL,
    stop_on_opted_out boolean     NOT NULL,
    revised_by        text        NOT NULL,
    revised_at        timestamptz NOT NULL,
    PRIMARY KEY (sop_id, revision)
);
CREATE TABLE IF NOT EXISTS sop_enrolment (
    enrolment_id      uuid PRIMARY KEY,
    sop_id            uuid        NOT NULL,
    revision          integer     NOT NULL,
    customer_id       uuid        NOT NULL,
    trigger_kind      text        NOT NULL,
    trigger_version   bigint      NOT NULL,   -- the triggering event's customer-stream version
    trigger_group     text,                   -- group_joined: the group joined
    triggered_at      timestamptz NOT NULL,
    state             text        NOT NULL CHECK (state IN ('active', 'completed', 'stopped')),
    stop_reason       text CHECK (stop_reason IN ('converted', 'opted_out', 'archived',
                                              'left_group')),
    ended_at          timestamptz,
    stop_on_converted boolean     NOT NULL,
    stop_on_opted_out boolean     NOT NULL
);
CREATE INDEX IF NOT EXISTS sop_enrolment_customer_idx ON sop_enrolment (customer_id, state);
CREATE INDEX IF NOT EXISTS sop_enrolment_sop_idx ON sop_enrolment (sop_id, state);
CREATE TABLE IF NOT EXISTS sop_send (
    enrolment_id  uuid        NOT NULL,
    step          integer     NOT NULL,
    sop_id        uuid        NOT NULL,
    revision      integer     NOT NULL,
    customer_id   uuid        NOT NULL,
    channel       text        NOT NULL,
    message_class text        NOT NULL DEFAULT 'marketing',  -- the step's: marketing, service
    due_at        timestamptz NOT NULL,
    status        text        NOT NULL CHECK (status IN ('planned', 'sent', 'failed', 'skipped',
                                                         'cancelled')),
    variant_id    text,
    detail        text,
    sender        text,                       -- a sent WeCom mass send: the staff id ...
    sender_basis  text,                       -- ... and why: LAST_CHATTED, OWNER, FRIEND
    outcome_at    timestamptz,
    PRIMARY KEY (enrolment_id, step)
);
CREATE INDEX IF NOT EXISTS sop_send_due_idx ON sop_send (due_at) WHERE status = 'planned';
CREATE INDEX IF NOT EXISTS sop_send_contact_idx ON sop_send (customer_id, outcome_at)
    WHERE status = 'sent';
CREATE OR REPLACE VIEW sop_progress AS
SELECT s.sop_id, s.name, s.state, s.revision,
       count(e.enrolment_id) AS enrolled,
       count(*) FILTER (WHERE e.state = 'active') AS active,
       count(*) FILTER (WHERE e.state = 'completed') AS completed,
       count(*) FILTER (WHERE e.state = 'stopped') AS stopped,
       count(*) FILTER (WHERE e.stop_reason = 'converted') AS stopped_converted,
       count(*) FILTER (WHERE e.stop_reason = 'opted_out') AS stopped_opted_out,
       count(*) FILTER (WHERE e.stop_reason = 'archived') AS stopped_archived,
       count(*) FILTER (WHERE e.stop_reason = 'left_group') AS stopped_left_group
FROM sop s LEFT JOIN sop_enrolment e USING (sop_id)
GROUP BY s.sop_id;
CREATE OR REPLACE VIEW sop_step_progress AS
SELECT sop_id, revision, step, min(channel) AS channel,
       count(*) FILTER (WHERE status = 'planned') AS planned,
       count(*) FILTER (WHERE status = 'sent') AS sent,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'skipped') AS skipped,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled
FROM sop_send GROUP BY sop_id, revision, step;

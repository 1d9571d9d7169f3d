CREATE TABLE IF NOT EXISTS sop_dispatch (   -- internal: what the SOP dispatcher enqueued
    enrolment_id uuid    NOT NULL,
    step         integer NOT NULL,
    enqueued_at  timestamptz,
    not_before   timestamptz,                -- deferred out of quiet hours until then
    PRIMARY KEY (enrolment_id, step)
);
-- internal: a step decided under the customer's lock and being sent; counts toward the
-- caps (projections.campaign_planning.read_contacts) until the sop read model shows its
-- outcome
CREATE TABLE IF NOT EXISTS sop_contact_reservation (
    enrolment_id uuid        NOT NULL,
    step         integer     NOT NULL,
    customer_id  uuid        NOT NULL,
    channel      text        NOT NULL,
    reserved_at  timestamptz NOT NULL,
    PRIMARY KEY (enrolment_id, step)
);
CREATE INDEX IF NOT EXISTS sop_contact_reservation_customer_idx
    ON sop_contact_reservation (customer_id, reserved_at);
CREATE INDEX IF NOT EXISTS sop_contact_reservation_at_idx
    ON sop_contact_reservation (reserved_at);
-- internal: the enrolment whose group step goes into a customer group on a day (Asia/
-- Shanghai): one message per (sequence, step, group, day), whoever else joins that day
CREATE TABLE IF NOT EXISTS sop_group_send (
    sop_id       uuid        NOT NULL,
    step         integer     NOT NULL,
    group_id     text        NOT NULL,
    day          date        NOT NULL,
    enrolment_id uuid        NOT NULL,
    claimed_at   timestamptz NOT NULL,
    PRIMARY KEY (sop_id, step, group_id, day)
);
CREATE INDEX IF NOT EXISTS sop_group_send_group_idx ON sop_group_send (group_id, day);

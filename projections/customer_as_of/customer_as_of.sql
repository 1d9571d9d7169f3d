-- customer_as_of (internal, not for BI): what makes a customer's state at an instant of
-- business time fast to fold (docs/audit.md). Times UTC.
-- Every customer event's business time, by stream and version: the events of a stream
-- that count at an instant are found without decoding the others.
CREATE TABLE IF NOT EXISTS siyu_customer_as_of (
    customer_id  uuid        NOT NULL,   -- the stream (a customer id, merged or not)
    version      bigint      NOT NULL,   -- originator_version in the event log
    occurred_at  timestamptz NOT NULL,   -- business time
    position     bigint      NOT NULL,   -- notification id
    PRIMARY KEY (customer_id, version)
);
-- The state of a stream after its first `version` events (every 100), and the latest
-- business time among them: usable for any instant at or after `through_at`.
CREATE TABLE IF NOT EXISTS siyu_customer_as_of_checkpoint (
    customer_id  uuid        NOT NULL,
    version      bigint      NOT NULL,
    through_at   timestamptz NOT NULL,
    state        bytea       NOT NULL,   -- the application's transcoder (JSON)
    PRIMARY KEY (customer_id, version)
);

-- Alert and lexicon read models. Documented for BI in docs/bi.md. Times UTC.

-- One row per staff alert (win-back task, chat timeout, sensitive word).
CREATE TABLE IF NOT EXISTS staff_alert (
    alert_id         uuid PRIMARY KEY,
    alert_key        text        NOT NULL UNIQUE,
    kind             text        NOT NULL,
    status           text        NOT NULL,
    staff_id         text        NOT NULL,
    customer_id      uuid,
    recipients       text[]      NOT NULL,
    categories       text[]      NOT NULL,
    term_ids         text[]      NOT NULL,
    message_ref      text,
    context          jsonb       NOT NULL,
    raised_at        timestamptz NOT NULL,
    delivered_to     text[]      NOT NULL,
    failed_to        text[]      NOT NULL,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    resolved_by      text,
    resolved_at      timestamptz,
    resolution_note  text,
    position         bigint      NOT NULL,
    last_version     bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS staff_alert_open_idx ON staff_alert (status, position);
CREATE INDEX IF NOT EXISTS staff_alert_recipients_idx ON staff_alert USING gin (recipients);

-- The sensitive-word lexicon: one row per term ever added (removed ones keep their row).
CREATE TABLE IF NOT EXISTS sensitive_term (
    term_id     text PRIMARY KEY,
    category    text        NOT NULL,
    term        text        NOT NULL,
    added_by    text        NOT NULL,
    added_at    timestamptz NOT NULL,
    removed_by  text,
    removed_at  timestamptz,
    version     bigint      NOT NULL
);
CREATE TABLE IF NOT EXISTS sensitive_category (
    category    text PRIMARY KEY,
    label       text   NOT NULL,
    built_in    boolean NOT NULL,
    version     bigint NOT NULL
);

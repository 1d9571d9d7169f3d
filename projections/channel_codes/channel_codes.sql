-- Channel codes (渠道活码). Documented for BI in docs/channel-codes.md. Times UTC.
CREATE TABLE IF NOT EXISTS channel_code (
    code_id         uuid PRIMARY KEY,
    position        bigint      NOT NULL,
    state           text        NOT NULL UNIQUE,  -- the contact way's state (callbacks' State)
    name            text        NOT NULL,
    channel         text        NOT NULL,
    user_ids        text[]      NOT NULL,         -- members' WeCom UserIDs
    staff_ids       text[]      NOT NULL,
    welcome_text    text,
    tags            text[]      NOT NULL DEFAULT '{}',
    skip_verify     boolean     NOT NULL,
    revision        integer     NOT NULL,         -- changes decided so far
    synced_revision integer     NOT NULL,         -- the change WeCom has
    config_id       text,                         -- WeCom's contact way id
    qr_code         text,                         -- the QR code's URL
    wecom_status    text        NOT NULL,         -- pending | registered | refused | removed
    refused_reason  text,
    deleted_at      timestamptz,
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL,
    updated_at      timestamptz NOT NULL,
    last_version    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS channel_code_channel_idx ON channel_code (channel);

-- One row per friend add through a code (a FriendAdded whose state is the code's).
CREATE TABLE IF NOT EXISTS channel_code_friend (
    code_id     uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    version     bigint      NOT NULL,   -- the FriendAdded's version in the customer's stream
    staff_id    text        NOT NULL,
    added_at    timestamptz NOT NULL,
    PRIMARY KEY (customer_id, version)
);
CREATE INDEX IF NOT EXISTS channel_code_friend_code_idx ON channel_code_friend (code_id, added_at);

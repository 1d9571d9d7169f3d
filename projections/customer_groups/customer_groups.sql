-- The customer-group directory (客户群). Documented for BI in docs/bi.md. Times UTC.
-- A group appears with its creation callback or with the first customer seen joining it
-- (owner and creation unknown until WeCom's creation callback is recorded).
CREATE TABLE IF NOT EXISTS customer_group (
    chat_id       text PRIMARY KEY,             -- WeCom's chat id of the group
    stream_id     uuid UNIQUE,                  -- the CustomerGroup stream; null: creation not recorded
    corp_id       text,
    owner_user_id text,                         -- the owner's (群主) WeCom UserID; null: unknown
    created_at    timestamptz,                  -- WeCom's creation time; null: unknown
    dismissed_at  timestamptz,                  -- null: not dismissed
    member_count  integer     NOT NULL DEFAULT 0, -- customers known in it now (not staff)
    name          text,                         -- WeCom's group name (group sync); null: not synced
    customer_count integer,                     -- customers in it as WeCom counts (group sync)
    staff_count   integer,                      -- corp members in it as WeCom counts (group sync)
    counted_at    timestamptz,                  -- when the group sync last saw the counts change
    first_seen    bigint      NOT NULL,         -- position of the first event about it
    updated_at    timestamptz NOT NULL          -- business time of its last change
);
CREATE INDEX IF NOT EXISTS customer_group_owner_idx ON customer_group (owner_user_id);

-- The customers known to be in a group now (joined, not left since).
CREATE TABLE IF NOT EXISTS customer_group_member (
    chat_id     text        NOT NULL,
    customer_id uuid        NOT NULL,
    joined_at   timestamptz NOT NULL,
    PRIMARY KEY (chat_id, customer_id)
);
CREATE INDEX IF NOT EXISTS customer_group_member_customer_idx
    ON customer_group_member (customer_id);

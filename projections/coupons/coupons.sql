-- Coupon ledger: one row per coupon issued with a redemption code (核销码). Documented in
-- docs/bi.md. Money in fen; times timestamptz (UTC). Never holds the redemption code.
-- Expired = redeemed_at IS NULL AND expires_at <= now() (time passes without events).
CREATE TABLE IF NOT EXISTS coupon_ledger (
    coupon_id     uuid        PRIMARY KEY,  -- a keyed hash of the code, as in the events
    customer_id   uuid        NOT NULL,     -- the holder when issued
    value_fen     bigint      NOT NULL,
    source        text        NOT NULL,     -- manual | referral
    campaign_id   uuid,                     -- the referral campaign, when source = referral
    issued_by     text        NOT NULL,
    issued_at     timestamptz NOT NULL,
    expires_at    timestamptz,              -- null: never expires
    redeemed_at   timestamptz,
    redeemed_by   text,
    store_id      text,
    last_version  bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS coupon_ledger_customer_idx ON coupon_ledger (customer_id, issued_at);
CREATE INDEX IF NOT EXISTS coupon_ledger_campaign_idx ON coupon_ledger (campaign_id)
    WHERE campaign_id IS NOT NULL;

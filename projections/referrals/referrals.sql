-- Referral campaigns (裂变): progress per campaign and per inviter. Documented in docs/bi.md.
-- Money in fen (integers); times are timestamptz (UTC). Counts only grow.
CREATE TABLE IF NOT EXISTS referral_campaign (
    campaign_id            uuid        PRIMARY KEY,
    name                   text        NOT NULL,
    state                  text        NOT NULL,  -- draft | active | ended
    starts_at              timestamptz NOT NULL,
    ends_at                timestamptz,            -- null: open-ended
    success                text        NOT NULL,  -- friend_added | first_order
    order_days             integer,                -- first_order: days after the referral
    inviter_reward_kind    text        NOT NULL,  -- coupon | points
    inviter_reward_value   bigint      NOT NULL,  -- fen (coupon) or points
    invitee_reward_kind    text,
    invitee_reward_value   bigint,
    cap_per_inviter        integer,                -- null: uncapped
    created_by             text        NOT NULL,
    created_at             timestamptz NOT NULL,
    activated_at           timestamptz,
    ended_at               timestamptz,
    invite_codes           integer     NOT NULL,  -- inviters who asked for a code
    invitees               integer     NOT NULL,  -- new customers attributed
    inviter_rewards        integer     NOT NULL,  -- inviter rewards paid (capped ones are not)
    invitee_rewards        integer     NOT NULL,
    reward_points          bigint      NOT NULL,  -- points paid, both rules
    reward_coupon_fen      bigint      NOT NULL,  -- face value of coupons issued, both rules
    last_version           bigint      NOT NULL
);
CREATE TABLE IF NOT EXISTS referral_inviter (
    campaign_id            uuid        NOT NULL,
    inviter_id             uuid        NOT NULL,  -- the inviter's customer id (never a name)
    code_issued_at         timestamptz,            -- null: attributed without a code (REFERRED)
    invitees               integer     NOT NULL,
    rewards                integer     NOT NULL,
    reward_points          bigint      NOT NULL,
    reward_coupon_fen      bigint      NOT NULL,
    last_referral_at       timestamptz,
    PRIMARY KEY (campaign_id, inviter_id)
);
CREATE INDEX IF NOT EXISTS referral_inviter_rank_idx
    ON referral_inviter (campaign_id, invitees DESC, inviter_id);

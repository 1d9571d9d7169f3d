"""The ``referral_campaign`` and ``referral_inviter`` read models: folds and view (:mod:`.view`,
``referrals.sql``) and the queries the API answers from them (:mod:`.queries`)."""

from projections.referrals.view import (
    ReferralProgressView,
    campaign_of,
    fold_campaign,
    fold_inviter,
    inviter_of,
)

__all__ = ["ReferralProgressView", "campaign_of", "fold_campaign", "fold_inviter", "inviter_of"]

"""Read-model groups: which read models one projections process runs.

``siyu projections --only GROUP…`` runs the named groups in one process, each group
from one shared read of the log (:mod:`projections.shared_pages`). Without ``--only``,
``siyu projections`` starts :data:`DEFAULT_SPLIT` as child processes — what made the
whole set fastest on a 2-core machine: the customer profile (with its segments, about
half the work) alone, everything else together (docs/operations.md).
"""

from __future__ import annotations

GROUPS: dict[str, tuple[str, ...]] = {
    "profile": ("customer_profile",),
    "staff": ("staff_directory", "staff_assignment", "customer_ownership",
              "staff_daily_performance", "staff_alert", "staff_target", "daily_report"),
    "engagement": ("tag_group", "campaign", "chat_script", "referral_campaign",
                   "coupon_ledger", "sop", "marketing_task", "activity", "channel_code",
                   "siyu_customer_as_of", "moment_task", "customer_group",
                   "wecom_corp_tag"),
    "analytics": ("funnel_customer", "product", "content", "private_domain_link"),
}
#: The processes ``siyu projections`` starts by default, each running these groups.
DEFAULT_SPLIT: tuple[tuple[str, ...], ...] = (("profile",), ("staff", "engagement", "analytics"))


def names_of(groups: list[str] | tuple[str, ...]) -> set[str]:
    """The read-model names of ``groups`` (every group when empty)."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown read-model group(s) {unknown}; known: {sorted(GROUPS)}")
    return {name for g in (groups or list(GROUPS)) for name in GROUPS[g]}

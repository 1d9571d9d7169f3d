"""``private_domain_link``: when each customer was in each touchpoint of the private domain
(mini-program, groups, members, WeCom friends, personal WeChat), by business time — the
manager overview's daily series (:mod:`.view`, ``private_domain.sql``, :mod:`.queries`)."""

from projections.private_domain.view import (
    TOUCHPOINTS,
    PrivateDomainView,
    link_changes,
    link_intervals,
)

__all__ = ["TOUCHPOINTS", "PrivateDomainView", "link_changes", "link_intervals"]

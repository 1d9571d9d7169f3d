"""Activities (活动) and the customer journey: the ``activity`` and ``customer_journey``
read models (:mod:`.view`, ``activities.sql``), the attribution query (:mod:`.queries`) and
the four-level KPI tree built from its counts (:mod:`.tree`)."""

from projections.activities.view import ActivityView, journey_row

__all__ = ["ActivityView", "journey_row"]

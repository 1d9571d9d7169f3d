"""Funnels, cohorts, customer value, spread and satisfaction (docs/funnels.md): the
``funnel_customer`` read model and its rollups (:mod:`.view`, ``funnels.sql``), the pure
row logic (:mod:`.rows`) and the queries the API and BI read (:mod:`.queries`)."""

from projections.funnels.view import FunnelView

__all__ = ["FunnelView"]

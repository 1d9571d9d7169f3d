"""The ``staff_target`` read model: its fold and view (:mod:`.view`, ``targets.sql``) and the
queries the API answers from it (:mod:`.queries`)."""

from projections.targets.view import TargetView, apply, period_end

__all__ = ["TargetView", "apply", "period_end"]

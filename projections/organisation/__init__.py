"""The organisation read models (``staff_assignment``, ``customer_ownership``): folds and views
(:mod:`.view`, ``organisation.sql``, ``customer_ownership.sql``) and the queries the API and
the workers make (:mod:`.queries`)."""

from projections.organisation.view import (
    CustomerOwnershipView,
    StaffAssignmentView,
    assignment_periods,
    owner_at,
    ownership_periods,
)

__all__ = ["CustomerOwnershipView", "StaffAssignmentView", "assignment_periods", "owner_at",
           "ownership_periods"]

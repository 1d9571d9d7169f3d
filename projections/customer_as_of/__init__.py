"""A customer's state at an instant of business time (``customer(id, asOf:)``), folded from
the event log: the pure fold (:mod:`.fold`), the checkpoints and business-time index that
make it fast (:mod:`.view`, read model ``customer_as_of``), and the reads (:mod:`.queries`).
Which events count at an instant is defined in :mod:`.fold` and docs/audit.md."""

from projections.customer_as_of.fold import INTERVAL, counts_at, fold, row_at
from projections.customer_as_of.view import CustomerAsOfView

__all__ = ["INTERVAL", "CustomerAsOfView", "counts_at", "fold", "row_at"]

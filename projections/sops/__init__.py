"""The SOP read models (``sop``, ``sop_revision``, ``sop_enrolment``, ``sop_send`` and the
progress views): fold and view (:mod:`.view`, ``sops.sql``), the queries the API makes
(:mod:`.queries`) and the step dispatcher's claims and reservations (:mod:`.dispatch`,
``dispatch.sql``)."""

from projections.sops.view import SopView, occurrence

__all__ = ["SopView", "occurrence"]

"""The supervision read models: ``staff_alert`` and the sensitive-word lexicon (fold and view:
:mod:`.view`, ``staff_alerts.sql``; the API's reads: :mod:`.queries`), and the alert
worker's outbox (``staff_alert_outbox``, ``unanswered_message``: :mod:`.outbox`,
``outbox.sql``)."""

from projections.staff_alerts.view import StaffAlertView, alert_row

__all__ = ["StaffAlertView", "alert_row"]

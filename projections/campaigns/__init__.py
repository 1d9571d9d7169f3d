"""The campaign read models (``campaign``, ``campaign_send``, ``campaign_exclusion``,
``campaign_customer_event``, ``campaign_task``): fold and view (:mod:`.view`,
``campaigns.sql``), the queries the API makes (:mod:`.queries`) and the campaign workers'
statements (:mod:`.dispatch`, ``dispatch.sql``: the dispatcher's claims, the shared rate
limiter, the launcher's and the mass-send sync's reads)."""

from projections.campaigns.view import MEASURED, TABLES, CampaignView

__all__ = ["MEASURED", "TABLES", "CampaignView"]

"""The staff performance read models (``staff_daily_performance``, ``staff_daily_channel``, the
``staff_kpi_*`` tables and the ``staff_kpi_rollup`` function): fold and view (:mod:`.view`,
``staff_performance.sql``) and the KPI queries the API makes (:mod:`.queries`)."""

from projections.staff_performance.view import (
    KPI_CHANNEL,
    SHANGHAI,
    StaffPerformanceView,
    business_day,
    counter_deltas,
    friend_at,
    notify_kpis_changed,
)

__all__ = ["KPI_CHANNEL", "SHANGHAI", "StaffPerformanceView", "business_day", "counter_deltas",
           "friend_at", "notify_kpis_changed"]

"""The daily report read models (``daily_report_activity``, ``daily_report``): folds and view
(:mod:`.view`, ``daily_report.sql``) and the queries the API and the report job make
(:mod:`.queries`)."""

from projections.daily_report.view import (
    SHANGHAI,
    Counts,
    DailyReportView,
    count,
    report_row,
    shanghai_day,
)

__all__ = ["SHANGHAI", "Counts", "DailyReportView", "count", "report_row", "shanghai_day"]

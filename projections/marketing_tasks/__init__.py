"""The ``marketing_task`` read model: its fold and view (:mod:`.view`, ``marketing_tasks.sql``)
and the queries the API answers from it (:mod:`.queries`)."""

from projections.marketing_tasks.view import MarketingTaskView, task_row

__all__ = ["MarketingTaskView", "task_row"]

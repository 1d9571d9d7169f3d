"""Content (内容) and its figures: the ``content``, ``content_cadence``,
``content_engagement`` and ``content_conversion`` read models (:mod:`.view`,
``content.sql``) and the per-piece, per-author and per-kind figures (:mod:`.queries`)."""

from projections.content.view import ContentView

__all__ = ["ContentView"]

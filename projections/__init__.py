"""Read models: plain PostgreSQL tables built from the event log, exactly once.

Each projection is a pure row function ``(row | None, event) -> row`` plus a
view that applies a *batch* of events and records the batch's last tracking
position in the same transaction (see :mod:`projections.runner`).
"""

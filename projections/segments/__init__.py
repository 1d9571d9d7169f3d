"""The segment read models (``segment``, ``segment_membership``, ``segment_ledger``): rule
evaluation in Python (:mod:`.evaluation`) and in SQL (:mod:`.rule_sql`), the membership engine
(:mod:`.engine`), the store the profile view applies it through (:mod:`.store`,
``segments.sql``), the backfill of a new segment (:mod:`.backfill`), and the queries the API
and the auto-tagger make (:mod:`.queries`)."""

"""The ``tag_group`` read model: its fold and view (:mod:`.view`, ``tag_groups.sql``) and the
queries the API answers from it (:mod:`.queries`)."""

from projections.tag_groups.view import TagGroupView, apply, schema_sql

__all__ = ["TagGroupView", "apply", "schema_sql"]

"""The customer profile read model (``customer_profile``, ``customer_profile_view``,
``customer_profile_member``): its pure row fold (:mod:`.rows`; the PostgreSQL view is
:class:`projections.postgres_views.CustomerProfileView`, ``projections/schema.sql``) and the
queries the API makes (:mod:`.queries`: profiles, merges, history, identities, vault)."""

from projections.customer_profile.rows import VERSION, apply

__all__ = ["VERSION", "apply"]

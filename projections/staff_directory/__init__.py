"""The ``staff_directory`` read model's queries (:mod:`.queries`); its fold and view are
:class:`projections.postgres_views.StaffDirectoryView` (``projections/schema.sql``)."""

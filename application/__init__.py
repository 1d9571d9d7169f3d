"""The application layer: one module per capability, each a small class of commands over
the one unit of work (:mod:`application.unit_of_work`); :class:`application.app.Siyu`
composes them. The domain (aggregates, events, rules) knows nothing of it."""

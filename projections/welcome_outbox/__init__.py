"""The welcome outbox (``welcome_outbox``, internal: a ledger of work): its DDL
(``welcome_outbox.sql``) and every statement the welcome pipeline makes on it
(:mod:`.queries`); the view folding events into it is ``workers.outbox.WelcomeOutboxView``."""

"""The tables written with the events, in their transaction (see :mod:`adapters.recorders`):
the identity blind index, client event ids, vault keys and sealed values, customer merges
and tag claims."""

SIDE_TABLES_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.siyu_identity (
    blind_index text PRIMARY KEY,
    namespace   text NOT NULL,
    customer_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS siyu_identity_customer_idx ON {schema}.siyu_identity (customer_id);
CREATE TABLE IF NOT EXISTS {schema}.siyu_event_key (
    event_key   text PRIMARY KEY,
    customer_id uuid NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.siyu_vault_key (
    subject_id uuid PRIMARY KEY,
    wrapped    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.siyu_customer_merge (
    absorbed_id uuid PRIMARY KEY,
    survivor_id uuid NOT NULL,
    merged_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.siyu_vault_value (
    subject_id uuid NOT NULL,
    field      text NOT NULL,
    ciphertext bytea NOT NULL,
    PRIMARY KEY (subject_id, field)
);
CREATE TABLE IF NOT EXISTS {schema}.siyu_tag_claim (
    tag       text    NOT NULL,
    group_id  uuid    NOT NULL,
    exclusive boolean NOT NULL,
    live      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tag, group_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS siyu_tag_claim_live_idx ON {schema}.siyu_tag_claim (tag) WHERE live;
CREATE INDEX IF NOT EXISTS siyu_tag_claim_group_idx ON {schema}.siyu_tag_claim (group_id);
"""

#: The side tables, written with the events (views of them let ``siyu verify`` fold).
SIDE_TABLES = ("siyu_identity", "siyu_event_key", "siyu_vault_key", "siyu_customer_merge",
               "siyu_vault_value", "siyu_tag_claim")

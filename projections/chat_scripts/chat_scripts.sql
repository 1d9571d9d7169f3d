-- Chat-script library read models (话术库). Documented for BI in docs/bi.md. Times UTC.

-- One row per script: its current version.
CREATE TABLE IF NOT EXISTS chat_script (
    script_id    uuid PRIMARY KEY,
    kind         text        NOT NULL,
    scenario     text        NOT NULL,
    title        text        NOT NULL,
    body         text        NOT NULL,
    keywords     text[]      NOT NULL,
    version      integer     NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_by   text        NOT NULL,
    updated_at   timestamptz NOT NULL,
    archived_at  timestamptz,
    position     bigint      NOT NULL,
    last_version bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_script_scenario_idx ON chat_script (scenario, position);

-- Every content version of every script.
CREATE TABLE IF NOT EXISTS chat_script_version (
    script_id  uuid        NOT NULL,
    version    integer     NOT NULL,
    scenario   text        NOT NULL,
    title      text        NOT NULL,
    body       text        NOT NULL,
    keywords   text[]      NOT NULL,
    by         text        NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (script_id, version)
);

-- Uses of a script per staff member (from SCRIPT_USED).
CREATE TABLE IF NOT EXISTS chat_script_usage (
    script_id     text        NOT NULL,
    staff_id      text        NOT NULL,
    uses          integer     NOT NULL,
    last_used_at  timestamptz NOT NULL,
    PRIMARY KEY (script_id, staff_id)
);

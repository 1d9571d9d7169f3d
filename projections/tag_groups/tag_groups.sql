-- Tag library read models. Documented for BI in docs/bi.md. Times UTC.
CREATE TABLE IF NOT EXISTS tag_group (
    group_id     uuid PRIMARY KEY,
    position     bigint      NOT NULL,
    name         text        NOT NULL,
    tags         text[]      NOT NULL DEFAULT '{}',
    exclusive    boolean     NOT NULL,
    archived_at  timestamptz,
    archived_by  text,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_by   text        NOT NULL,
    updated_at   timestamptz NOT NULL,
    last_version bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS tag_group_tags_idx ON tag_group USING gin (tags);

-- Customers holding each tag, now. A function, not a subquery of the view: the view then does
-- not depend on customer_profile, and survives that table being dropped and rebuilt (a version
-- change of customer_profile drops it with CASCADE).
CREATE OR REPLACE FUNCTION siyu_tag_holders() RETURNS TABLE (tag text, customers bigint)
LANGUAGE sql STABLE AS $$
    SELECT t.tag, count(*) FROM customer_profile p CROSS JOIN LATERAL unnest(p.tags) AS t(tag)
    GROUP BY t.tag
$$;

-- How many customers hold each tag, now: one row per tag of a group (archived ones too, with
-- zero customers if nobody holds it) and one per free tag held by someone (group_id null).
CREATE OR REPLACE VIEW tag_usage AS
WITH grouped AS (
    SELECT g.group_id, g.name, g.exclusive, g.archived_at, t.tag, t.ordinal
    FROM tag_group g CROSS JOIN LATERAL unnest(g.tags) WITH ORDINALITY AS t(tag, ordinal)
)
SELECT coalesce(gr.tag, h.tag) AS tag,
       gr.group_id,
       gr.name AS group_name,
       gr.ordinal AS tag_order,
       coalesce(gr.exclusive, false) AS exclusive,
       gr.archived_at,
       coalesce(h.customers, 0) AS customers
FROM grouped gr
FULL JOIN siyu_tag_holders() h ON h.tag = gr.tag;

-- The corp's WeCom tag library as last listed, and each platform tag's WeCom tag id.
-- Documented for BI in docs/bi.md. Times UTC.
CREATE TABLE IF NOT EXISTS wecom_corp_tag (
    tag_id       text PRIMARY KEY,
    corp_id      text        NOT NULL,
    name         text        NOT NULL,
    group_id     text        NOT NULL,
    group_name   text        NOT NULL,
    tag_order    bigint      NOT NULL,
    group_order  bigint      NOT NULL,
    position     bigint      NOT NULL,
    listed_at    timestamptz NOT NULL,
    removed_at   timestamptz,
    last_version bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS wecom_corp_tag_name_idx ON wecom_corp_tag (group_name, name)
    WHERE removed_at IS NULL;

-- The live platform tags with their group's name. A function, not a subquery of the view:
-- the view then does not depend on tag_group, and survives that table being rebuilt.
CREATE OR REPLACE FUNCTION siyu_group_tags() RETURNS TABLE (group_name text, tag text)
LANGUAGE sql STABLE AS $$
    SELECT g.name, t.tag FROM tag_group g CROSS JOIN LATERAL unnest(g.tags) AS t(tag)
    WHERE g.archived_at IS NULL
$$;

-- Platform tag -> WeCom tag id: a tag of a live tag group matches the WeCom tag of the same
-- name in the WeCom tag group of the same name (WeCom keeps both unique).
CREATE OR REPLACE VIEW wecom_tag_map AS
SELECT gt.tag, gt.group_name, c.tag_id AS wecom_tag_id, c.group_id AS wecom_group_id, c.corp_id
FROM siyu_group_tags() gt
JOIN wecom_corp_tag c ON c.group_name = gt.group_name AND c.name = gt.tag
WHERE c.removed_at IS NULL;

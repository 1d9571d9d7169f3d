-- Private-domain users by touchpoint, by business time (docs/manager-overview.md, docs/bi.md).
-- private_domain_link (BI): one row per interval during which a customer was linked to a
-- touchpoint through one link (a group, a staff member's WeCom or personal WeChat, the
-- mini-program, membership). Times are timestamptz (UTC); business days are Asia/Shanghai.
-- A customer absorbed by a merge counts as its survivor (customer_id) on every day.
CREATE TABLE IF NOT EXISTS private_domain_link (
    customer_id  uuid        NOT NULL,  -- the customer (a merge survivor for absorbed streams)
    touchpoint   text        NOT NULL,  -- mini_program | groups | members | wecom_friends | personal_wechat
    link_key     text        NOT NULL,  -- group id, staff id, or '' (mini-program, members)
    since        timestamptz NOT NULL,  -- business time the link opened
    until        timestamptz,           -- business time it closed; null: still open
    PRIMARY KEY (customer_id, touchpoint, link_key, since)
);
CREATE INDEX IF NOT EXISTS private_domain_link_day_idx
    ON private_domain_link (touchpoint, since, until);
-- Internal: every link change each stream recorded, and the customer each stream counts as.
CREATE TABLE IF NOT EXISTS siyu_private_domain_change (
    stream_id    uuid        NOT NULL,
    version      bigint      NOT NULL,
    touchpoint   text        NOT NULL,
    link_key     text        NOT NULL,
    opens        boolean     NOT NULL,  -- true: the link opens; false: it closes
    at           timestamptz NOT NULL,
    PRIMARY KEY (stream_id, version, touchpoint)
);
CREATE TABLE IF NOT EXISTS siyu_private_domain_alias (
    stream_id    uuid PRIMARY KEY,
    customer_id  uuid NOT NULL
);
-- Internal: per touchpoint (and 'total'), customers who entered (+) and left (-) on each
-- business day — the company series is a running sum over days, not a scan of links.
CREATE TABLE IF NOT EXISTS siyu_private_domain_delta (
    touchpoint   text   NOT NULL,
    day          date   NOT NULL,
    delta        bigint NOT NULL,
    PRIMARY KEY (touchpoint, day)
);
CREATE INDEX IF NOT EXISTS siyu_private_domain_alias_customer_idx
    ON siyu_private_domain_alias (customer_id);

-- Customers in each touchpoint at the end of each business day of [p_from, p_to] (Asia/
-- Shanghai), and in any of them (total): the running sum of the daily deltas. A department:
-- WeCom and personal-WeChat friends of the staff assigned to it that day (each day credited
-- to the department held that day: staff_departments_daily), from the links, in one
-- set-based statement for the whole range (other touchpoints are not a department's: null).
CREATE OR REPLACE FUNCTION private_domain_users_daily(p_from date, p_to date, p_department text)
RETURNS TABLE (day date, mini_program bigint, groups bigint, members bigint,
               wecom_friends bigint, personal_wechat bigint, total bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_department IS NULL THEN
        RETURN QUERY
        WITH days AS (
            SELECT d::date AS day FROM generate_series(p_from, p_to, interval '1 day') d
        ), company AS (  -- each day: the deltas of every day up to it (a few rows a day)
            SELECT days.day, x.touchpoint, sum(x.delta)::bigint AS n
            FROM days LEFT JOIN siyu_private_domain_delta x ON x.day <= days.day
            GROUP BY days.day, x.touchpoint
        )
        SELECT c.day,
               coalesce(max(c.n) FILTER (WHERE c.touchpoint = 'mini_program'), 0),
               coalesce(max(c.n) FILTER (WHERE c.touchpoint = 'groups'), 0),
               coalesce(max(c.n) FILTER (WHERE c.touchpoint = 'members'), 0),
               coalesce(max(c.n) FILTER (WHERE c.touchpoint = 'wecom_friends'), 0),
               coalesce(max(c.n) FILTER (WHERE c.touchpoint = 'personal_wechat'), 0),
               coalesce(max(c.n) FILTER (WHERE c.touchpoint = 'total'), 0)
        FROM company c GROUP BY c.day ORDER BY c.day;
    ELSE
        RETURN QUERY  -- one set: every day's members of the department, then their links
        WITH days AS (
            SELECT d::date AS day FROM generate_series(p_from, p_to, interval '1 day') d
        ), held AS MATERIALIZED (  -- each day's end computed once, not per link
            SELECT h.staff_id, h.day,
                   ((h.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') AS day_end
            FROM staff_departments_daily(p_from, p_to) h WHERE h.department = p_department
        ), friend AS MATERIALIZED (  -- links keyed by a staff id (staff_department_on's test)
            SELECT l.customer_id, l.touchpoint, l.since, l.until,
                   CASE WHEN l.link_key ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                        THEN l.link_key::uuid END AS staff_id
            FROM private_domain_link l
            WHERE l.touchpoint IN ('wecom_friends', 'personal_wechat')
        ), live AS (
            SELECT held.day, f.customer_id, f.touchpoint
            FROM held JOIN friend f ON f.staff_id = held.staff_id
             AND f.since < held.day_end AND (f.until IS NULL OR f.until >= held.day_end)
        )
        SELECT days.day, NULL::bigint, NULL::bigint, NULL::bigint,
               count(DISTINCT live.customer_id) FILTER (WHERE live.touchpoint = 'wecom_friends'),
               count(DISTINCT live.customer_id) FILTER (WHERE live.touchpoint = 'personal_wechat'),
               count(DISTINCT live.customer_id)
        FROM days LEFT JOIN live ON live.day = days.day
        GROUP BY days.day ORDER BY days.day;
    END IF;
END
$$;

-- Staff performance read models. Documented for BI in docs/bi.md.
-- Business days are Asia/Shanghai dates (UTC+8, no daylight saving); times are UTC; money in fen.

-- One row per (staff member, business day) with activity.
CREATE TABLE IF NOT EXISTS staff_daily_performance (
    staff_id                    text    NOT NULL,
    day                         date    NOT NULL,
    friends_new                 integer NOT NULL DEFAULT 0,
    friends_deleted_by_customer integer NOT NULL DEFAULT 0,
    friends_deleted_by_staff    integer NOT NULL DEFAULT 0,
    friends_net                 integer GENERATED ALWAYS AS
        (friends_new - friends_deleted_by_customer - friends_deleted_by_staff) STORED,
    retained_7d                 integer NOT NULL DEFAULT 0,
    retained_30d                integer NOT NULL DEFAULT 0,
    messages_received           integer NOT NULL DEFAULT 0,
    messages_sent               integer NOT NULL DEFAULT 0,
    first_responses             integer NOT NULL DEFAULT 0,
    response_seconds            integer[] NOT NULL DEFAULT '{}',
    first_response_median_s     integer,
    first_response_p90_s        integer,
    chats_unanswered            integer NOT NULL DEFAULT 0,
    orders_paid                 integer NOT NULL DEFAULT 0,
    gmv_fen                     bigint  NOT NULL DEFAULT 0,
    refunds                     integer NOT NULL DEFAULT 0,
    refund_fen                  bigint  NOT NULL DEFAULT 0,
    moments_posts               integer NOT NULL DEFAULT 0,
    greetings_sent              integer NOT NULL DEFAULT 0,
    follow_ups                  integer NOT NULL DEFAULT 0,
    sensitive_word_hits         integer NOT NULL DEFAULT 0,
    -- customer-side hits: customers' messages in the member's chats (see docs/bi.md)
    customer_sensitive_word_hits integer NOT NULL DEFAULT 0,
    customer_abuse_hits          integer NOT NULL DEFAULT 0,
    customer_private_order_hits  integer NOT NULL DEFAULT 0,
    customer_diverted_order_hits integer NOT NULL DEFAULT 0,
    customer_custom_category_hits integer NOT NULL DEFAULT 0,
    marketing_tasks_assigned    integer NOT NULL DEFAULT 0,
    marketing_tasks_completed   integer NOT NULL DEFAULT 0,
    campaign_tasks_created      integer NOT NULL DEFAULT 0,
    campaign_sends_confirmed    integer NOT NULL DEFAULT 0,
    paying_customers            uuid[]  NOT NULL DEFAULT '{}',
    PRIMARY KEY (staff_id, day)
);
CREATE INDEX IF NOT EXISTS staff_daily_performance_day_idx ON staff_daily_performance (day);

-- New friends and their retention per (staff member, business day, channel of the add).
CREATE TABLE IF NOT EXISTS staff_daily_channel (
    staff_id     text    NOT NULL,
    day          date    NOT NULL,
    channel      text    NOT NULL,
    friends_new  integer NOT NULL,
    retained_7d  integer NOT NULL,
    retained_30d integer NOT NULL,
    PRIMARY KEY (staff_id, day, channel)
);

-- Internal: the facts the KPIs are computed from, one row per event (log position).
-- kind: friend_added, friend_deleted_by_customer, friend_deleted_by_staff, message_received,
-- message_sent, order_paid, order_refunded, moment_posted, greeting_sent, follow_up,
-- sensitive_word_hit, customer_sensitive_word_hit.
-- staff_id: the staff member named by the event; for orders the owner at ``at`` (null: none).
-- categories: a sensitive-word hit's lexicon categories (distinct, sorted); null otherwise.
CREATE TABLE IF NOT EXISTS staff_kpi_ledger (
    position    bigint      PRIMARY KEY,
    kind        text        NOT NULL,
    customer_id uuid,
    staff_id    text,
    at          timestamptz NOT NULL,
    day         date        NOT NULL,
    channel     text,
    amount_fen  bigint,
    categories  text[]
);
CREATE INDEX IF NOT EXISTS staff_kpi_ledger_friend_idx ON staff_kpi_ledger (customer_id, staff_id, at)
    WHERE kind LIKE 'friend%';
CREATE INDEX IF NOT EXISTS staff_kpi_ledger_adds_idx ON staff_kpi_ledger (staff_id, day, channel)
    WHERE kind = 'friend_added';
CREATE INDEX IF NOT EXISTS staff_kpi_ledger_message_idx
    ON staff_kpi_ledger (customer_id, staff_id, at) WHERE kind LIKE 'message%';
CREATE INDEX IF NOT EXISTS staff_kpi_ledger_order_idx ON staff_kpi_ledger (customer_id, at)
    WHERE kind LIKE 'order%';
CREATE INDEX IF NOT EXISTS staff_kpi_ledger_paid_idx ON staff_kpi_ledger (staff_id, day)
    WHERE kind = 'order_paid';

-- Internal: the ownership periods this view folded itself (same rules as customer_ownership).
CREATE TABLE IF NOT EXISTS staff_kpi_ownership (
    customer_id     uuid        NOT NULL,
    period          integer     NOT NULL,
    staff_id        text        NOT NULL,
    since           timestamptz NOT NULL,
    until           timestamptz,
    reason          text        NOT NULL,
    handover_id     text,
    by              text        NOT NULL,
    cause_position  bigint      NOT NULL,
    ended_reason    text,
    ended_by        text,
    ended_position  bigint,
    opened_version  bigint      NOT NULL,
    closed_version  bigint,
    PRIMARY KEY (customer_id, period)
);
CREATE UNIQUE INDEX IF NOT EXISTS staff_kpi_ownership_current_idx
    ON staff_kpi_ownership (customer_id) WHERE until IS NULL;
CREATE INDEX IF NOT EXISTS staff_kpi_ownership_staff_idx ON staff_kpi_ownership (staff_id, since);

-- Internal: per chat (customer stream, staff member), where the last message stands and the
-- customer message waiting for an answer, if any.
CREATE TABLE IF NOT EXISTS staff_kpi_thread (
    customer_id   uuid        NOT NULL,
    staff_id      text        NOT NULL,
    last_at       timestamptz NOT NULL,
    last_position bigint      NOT NULL,
    open_at       timestamptz,
    open_position bigint,
    PRIMARY KEY (customer_id, staff_id)
);

-- Internal: one row per wait (a customer message after the staff member's last reply, up to
-- that member's next message). response_seconds: whole seconds of working time (see
-- staff_kpi_schedule), null while unanswered.
CREATE TABLE IF NOT EXISTS staff_kpi_wait (
    customer_id      uuid        NOT NULL,
    staff_id         text        NOT NULL,
    opened_position  bigint      NOT NULL,
    opened_at        timestamptz NOT NULL,
    day              date        NOT NULL,
    answered_at      timestamptz,
    response_seconds integer,
    PRIMARY KEY (customer_id, staff_id, opened_position)
);
CREATE INDEX IF NOT EXISTS staff_kpi_wait_day_idx ON staff_kpi_wait (staff_id, day);
-- The still-open waits a rollup counts as timed out (most waits are answered: a partial index
-- read 49 rows per staff-day instead of 874 in the department-month benchmark).
CREATE INDEX IF NOT EXISTS staff_kpi_wait_open_idx ON staff_kpi_wait (staff_id, day, opened_at)
    WHERE answered_at IS NULL;

-- Internal: the working hours (WorkingHours.Changed), each in force from effective_from on.
-- week: per ISO weekday (Monday first) [start, end) minute pairs of the Asia/Shanghai day.
-- No row: every minute counts.
CREATE TABLE IF NOT EXISTS staff_kpi_schedule (
    position       bigint      PRIMARY KEY,
    effective_from timestamptz NOT NULL,
    week           jsonb       NOT NULL
);

-- Whole seconds of working time in [a, b) under the working hours in force at each instant
-- (the same as domain.working_time.working_seconds; a test checks they agree).
-- (jit off: the planner's default row guesses for generate_series would JIT-compile this
-- tiny query for ~0.5 s a call)
CREATE OR REPLACE FUNCTION staff_kpi_working_seconds(a timestamptz, b timestamptz)
RETURNS bigint LANGUAGE sql STABLE SET jit = off AS $$
WITH sched AS (
    SELECT s_from, lead(s_from, 1, 'infinity') OVER (ORDER BY s_from, position) AS s_until, week
    FROM (SELECT '-infinity'::timestamptz AS s_from, 0::bigint AS position, NULL::jsonb AS week
          UNION ALL
          SELECT effective_from, position, week FROM staff_kpi_schedule) x
), days AS (
    SELECT d::date AS day
    FROM generate_series((a AT TIME ZONE 'Asia/Shanghai')::date::timestamp,
                         (b AT TIME ZONE 'Asia/Shanghai')::date::timestamp, interval '1 day') d
    WHERE b > a
), spans AS (
    SELECT greatest(a, s.s_from, (d.day + make_interval(mins => (iv->>0)::int))
                    AT TIME ZONE 'Asia/Shanghai') AS lo,
           least(b, s.s_until, (d.day + make_interval(mins => (iv->>1)::int))
                 AT TIME ZONE 'Asia/Shanghai') AS hi
    FROM days d
    JOIN sched s ON s.s_from < b AND s.s_until > a
    CROSS JOIN LATERAL jsonb_array_elements(
        coalesce(s.week -> (extract(isodow FROM d.day)::int - 1), '[[0, 1440]]'::jsonb)) iv
)
SELECT coalesce(floor(sum(extract(epoch FROM hi - lo)) FILTER (WHERE hi > lo)), 0)::bigint
FROM spans
$$;

-- Internal (projections/staff_execution.py): each marketing task's assignee, due day and
-- status, to move its credit on a reassignment or cancellation.
CREATE TABLE IF NOT EXISTS staff_kpi_task (
    task_id      uuid   PRIMARY KEY,
    staff_id     text   NOT NULL,
    due_day      date   NOT NULL,
    status       text   NOT NULL,
    last_version bigint NOT NULL
);

-- Internal: the sender (staff member) of each planned campaign recipient, and the WeCom
-- mass-send task that carried it once created.
CREATE TABLE IF NOT EXISTS staff_kpi_campaign_recipient (
    campaign_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    sender      text NOT NULL,
    task_id     text,
    PRIMARY KEY (campaign_id, customer_id)
);

-- Internal: one row per WeCom mass-send task: its sender, when it was created (day: the
-- business day credited) and when a first recipient left the pending state (confirmed).
CREATE TABLE IF NOT EXISTS staff_kpi_campaign_task (
    campaign_id  uuid        NOT NULL,
    task_id      text        NOT NULL,
    staff_id     text        NOT NULL,
    created_at   timestamptz NOT NULL,
    day          date        NOT NULL,
    confirmed_at timestamptz,
    PRIMARY KEY (campaign_id, task_id)
);

-- The latest instant t with staff_kpi_working_seconds(t, p_end) >= p_seconds: walking back
-- from p_end through the working hours in force. A wait opened at or before
-- staff_kpi_working_cutoff(as_of, timeout + 1) has waited more than timeout whole seconds of
-- working time by as_of — one call per query instead of one per wait.
CREATE OR REPLACE FUNCTION staff_kpi_working_cutoff(p_end timestamptz, p_seconds bigint)
RETURNS timestamptz LANGUAGE plpgsql STABLE SET jit = off AS $$
DECLARE
    need numeric := p_seconds;
    d date := (p_end AT TIME ZONE 'Asia/Shanghai')::date;
    span numeric;
    r record;
BEGIN
    IF need <= 0 THEN
        RETURN p_end;
    END IF;
    FOR n IN 0..3700 LOOP  -- ten years back at most
        FOR r IN
            WITH sched AS (
                SELECT s_from, lead(s_from, 1, 'infinity') OVER (ORDER BY s_from, position)
                       AS s_until, week
                FROM (SELECT '-infinity'::timestamptz AS s_from, 0::bigint AS position,
                             NULL::jsonb AS week
                      UNION ALL
                      SELECT effective_from, position, week FROM staff_kpi_schedule) x
            )
            SELECT greatest(s.s_from, (d + make_interval(mins => (iv->>0)::int))
                            AT TIME ZONE 'Asia/Shanghai') AS lo,
                   least(p_end, s.s_until, (d + make_interval(mins => (iv->>1)::int))
                         AT TIME ZONE 'Asia/Shanghai') AS hi
            FROM sched s
            CROSS JOIN LATERAL jsonb_array_elements(
                coalesce(s.week -> (extract(isodow FROM d)::int - 1), '[[0, 1440]]'::jsonb)) iv
            WHERE s.s_from < ((d + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
              AND s.s_until > (d::timestamp AT TIME ZONE 'Asia/Shanghai')
            ORDER BY 2 DESC
        LOOP
            CONTINUE WHEN r.hi <= r.lo;
            span := extract(epoch FROM r.hi - r.lo);
            IF span >= need THEN
                RETURN r.hi - (need * 1000000)::bigint * interval '1 microsecond';
            END IF;
            need := need - span;
        END LOOP;
        d := d - 1;
    END LOOP;
    RETURN '-infinity';
END
$$;

-- Concatenates integer arrays (the exact response times of several days).
CREATE OR REPLACE AGGREGATE staff_kpi_array_cat(integer[]) (
    SFUNC = array_cat, STYPE = integer[], INITCOND = '{}');

-- The department a staff member is credited with for a business day: the one held at the
-- end of the day (or when leaving, on the day they left). Null: not employed that day.
CREATE OR REPLACE FUNCTION staff_department_on(staff text, d date) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT a.department FROM staff_assignment a
    WHERE staff ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
      AND a.staff_id = staff::uuid
      AND a.since < ((d + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
      AND (a.until IS NULL OR a.until >= ((d + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
           OR (a.ended_reason = 'left' AND a.until > (d::timestamp AT TIME ZONE 'Asia/Shanghai')))
    ORDER BY a.period DESC LIMIT 1
$$;

-- staff_department_on for every member and every business day of [p_from, p_to] at once
-- (the same rule: the assignment held at the day's end, or on the day of leaving; the latest
-- period wins), so a department's series joins its days in one set instead of one lookup
-- per row and day. Members with no department on a day have no row for it.
CREATE OR REPLACE FUNCTION staff_departments_daily(p_from date, p_to date)
RETURNS TABLE (staff_id uuid, day date, department text)
LANGUAGE sql STABLE AS $$
    -- each assignment as the range of business days it is credited with, computed once per
    -- assignment: from the day it began to the day before it ended (the day it ended when
    -- leaving after that day's midnight); the days then come from the ranges, not from
    -- testing every assignment against every day
    SELECT DISTINCT ON (r.staff_id, g.day) r.staff_id, g.day::date, r.department
    FROM (SELECT a.staff_id, a.period, a.department,
                 greatest((a.since AT TIME ZONE 'Asia/Shanghai')::date, p_from) AS first_day,
                 least(CASE WHEN a.until IS NULL THEN p_to
                            WHEN a.ended_reason = 'left' AND a.until
                                 > ((a.until AT TIME ZONE 'Asia/Shanghai')::date::timestamp
                                    AT TIME ZONE 'Asia/Shanghai')
                            THEN (a.until AT TIME ZONE 'Asia/Shanghai')::date
                            ELSE (a.until AT TIME ZONE 'Asia/Shanghai')::date - 1 END,
                       p_to) AS last_day
          FROM staff_assignment a
          WHERE a.since < ((p_to + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
            AND (a.until IS NULL
                 OR a.until > (p_from::timestamp AT TIME ZONE 'Asia/Shanghai'))) r
    CROSS JOIN LATERAL generate_series(r.first_day, r.last_day, interval '1 day') g(day)
    ORDER BY r.staff_id, g.day, r.period DESC
$$;

-- The first and last business day of the day / week (ISO, Monday) / month / quarter holding d.
CREATE OR REPLACE FUNCTION kpi_period(kind text, d date, OUT first_day date, OUT last_day date)
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE kind WHEN 'day' THEN d ELSE date_trunc(kind, d)::date END,
           CASE kind WHEN 'day' THEN d
                ELSE (date_trunc(kind, d) + CASE kind WHEN 'quarter' THEN interval '3 months'
                      ELSE ('1 ' || kind)::interval END - interval '1 day')::date END
$$;

-- The KPI functions' result columns (and arguments) change with the read model's version,
-- which CREATE OR REPLACE cannot do: drop every shape of them first (nothing depends on them;
-- this runs in the view's creating transaction, so readers never see them missing).
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT oid::regprocedure FROM pg_proc
             WHERE proname IN ('staff_kpi_rollup', 'staff_performance_by_period',
                               'department_performance_by_period')
               AND pronamespace = current_schema()::regnamespace LOOP
        EXECUTE 'DROP FUNCTION ' || f;
    END LOOP;
END $$;

-- Campaign cost and the GMV attributed to the campaigns (as the campaign report counts
-- it: paid orders of the customers a message was sent to, within the campaign's
-- attribution window after the send) of the campaigns launched in [p_from, p_to] whose
-- owner is in the selection (a department: the owner's department on the launch day).
-- Zero while the campaign read models do not exist (plpgsql: resolved when called).
CREATE OR REPLACE FUNCTION staff_kpi_campaign_roi(
    p_staff text[], p_department text, p_from date, p_to date,
    OUT cost_fen bigint, OUT gmv_fen bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    cost_fen := 0; gmv_fen := 0;
    IF to_regclass('campaign') IS NULL OR to_regclass('campaign_send') IS NULL
       OR to_regclass('customer_profile') IS NULL THEN
        RETURN;
    END IF;
    WITH launched AS (
        SELECT c.campaign_id, c.cost_fen, c.attribution_days, substr(c.owner, 7) AS staff_id,
               (c.launched_at AT TIME ZONE 'Asia/Shanghai')::date AS day
        FROM campaign c
        WHERE c.launched_at >= (p_from::timestamp AT TIME ZONE 'Asia/Shanghai')
          AND c.launched_at < ((p_to + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
          AND c.owner LIKE 'staff:%'
    ), c AS (  -- a department: the owner's department on the launch day (one set-based join)
        SELECT l.campaign_id, l.cost_fen, l.attribution_days FROM launched l
        WHERE p_department IS NULL AND l.staff_id = ANY(p_staff)
        UNION ALL
        SELECT l.campaign_id, l.cost_fen, l.attribution_days FROM launched l
        JOIN staff_departments_daily(p_from, p_to) x
          ON x.staff_id::text = lower(l.staff_id) AND x.day = l.day
        WHERE p_department IS NOT NULL AND x.department = p_department
    )
    SELECT coalesce((SELECT sum(c.cost_fen) FROM c), 0)::bigint,
           coalesce((SELECT sum(u.a) FROM c
                     JOIN campaign_send s ON s.campaign_id = c.campaign_id AND s.status = 'sent'
                     JOIN customer_profile p ON p.customer_id = s.customer_id,
                     unnest(p.order_times, p.order_amounts) AS u(t, a)
                     WHERE u.t >= s.outcome_at
                       AND u.t < s.outcome_at + c.attribution_days * interval '24 hours'), 0)
    INTO cost_fen, gmv_fen;
END $$;

-- Every KPI of a selection over [p_from, p_to] (business days): staff members by id, or a
-- department (each day credited to the member's department that day). See docs/bi.md.
-- Ratios are not rounded (numeric division): targets grade them and leaderboards rank them
-- as computed; whoever displays them rounds.
CREATE OR REPLACE FUNCTION staff_kpi_rollup(
    p_staff text[], p_department text, p_from date, p_to date,
    p_timeout_seconds integer DEFAULT 1800, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (
    staff_count bigint, friends_new bigint, friends_deleted_by_customer bigint,
    friends_deleted_by_staff bigint, friends_net bigint, friends_total bigint,
    retained_7d bigint, retained_30d bigint, retention_7d numeric, retention_30d numeric,
    messages_received bigint, messages_sent bigint, first_responses bigint,
    first_response_median_s integer, first_response_p90_s integer, chats_timed_out bigint,
    orders_paid bigint, gmv_fen bigint, refunds bigint, refund_fen bigint,
    average_order_value_fen numeric, owned_customers bigint, converted_customers bigint,
    conversion_rate numeric, moments_posts bigint, greetings_sent bigint, follow_ups bigint,
    sensitive_word_hits bigint, customer_sensitive_word_hits bigint, customer_abuse_hits bigint,
    customer_private_order_hits bigint, customer_diverted_order_hits bigint,
    customer_custom_category_hits bigint, marketing_tasks_assigned bigint,
    marketing_tasks_completed bigint, marketing_task_completion_rate numeric,
    campaign_tasks_created bigint, campaign_sends_confirmed bigint,
    campaign_execution_rate numeric, campaign_cost_fen bigint, campaign_gmv_fen bigint,
    roi numeric)
LANGUAGE sql STABLE AS $$
WITH b AS (
    SELECT (p_from::timestamp AT TIME ZONE 'Asia/Shanghai') AS from_ts,
           ((p_to + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') AS to_ts
), dep AS (  -- the department's assignment periods that overlap the range
    SELECT a.staff_id::text AS staff_id, a.since, a.until, a.ended_reason
    FROM staff_assignment a, b
    WHERE p_department IS NOT NULL AND a.department = p_department
      AND a.since < b.to_ts AND (a.until IS NULL OR a.until > b.from_ts)
), days AS (  -- (staff, day) pairs credited to the selection
    SELECT d.* FROM staff_daily_performance d
    WHERE p_department IS NULL AND d.staff_id = ANY(p_staff) AND d.day BETWEEN p_from AND p_to
    UNION ALL
    SELECT d.* FROM dep JOIN staff_daily_performance d ON d.staff_id = dep.staff_id
    WHERE d.day BETWEEN p_from AND p_to
      AND dep.since < ((d.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
      AND (dep.until IS NULL OR dep.until >= ((d.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
           OR (dep.ended_reason = 'left'
               AND dep.until > (d.day::timestamp AT TIME ZONE 'Asia/Shanghai')))
), sums AS (
    SELECT count(DISTINCT staff_id) AS staff_count,
           coalesce(sum(friends_new), 0) AS friends_new,
           coalesce(sum(friends_deleted_by_customer), 0) AS fdc,
           coalesce(sum(friends_deleted_by_staff), 0) AS fds,
           coalesce(sum(friends_net), 0) AS friends_net,
           coalesce(sum(retained_7d), 0) AS r7, coalesce(sum(retained_30d), 0) AS r30,
           coalesce(sum(messages_received), 0) AS mr, coalesce(sum(messages_sent), 0) AS ms,
           coalesce(sum(first_responses), 0) AS fr,
           coalesce(sum(orders_paid), 0) AS orders, coalesce(sum(gmv_fen), 0) AS gmv,
           coalesce(sum(refunds), 0) AS refunds, coalesce(sum(refund_fen), 0) AS refund_fen,
           coalesce(sum(moments_posts), 0) AS moments, coalesce(sum(greetings_sent), 0) AS greet,
           coalesce(sum(follow_ups), 0) AS follow,
           coalesce(sum(sensitive_word_hits), 0) AS hits,
           coalesce(sum(customer_sensitive_word_hits), 0) AS c_hits,
           coalesce(sum(customer_abuse_hits), 0) AS c_abuse,
           coalesce(sum(customer_private_order_hits), 0) AS c_private,
           coalesce(sum(customer_diverted_order_hits), 0) AS c_diverted,
           coalesce(sum(customer_custom_category_hits), 0) AS c_custom,
           coalesce(sum(marketing_tasks_assigned), 0) AS tasks,
           coalesce(sum(marketing_tasks_completed), 0) AS tasks_done,
           coalesce(sum(campaign_tasks_created), 0) AS sends,
           coalesce(sum(campaign_sends_confirmed), 0) AS sends_done
    FROM days
), responses AS (
    SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s) AS median,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY s) AS p90,
           count(*) FILTER (WHERE s > p_timeout_seconds) AS late
    FROM days, unnest(days.response_seconds) AS s
), cut AS MATERIALIZED (  -- a wait still open and opened at or before this has timed out
    -- (materialised: inlined, the STABLE cutoff ran once per day row, ~15 ms a rollup)
    SELECT staff_kpi_working_cutoff(p_as_of, p_timeout_seconds + 1) AS at
), open_days AS MATERIALIZED (  -- days with open waits, and whether they ended by the cutoff
    SELECT days.staff_id, days.day, days.chats_unanswered,
           ((days.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') <= cut.at AS over, cut.at
    FROM days, cut WHERE days.chats_unanswered > 0
), unanswered AS (  -- days over by the cutoff: all their open waits (the stored count)
    SELECT coalesce(sum(o.chats_unanswered), 0) AS n FROM open_days o WHERE o.over
    UNION ALL  -- the days the cutoff falls in or before: the waits themselves
    SELECT count(*) FROM open_days o JOIN staff_kpi_wait w
      ON w.staff_id = o.staff_id AND w.day = o.day
    WHERE NOT o.over AND w.answered_at IS NULL AND w.opened_at <= o.at
), total AS (  -- net friends of all time up to p_to: a member's own, or for a
    -- department each day's credited to the department held that day (as every other figure)
    SELECT coalesce(sum(d.friends_net), 0) AS n FROM staff_daily_performance d
    WHERE p_department IS NULL AND d.staff_id = ANY(p_staff) AND d.day <= p_to
    UNION ALL
    SELECT coalesce(sum(d.friends_net), 0) FROM staff_assignment a, b, staff_daily_performance d
    WHERE p_department IS NOT NULL AND a.department = p_department AND a.since < b.to_ts
      AND d.staff_id = a.staff_id::text AND d.day <= p_to
      AND a.since < ((d.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
      AND (a.until IS NULL OR a.until >= ((d.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
           OR (a.ended_reason = 'left'
               AND a.until > (d.day::timestamp AT TIME ZONE 'Asia/Shanghai')))
), owned AS (
    SELECT count(DISTINCT o.customer_id) AS n FROM staff_kpi_ownership o, b
    WHERE p_department IS NULL AND o.staff_id = ANY(p_staff)
      AND o.since < b.to_ts AND (o.until IS NULL OR (o.until > b.from_ts AND o.until > o.since))
    UNION ALL
    SELECT count(DISTINCT o.customer_id) FROM dep JOIN staff_kpi_ownership o
      ON o.staff_id = dep.staff_id, b
    WHERE greatest(o.since, dep.since, b.from_ts)
          < least(coalesce(o.until, 'infinity'), coalesce(dep.until, 'infinity'), b.to_ts)
), converted AS (
    SELECT count(DISTINCT c) AS n FROM days, unnest(days.paying_customers) AS c
)
SELECT s.staff_count, s.friends_new, s.fdc, s.fds, s.friends_net,
       (SELECT sum(n)::bigint FROM total),
       s.r7, s.r30,
       (s.r7::numeric / nullif(s.friends_new, 0)),
       (s.r30::numeric / nullif(s.friends_new, 0)),
       s.mr, s.ms, s.fr, r.median, r.p90, r.late + u.n,
       s.orders, s.gmv, s.refunds, s.refund_fen,
       (s.gmv::numeric / nullif(s.orders, 0)),
       (SELECT sum(n)::bigint FROM owned), c.n,
       (c.n::numeric / nullif((SELECT sum(n) FROM owned), 0)),
       s.moments, s.greet, s.follow, s.hits, s.c_hits, s.c_abuse, s.c_private, s.c_diverted,
       s.c_custom, s.tasks, s.tasks_done,
       (s.tasks_done::numeric / nullif(s.tasks, 0)), s.sends, s.sends_done,
       (s.sends_done::numeric / nullif(s.sends, 0)), roi.cost_fen, roi.gmv_fen,
       (roi.gmv_fen::numeric / nullif(roi.cost_fen, 0))
FROM sums s, responses r, (SELECT sum(n)::bigint AS n FROM unanswered) u, converted c,
     staff_kpi_campaign_roi(p_staff, p_department, p_from, p_to) roi
$$;

-- Rollups for BI: one row per staff member per week / month / quarter (kind), additive
-- columns summed, first-response median and p90 exact over the period's responses.
CREATE OR REPLACE FUNCTION staff_performance_by_period(p_kind text, p_from date, p_to date)
RETURNS TABLE (staff_id text, period_start date, friends_new bigint, friends_net bigint,
               retained_7d bigint, retained_30d bigint, messages_received bigint,
               messages_sent bigint, first_responses bigint, first_response_median_s integer,
               first_response_p90_s integer, orders_paid bigint, gmv_fen bigint,
               refunds bigint, refund_fen bigint, moments_posts bigint, greetings_sent bigint,
               follow_ups bigint, sensitive_word_hits bigint,
               customer_sensitive_word_hits bigint, customer_abuse_hits bigint,
               customer_private_order_hits bigint, customer_diverted_order_hits bigint,
               customer_custom_category_hits bigint, marketing_tasks_assigned bigint,
               marketing_tasks_completed bigint, campaign_tasks_created bigint,
               campaign_sends_confirmed bigint)
LANGUAGE sql STABLE AS $$
    SELECT d.staff_id, (kpi_period(p_kind, d.day)).first_day,
           sum(d.friends_new), sum(d.friends_net), sum(d.retained_7d), sum(d.retained_30d),
           sum(d.messages_received), sum(d.messages_sent), sum(d.first_responses),
           (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s)
              FROM unnest(staff_kpi_array_cat(d.response_seconds)) s),
           (SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY s)
              FROM unnest(staff_kpi_array_cat(d.response_seconds)) s),
           sum(d.orders_paid), sum(d.gmv_fen), sum(d.refunds), sum(d.refund_fen),
           sum(d.moments_posts), sum(d.greetings_sent), sum(d.follow_ups),
           sum(d.sensitive_word_hits), sum(d.customer_sensitive_word_hits),
           sum(d.customer_abuse_hits), sum(d.customer_private_order_hits),
           sum(d.customer_diverted_order_hits), sum(d.customer_custom_category_hits),
           sum(d.marketing_tasks_assigned),
           sum(d.marketing_tasks_completed), sum(d.campaign_tasks_created),
           sum(d.campaign_sends_confirmed)
    FROM staff_daily_performance d
    WHERE d.day BETWEEN p_from AND p_to
    GROUP BY 1, 2
$$;

-- Per department and period (each day credited to the member's department that day).
CREATE OR REPLACE FUNCTION department_performance_by_period(p_kind text, p_from date, p_to date)
RETURNS TABLE (department text, period_start date, staff_count bigint, friends_new bigint,
               friends_net bigint, retained_7d bigint, retained_30d bigint,
               messages_received bigint, messages_sent bigint, first_responses bigint,
               first_response_median_s integer, first_response_p90_s integer,
               orders_paid bigint, gmv_fen bigint, refunds bigint, refund_fen bigint,
               moments_posts bigint, greetings_sent bigint, follow_ups bigint,
               sensitive_word_hits bigint, customer_sensitive_word_hits bigint,
               customer_abuse_hits bigint, customer_private_order_hits bigint,
               customer_diverted_order_hits bigint, customer_custom_category_hits bigint,
               marketing_tasks_assigned bigint,
               marketing_tasks_completed bigint, campaign_tasks_created bigint,
               campaign_sends_confirmed bigint, campaign_cost_fen bigint,
               campaign_gmv_fen bigint, roi numeric)
LANGUAGE sql STABLE AS $$
    SELECT g.*, r.cost_fen, r.gmv_fen, (r.gmv_fen::numeric / nullif(r.cost_fen, 0))
    FROM (
    SELECT x.department, (kpi_period(p_kind, d.day)).first_day, count(DISTINCT d.staff_id),
           sum(d.friends_new), sum(d.friends_net), sum(d.retained_7d), sum(d.retained_30d),
           sum(d.messages_received), sum(d.messages_sent), sum(d.first_responses),
           (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s)
              FROM unnest(staff_kpi_array_cat(d.response_seconds)) s),
           (SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY s)
              FROM unnest(staff_kpi_array_cat(d.response_seconds)) s),
           sum(d.orders_paid), sum(d.gmv_fen), sum(d.refunds), sum(d.refund_fen),
           sum(d.moments_posts), sum(d.greetings_sent), sum(d.follow_ups),
           sum(d.sensitive_word_hits), sum(d.customer_sensitive_word_hits),
           sum(d.customer_abuse_hits), sum(d.customer_private_order_hits),
           sum(d.customer_diverted_order_hits), sum(d.customer_custom_category_hits),
           sum(d.marketing_tasks_assigned),
           sum(d.marketing_tasks_completed), sum(d.campaign_tasks_created),
           sum(d.campaign_sends_confirmed)
    FROM staff_daily_performance d
    -- each member-day's department: one set-based join (a uuid's text is lower case, so
    -- lower() keeps staff_department_on's case-insensitive match of the staff id)
    JOIN staff_departments_daily(p_from, p_to) x
      ON x.staff_id::text = lower(d.staff_id) AND x.day = d.day
    WHERE d.day BETWEEN p_from AND p_to
    GROUP BY 1, 2
    ) g (department, period_start)
    CROSS JOIN LATERAL staff_kpi_campaign_roi(
        NULL, g.department, greatest(g.period_start, p_from),
        least((kpi_period(p_kind, g.period_start)).last_day, p_to)) r
$$;

-- The one definition of a due retention window (docs/bi.md): the adds of business day
-- p_day are due at p_days days once the whole day plus p_days days lies before the start of
-- business day p_as_of, i.e. p_day + p_days < p_as_of. Used by friend_retention_by_channel
-- and the manager overview's retentionByChannel.
CREATE OR REPLACE FUNCTION retention_due(p_day date, p_days integer, p_as_of date)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_day + p_days < p_as_of
$$;

-- Retention of new friends per channel of the add, over [p_from, p_to]: only the adds whose
-- 7 (30) day window has come by the start of p_as_of (retention_due) are due and counted, so
-- a recent add is neither retained nor lost yet.
DROP FUNCTION IF EXISTS friend_retention_by_channel(date, date);
DROP FUNCTION IF EXISTS friend_retention_by_channel(date, date, date);
CREATE FUNCTION friend_retention_by_channel(
    p_from date, p_to date,
    p_as_of date DEFAULT (now() AT TIME ZONE 'Asia/Shanghai')::date)
RETURNS TABLE (channel text, friends_new bigint, due_7d bigint, retained_7d bigint,
               due_30d bigint, retained_30d bigint,
               retention_7d numeric, retention_30d numeric)
LANGUAGE sql STABLE AS $$
    SELECT channel, friends_new, due_7d, retained_7d, due_30d, retained_30d,
           round(retained_7d::numeric / nullif(due_7d, 0), 4),
           round(retained_30d::numeric / nullif(due_30d, 0), 4)
    FROM (SELECT c.channel, sum(c.friends_new)::bigint AS friends_new,
                 coalesce(sum(c.friends_new) FILTER (WHERE retention_due(c.day, 7, p_as_of)),
                          0)::bigint AS due_7d,
                 coalesce(sum(c.retained_7d) FILTER (WHERE retention_due(c.day, 7, p_as_of)),
                          0)::bigint AS retained_7d,
                 coalesce(sum(c.friends_new) FILTER (WHERE retention_due(c.day, 30, p_as_of)),
                          0)::bigint AS due_30d,
                 coalesce(sum(c.retained_30d) FILTER (WHERE retention_due(c.day, 30, p_as_of)),
                          0)::bigint AS retained_30d
          FROM staff_daily_channel c WHERE c.day BETWEEN p_from AND p_to
          GROUP BY c.channel) s
$$;

-- Private-domain users now, by channel (manager view). personal_wechat: friends of a staff
-- member's personal WeChat, as recorded by PERSONAL_WECHAT_FRIEND_ADDED / _DELETED.
CREATE OR REPLACE VIEW private_domain_users AS
SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(p.identities) i
                                      WHERE i->>'namespace' LIKE 'wx_openid%')
                           OR p.first_channel = 'mini_program') AS mini_program,
       count(*) FILTER (WHERE cardinality(p.groups) > 0) AS groups,
       count(*) FILTER (WHERE p.member_level IS NOT NULL) AS members,
       count(*) FILTER (WHERE cardinality(p.current_staff_ids) > 0) AS wecom_friends,
       count(*) FILTER (WHERE cardinality(p.personal_wechat_staff_ids) > 0) AS personal_wechat,
       count(*) FILTER (WHERE cardinality(p.groups) > 0 OR p.member_level IS NOT NULL
                           OR cardinality(p.current_staff_ids) > 0 OR p.first_channel = 'mini_program'
                           OR cardinality(p.personal_wechat_staff_ids) > 0
                           OR EXISTS (SELECT 1 FROM jsonb_array_elements(p.identities) i
                                      WHERE i->>'namespace' LIKE 'wx_openid%')) AS total
FROM customer_profile p;

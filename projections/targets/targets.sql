-- KPI targets (目标), one row per (scope, subject, period, KPI). Documented in docs/bi.md.
-- value and thresholds are exact decimals in the KPI's unit (fen, count, seconds, ratio).
-- removed_at: null while the target stands (removed targets stay, for audits).
CREATE TABLE IF NOT EXISTS staff_target (
    target_id     uuid        PRIMARY KEY,
    scope         text        NOT NULL,  -- staff | department
    subject       text        NOT NULL,  -- the staff id, or the department code
    period_kind   text        NOT NULL,  -- month | quarter
    period_start  date        NOT NULL,  -- first business day of the period
    period_end    date        NOT NULL,  -- last business day of the period
    kpi           text        NOT NULL,  -- a staff_kpi_rollup column
    value         numeric     NOT NULL,
    met_at        numeric     NOT NULL,  -- ratio from which the grade is "met"
    exceeded_at   numeric     NOT NULL,  -- ratio from which the grade is "exceeded"
    trial         boolean     NOT NULL,  -- graded, but kept out of rankings and penalties
    set_by        text        NOT NULL,
    set_at        timestamptz NOT NULL,
    updated_by    text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    removed_at    timestamptz,
    removed_by    text,
    position      bigint      NOT NULL,
    last_version  bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS staff_target_subject_idx
    ON staff_target (scope, subject, period_kind, period_start);
CREATE INDEX IF NOT EXISTS staff_target_period_idx ON staff_target (period_kind, period_start, kpi);

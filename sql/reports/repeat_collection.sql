-- Repeated collection across departments (grain: detection run, collecting dataset, concept,
-- method). Per department pair and concept: the collecting dataset's subjects, how many have
-- the concept collected twice (here and at its authority), how many of those differ from the
-- authority's value, their share of the collecting dataset, and the change since the pair's
-- previous run (the trend). `newest` is 1 on each pair's latest run. Counts only.
-- Runs unchanged on SQLite and PostgreSQL.
WITH runs AS (
    SELECT run_id, started_at AS run_at
    FROM repeat_runs
),

findings AS (
    SELECT
        r.run_at,
        f.run_id,
        f.collector_department,
        f.collector_dataset,
        f.collector_field,
        f.concept,
        f.authority_department,
        f.authority_dataset,
        f.authority_field,
        f.method,
        f.takes,
        f.collector_subjects,
        f.subjects_twice,
        f.conflicts,
        f.uncertain
    FROM repeat_findings AS f
    INNER JOIN runs AS r ON r.run_id = f.run_id
),

trend AS (
    SELECT
        findings.*,
        CASE WHEN collector_subjects > 0
            THEN ROUND(1.0 * subjects_twice / collector_subjects, 4) END AS share_twice,
        LAG(subjects_twice) OVER pair_runs AS previous_twice,
        LAG(conflicts) OVER pair_runs AS previous_conflicts,
        ROW_NUMBER() OVER (
            PARTITION BY collector_dataset, concept, method ORDER BY run_at DESC, run_id DESC
        ) AS newest
    FROM findings
    WINDOW pair_runs AS (PARTITION BY collector_dataset, concept, method ORDER BY run_at, run_id)
)

SELECT
    trend.*,
    subjects_twice - previous_twice AS change_twice,
    conflicts - previous_conflicts AS change_conflicts
FROM trend
ORDER BY collector_department, authority_department, concept, collector_dataset, method, run_at

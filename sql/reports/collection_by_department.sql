-- Collection control, one row per department (grain: department code).
-- Scope violations (columns outside the declared scope), repeat offenders
-- (the same undeclared column in more than one batch), values kept and
-- dropped by the consent gate, and consent withdrawals honored.
-- Runs unchanged on SQLite and PostgreSQL.
WITH datasets AS (
    SELECT DISTINCT dataset_id, department
    FROM batches
    WHERE dataset_id <> 'consent'
),

served AS (
    SELECT department, SUM(rows_in) AS rows_in, SUM(stored) AS records_stored
    FROM batches
    WHERE dataset_id <> 'consent'
    GROUP BY department
),

scope AS (
    SELECT
        department,
        COUNT(*) AS scope_violations,
        COUNT(DISTINCT column_header) AS undeclared_columns,
        SUM(non_empty_values) AS undeclared_values,
        MIN(seen_at) AS first_seen,
        MAX(seen_at) AS last_seen
    FROM scope_violations
    GROUP BY department
),

repeated AS (
    SELECT department, column_header
    FROM scope_violations
    GROUP BY department, column_header
    HAVING COUNT(DISTINCT batch_id) > 1
),

offenders AS (
    SELECT department, COUNT(*) AS repeated_columns
    FROM repeated
    GROUP BY department
),

gate AS (
    SELECT b.department, SUM(g.kept) AS consent_kept, SUM(g.dropped) AS consent_dropped
    FROM consent_gate AS g
    INNER JOIN batches AS b ON b.batch_id = g.batch_id
    GROUP BY b.department
),

withdrawn AS (
    SELECT d.department, COUNT(*) AS withdrawals, SUM(w.values_removed) AS values_removed
    FROM consent_withdrawals AS w
    INNER JOIN datasets AS d ON d.dataset_id = w.dataset_id
    GROUP BY d.department
),

final AS (
    SELECT
        s.department,
        s.rows_in,
        s.records_stored,
        COALESCE(sc.scope_violations, 0) AS scope_violations,
        COALESCE(sc.undeclared_columns, 0) AS undeclared_columns,
        COALESCE(sc.undeclared_values, 0) AS undeclared_values,
        sc.first_seen,
        sc.last_seen,
        COALESCE(o.repeated_columns, 0) > 0 AS repeat_offender,
        COALESCE(g.consent_kept, 0) AS consent_kept,
        COALESCE(g.consent_dropped, 0) AS consent_dropped,
        COALESCE(w.withdrawals, 0) AS withdrawals,
        COALESCE(w.values_removed, 0) AS values_removed
    FROM served AS s
    LEFT JOIN scope AS sc ON sc.department = s.department
    LEFT JOIN offenders AS o ON o.department = s.department
    LEFT JOIN gate AS g ON g.department = s.department
    LEFT JOIN withdrawn AS w ON w.department = s.department
)

SELECT * FROM final ORDER BY department

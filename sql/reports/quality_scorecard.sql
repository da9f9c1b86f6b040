-- Data quality pass rate per validated batch (grain: dataset, batch).
-- One row per batch: expectations run, passed, failed by severity, pass rate.
-- The department comes from the batch ledger; it is empty for a batch the
-- ledger does not know (the scorecard then takes it from the contract).
-- Runs unchanged on SQLite and PostgreSQL.
WITH source AS (
    SELECT
        q.dataset_id,
        q.batch_id,
        q.severity,
        q.success,
        q.validated_at,
        b.department,
        b.received_at
    FROM quality_results AS q
    LEFT JOIN batches AS b ON b.batch_id = q.batch_id
),

cleaned AS (
    SELECT
        COALESCE(department, '') AS department,
        dataset_id,
        batch_id,
        validated_at,
        received_at,
        CASE WHEN success THEN 1 ELSE 0 END AS passed,
        CASE WHEN severity = 'critical' AND NOT success THEN 1 ELSE 0 END AS critical_failed,
        CASE WHEN severity = 'warning' AND NOT success THEN 1 ELSE 0 END AS warning_failed
    FROM source
),

final AS (
    SELECT
        department,
        dataset_id,
        batch_id,
        MAX(validated_at) AS validated_at,
        MAX(received_at) AS received_at,
        COUNT(*) AS expectations,
        SUM(passed) AS passed,
        SUM(critical_failed) AS critical_failed,
        SUM(warning_failed) AS warning_failed,
        ROUND(100.0 * SUM(passed) / COUNT(*), 1) AS pass_rate
    FROM cleaned
    GROUP BY department, dataset_id, batch_id
)

SELECT * FROM final ORDER BY dataset_id, validated_at, batch_id

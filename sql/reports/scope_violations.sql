-- Scope violations in detail (grain: department, dataset, undeclared column).
-- Values are never kept: only how many non-empty values each batch carried.
WITH per_column AS (
    SELECT
        department,
        dataset_id,
        column_header,
        COUNT(DISTINCT batch_id) AS batches,
        SUM(non_empty_values) AS non_empty_values,
        MIN(seen_at) AS first_seen,
        MAX(seen_at) AS last_seen
    FROM scope_violations
    GROUP BY department, dataset_id, column_header
)

SELECT
    department,
    dataset_id,
    column_header,
    batches,
    non_empty_values,
    first_seen,
    last_seen,
    batches > 1 AS repeat_offence
FROM per_column
ORDER BY department, dataset_id, column_header

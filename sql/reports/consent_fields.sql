-- The consent gate per consent-based field (grain: dataset, field).
-- kept + dropped = values received; dropped values were never stored, and the
-- records that carried them were stored all the same.
WITH per_field AS (
    SELECT
        b.department,
        b.dataset_id,
        g.field,
        SUM(g.kept) AS kept,
        SUM(g.dropped) AS dropped,
        SUM(b.stored) AS records_stored
    FROM consent_gate AS g
    INNER JOIN batches AS b ON b.batch_id = g.batch_id
    GROUP BY b.department, b.dataset_id, g.field
),

withdrawn AS (
    SELECT dataset_id, field, COUNT(*) AS withdrawals, SUM(values_removed) AS values_removed
    FROM consent_withdrawals
    GROUP BY dataset_id, field
)

SELECT
    f.department,
    f.dataset_id,
    f.field,
    f.kept,
    f.dropped,
    f.records_stored,
    COALESCE(w.withdrawals, 0) AS withdrawals,
    COALESCE(w.values_removed, 0) AS values_removed
FROM per_field AS f
LEFT JOIN withdrawn AS w ON w.dataset_id = f.dataset_id AND w.field = f.field
ORDER BY f.department, f.dataset_id, f.field

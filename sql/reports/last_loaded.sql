-- When each dataset last had a batch loaded (grain: dataset).
-- Feeds the scorecard's freshness: a dataset whose last load is older than its
-- update cycle is late. Runs unchanged on SQLite and PostgreSQL.
WITH loaded AS (
    SELECT dataset_id, received_at
    FROM batches
    WHERE status = 'loaded'
),

final AS (
    SELECT dataset_id, MAX(received_at) AS last_received
    FROM loaded
    GROUP BY dataset_id
)

SELECT * FROM final ORDER BY dataset_id

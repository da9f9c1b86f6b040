-- What the exchange published, oldest first (grain: one publication).
-- Runs unchanged on SQLite and PostgreSQL.
WITH exchange AS (
    SELECT id, dataset_id, rows
    FROM publications
    WHERE channel = 'exchange'
)

SELECT dataset_id, rows FROM exchange ORDER BY id

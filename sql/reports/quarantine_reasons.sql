-- Why each row of one batch was set aside (the whole file first): where, the rule, the
-- message (names places and rules, never values). The sealed originals are not read.
WITH reasons AS (
    SELECT source_row, column_name, rule, message, id
    FROM quarantine
    WHERE batch_id = :batch_id
)
SELECT source_row, column_name, rule, message
FROM reasons
ORDER BY CASE WHEN source_row IS NULL THEN 0 ELSE 1 END, source_row, id

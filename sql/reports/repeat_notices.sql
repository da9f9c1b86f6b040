-- Repeat-collection findings sent back to the collecting departments (grain: notice).
-- Open notices first, then the closed ones with why they closed. Counts only.
SELECT
    id,
    collector_department,
    collector_dataset,
    collector_field,
    concept,
    authority_department,
    authority_dataset,
    opened_at,
    opened_run,
    last_run,
    subjects_twice,
    conflicts,
    closed_at,
    close_reason,
    closed_at IS NULL AS open
FROM repeat_notices
ORDER BY closed_at IS NOT NULL, collector_department, collector_dataset, concept, id

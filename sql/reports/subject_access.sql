-- The citizen's view: which departments read one person's records through the exchange,
-- when, for what purpose and under which grant. One row per response that carried them.
-- :subject_key is the person's platform pseudonym (the ID number itself is never stored).
-- A page spans key_first..key_last of the natural-key order, whose first column is the
-- subject's pseudonym in every person dataset; a lookup spans exactly one subject.
WITH reads AS (
    SELECT a.at, a.department, a.dataset_id, a.kind, a.purpose, a.grant_id, a.fields,
           a.clear_fields, a.version, a.audit_seq
    FROM exchange_access AS a
    WHERE a.key_first <= :subject_key
      AND a.key_last >= :subject_key
)
SELECT at, department, dataset_id, kind, purpose, grant_id, fields, clear_fields, version, audit_seq
FROM reads
ORDER BY at, audit_seq

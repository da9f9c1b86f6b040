-- Developer authorizations (开发利用授权): one row per authorization, with what it lacks on the
-- day given and whether its term ends within the window given (parameters today and until;
-- docs/regulation.md#authorized-development).
WITH authorizations AS (
    SELECT a.id, a.organization, a.uscc, a.datasets, a.purpose, a.agreement_no, a.agreement_on,
           a.filing_no, a.filed_on, a.expires_on, a.registered_at, a.registered_by, a.revoked_at
    FROM developer_authorizations AS a
),
assessed AS (
    SELECT id, organization, uscc, datasets, purpose, agreement_no, agreement_on, filing_no,
           filed_on, expires_on, registered_at, registered_by, revoked_at,
           (agreement_no IS NULL OR agreement_on IS NULL) AS missing_agreement,
           (filing_no IS NULL OR filed_on IS NULL) AS missing_filing,
           expires_on < :today AS expired,
           (expires_on >= :today AND expires_on <= :until) AS expiring
    FROM authorizations
)
SELECT id, organization, uscc, datasets, purpose, agreement_no, agreement_on, filing_no, filed_on,
       expires_on, registered_at, registered_by, revoked_at,
       CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
            WHEN expired THEN 'expired'
            WHEN missing_agreement OR missing_filing THEN 'incomplete'
            ELSE 'in_force' END AS status,
       missing_agreement, missing_filing, expiring
FROM assessed
ORDER BY expires_on, id

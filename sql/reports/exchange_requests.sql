-- Exchange requests still open or escalated, oldest deadline first: one row per request.
WITH open_requests AS (
    SELECT r.id, r.dataset_id, r.owner, r.requester, r.review, r.status, r.received_at,
           r.due_on, r.escalated_at
    FROM exchange_requests AS r
    WHERE r.status = 'pending' OR r.escalated_at IS NOT NULL
)
SELECT id, dataset_id, owner, requester, review, status, received_at, due_on,
       escalated_at IS NOT NULL AS escalated
FROM open_requests
ORDER BY due_on, id

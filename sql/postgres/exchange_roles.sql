-- Production PostgreSQL: consumers never connect to the central store; the exchange API is the
-- only reader outside the platform. Run once as a superuser on the jinshu database, after the
-- tables exist (psql -v api_password=... -f exchange_roles.sql). Not run by the tests (roles are
-- server-wide); read it with README "Sharing exchange".
--
--   jinshu_platform  owns the tables: Airflow workers (ingest, publish, rotation), jinshu CLI
--   jinshu_exchange  the API only (jinshu serve / the api-server plugin): reads datasets and
--                    governance tables, writes requests, access records and the audit chain
--   nobody else      no CONNECT; departments hold API tokens, not database accounts

REVOKE ALL ON DATABASE jinshu FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;

CREATE ROLE jinshu_exchange LOGIN PASSWORD :'api_password';
GRANT CONNECT ON DATABASE jinshu TO jinshu_exchange;
GRANT USAGE ON SCHEMA public TO jinshu_exchange;

-- what the API reads: the dataset tables (ds_*), credentials, grants, incidents, versions
GRANT SELECT ON ALL TABLES IN SCHEMA public TO jinshu_exchange;
ALTER DEFAULT PRIVILEGES FOR ROLE jinshu_platform IN SCHEMA public
    GRANT SELECT ON TABLES TO jinshu_exchange;   -- ds_* tables of contracts added later
-- what it writes: requests and decisions, access records, the audit chain (append + its lock)
GRANT INSERT, UPDATE ON exchange_requests TO jinshu_exchange;
GRANT INSERT ON exchange_access, audit_log TO jinshu_exchange;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO jinshu_exchange;
-- the internal masked snapshots (ex_*) are the publisher's, not the API's
DO $$ DECLARE t text; BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'ex\_%'
  LOOP EXECUTE format('REVOKE ALL ON %I FROM jinshu_exchange', t); END LOOP; END $$;

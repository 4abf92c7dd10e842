-- Read-only access to the mirror for BI tools (Metabase, Grafana, Superset, psql).
--
-- Run it once, in the indexer's database, after `indexer migrate up`, as a role that may create roles
-- and grant on the modelarts schema and the database: a superuser, or a role with CREATEROLE that owns
-- the database and is a member of the migrating role (on PostgreSQL 16 and later it must also hold
-- ADMIN on the roles it grants):
--
--   psql "$INDEXER_DATABASE_URL" -v ON_ERROR_STOP=1 -f docs/readonly-role.sql
--   psql "$INDEXER_DATABASE_URL" -c '\password metabase'
--
-- Adapt three names first:
--   modelarts_reader  the group role that holds the privileges;
--   metabase          the login of one BI tool (repeat its six statements for each tool);
--   indexer           the role that runs `indexer migrate` and `indexer run`/`sync`: what later
--                     migrations create (tables and views) becomes readable by the group without
--                     running this file again, and it keeps what this file takes from everyone else.
--                     If one role migrates and another syncs, give the second the two GRANTs to
--                     indexer below as well (TEMPORARY and EXECUTE on the advisory-lock functions):
--                     without them its syncs fail with "permission denied".
--
-- What a login gets: USAGE on schema modelarts and SELECT on its tables and views, nothing else. Its
-- sessions start read-only, with modelarts on the search_path, and end a statement after 5 minutes
-- and a transaction left idle after 1 minute (psycopg2 and JDBC with autocommit off leave one open after
-- every query; an idle transaction would hold locks that block the indexer's migrations). The
-- read-only default is a seat belt (a session may turn it off); the privileges are the barrier.
--
-- What this database takes from PUBLIC (every role but superusers, the indexer and the roles granted
-- again): temporary tables (TEMP) and the advisory-lock functions, which the indexer uses for its
-- migration locks (goose's, the job queue's): a BI session cannot take them and hold a migration.
-- A source is held by a lease row (modelarts.source_leases), which only the indexer may write.
--
-- Other databases: PostgreSQL lets every role connect to every database whose CONNECT is granted to
-- PUBLIC (the default). To let the login into this database only, reject it elsewhere in pg_hba.conf
-- (rules are read top down; use your database's name and the login's addresses):
--
--   host  vizjob  metabase  10.0.0.0/8  scram-sha-256
--   host  all     metabase  all         reject
--
-- or, in a cluster of its own, revoke CONNECT from PUBLIC on the other databases (the NOTICE below
-- names them). On PostgreSQL 13 and 14 every role may create tables in schema public: in a database of
-- its own, also run REVOKE CREATE ON SCHEMA public FROM PUBLIC.

-- The group: holds the privileges, cannot log in.
CREATE ROLE modelarts_reader NOLOGIN;
DO $$
DECLARE
    others text;
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO modelarts_reader', current_database());
    -- No temporary tables but for the indexer, which stages every page in one.
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO indexer', current_database());
    SELECT string_agg(quote_ident(datname), ', ' ORDER BY datname) INTO others
    FROM pg_database
    WHERE datallowconn AND NOT datistemplate AND datname <> current_database()
      AND has_database_privilege('public', oid, 'CONNECT');
    IF others IS NOT NULL THEN
        RAISE NOTICE 'every role may still connect to the databases %: reject the BI logins there in pg_hba.conf (see the header of this file)', others;
    END IF;
END
$$;
-- The advisory locks are the indexer's: goose's migration lock and the job queue's (River's migrations).
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_advisory_lock(bigint), pg_catalog.pg_try_advisory_lock(bigint),
    pg_catalog.pg_advisory_xact_lock(bigint), pg_catalog.pg_try_advisory_xact_lock(bigint),
    pg_catalog.pg_advisory_lock_shared(bigint), pg_catalog.pg_try_advisory_lock_shared(bigint),
    pg_catalog.pg_advisory_lock(integer, integer), pg_catalog.pg_try_advisory_lock(integer, integer),
    pg_catalog.pg_advisory_xact_lock(integer, integer), pg_catalog.pg_try_advisory_xact_lock(integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_advisory_lock(bigint), pg_catalog.pg_try_advisory_lock(bigint),
    pg_catalog.pg_advisory_xact_lock(bigint), pg_catalog.pg_try_advisory_xact_lock(bigint),
    pg_catalog.pg_advisory_lock_shared(bigint), pg_catalog.pg_try_advisory_lock_shared(bigint),
    pg_catalog.pg_advisory_lock(integer, integer), pg_catalog.pg_try_advisory_lock(integer, integer),
    pg_catalog.pg_advisory_xact_lock(integer, integer), pg_catalog.pg_try_advisory_xact_lock(integer, integer)
    TO indexer;
GRANT USAGE ON SCHEMA modelarts TO modelarts_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA modelarts TO modelarts_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE indexer IN SCHEMA modelarts GRANT SELECT ON TABLES TO modelarts_reader;

-- One login per BI tool, a member of the group.
CREATE ROLE metabase LOGIN IN ROLE modelarts_reader;
ALTER ROLE metabase SET default_transaction_read_only = on;
ALTER ROLE metabase SET statement_timeout = '5min';
ALTER ROLE metabase SET idle_in_transaction_session_timeout = '1min';
ALTER ROLE metabase SET search_path = modelarts, public;
ALTER ROLE metabase SET application_name = 'metabase';

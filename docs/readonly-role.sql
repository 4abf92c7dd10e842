-- Read-only access to the mirror for BI tools (Metabase, Grafana, Superset, psql).
--
-- Run it once, in the indexer's database, after `indexer migrate up`, as a role that may create roles
-- and grant on the modelarts schema: a superuser, or a role with CREATEROLE that is a member of the
-- migrating role (on PostgreSQL 16 and later it must also hold ADMIN on the roles it grants):
--
--   psql "$INDEXER_DATABASE_URL" -v ON_ERROR_STOP=1 -f docs/readonly-role.sql
--   psql "$INDEXER_DATABASE_URL" -c '\password metabase'
--
-- Adapt three names first:
--   modelarts_reader  the group role that holds the privileges;
--   metabase          the login of one BI tool (repeat its four statements for each tool);
--   indexer           the role that runs `indexer migrate`: what later migrations create (tables and
--                     views) becomes readable by the group without running this file again.
--
-- What a login gets: USAGE on schema modelarts and SELECT on its tables and views, nothing else; its
-- sessions start read-only with a statement timeout and modelarts on the search_path. The
-- read-only default is a seat belt (a session may turn it off); the privileges are the barrier.
-- On PostgreSQL 13 and 14 every role may create tables in schema public: in a database of its own,
-- also run REVOKE CREATE ON SCHEMA public FROM PUBLIC.

-- The group: holds the privileges, cannot log in.
CREATE ROLE modelarts_reader NOLOGIN;
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO modelarts_reader', current_database());
END
$$;
GRANT USAGE ON SCHEMA modelarts TO modelarts_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA modelarts TO modelarts_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE indexer IN SCHEMA modelarts GRANT SELECT ON TABLES TO modelarts_reader;

-- One login per BI tool, a member of the group.
CREATE ROLE metabase LOGIN IN ROLE modelarts_reader;
ALTER ROLE metabase SET default_transaction_read_only = on;
ALTER ROLE metabase SET statement_timeout = '5min';
ALTER ROLE metabase SET search_path = modelarts, public;

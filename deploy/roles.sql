-- Least-privilege roles of a juno-conddb PostgreSQL database (see deploy/README.md, "Roles").
--
--   conddb_owner   owns the schema objects; runs `conddb db upgrade` (migrations) only
--   conddb_writer  the service and `conddb campaign run`: reads, appends, locks and freezes;
--                  no DELETE, no TRUNCATE, no UPDATE except tag/global-tag state, no DDL
--   conddb_reader  read-only consumers (reconstruction, browsers, replicas)
--
-- Run as a superuser, connected to the conditions database, AFTER `conddb db upgrade`, and again
-- after every upgrade that adds tables (the script is idempotent):
--
--   psql -h HOST -U postgres -d conddb -v ON_ERROR_STOP=1 -f deploy/roles.sql
--
-- The three roles are NOLOGIN groups: give people and services their own LOGIN roles in them,
-- e.g.  CREATE ROLE conddb_service LOGIN PASSWORD '...' IN ROLE conddb_writer;
-- The immutability triggers (migrations 0001-0003) hold for every role, the owner included;
-- these grants are the second line: a leaked writer password cannot even try DELETE/TRUNCATE.

DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['conddb_owner', 'conddb_writer', 'conddb_reader'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', name);
        END IF;
    END LOOP;
END $$;

-- Nobody but the owner creates objects in the schema.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO conddb_owner;
GRANT USAGE ON SCHEMA public TO conddb_reader, conddb_writer;

-- The owner owns every table, sequence and guard function of the schema (migrations run as it).
DO $$
DECLARE
    obj record;
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO conddb_owner, conddb_writer, conddb_reader',
                   current_database());
    FOR obj IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
        EXECUTE format('ALTER TABLE public.%I OWNER TO conddb_owner', obj.tablename);
    END LOOP;
    FOR obj IN SELECT p.oid::regprocedure AS f FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'public' AND p.proname LIKE 'conddb\_%' LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO conddb_owner', obj.f);
    END LOOP;
    FOR obj IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
               WHERE n.nspname = 'public' AND t.typtype = 'e' LOOP
        EXECUTE format('ALTER TYPE public.%I OWNER TO conddb_owner', obj.typname);
    END LOOP;
END $$;

-- Reader: SELECT only.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO conddb_reader;

-- Writer: read, append everywhere, and change only the state columns of lock and freeze.
-- (SELECT ... FOR UPDATE / FOR SHARE on tag and global_tag needs their UPDATE privilege.)
GRANT conddb_reader TO conddb_writer;
GRANT INSERT ON ALL TABLES IN SCHEMA public TO conddb_writer;
REVOKE INSERT ON public.alembic_version FROM conddb_writer;
GRANT UPDATE (state, locked_at) ON public.tag TO conddb_writer;
GRANT UPDATE (state, frozen_at, snapshot_time, invalid_reason, replaced_by)
    ON public.global_tag TO conddb_writer;
GRANT UPDATE (synchronization) ON public.tag TO conddb_writer;
-- bookkeeping bumped by the triggers of the writer's own statements (0005, 0006): only grow
GRANT UPDATE (n) ON public.change_counter TO conddb_writer;
GRANT UPDATE (fcsr) ON public.sync_state TO conddb_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO conddb_writer;
REVOKE DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public FROM conddb_writer, conddb_reader;

-- Tables a later migration creates (as the owner) get the same reader and writer rights.
ALTER DEFAULT PRIVILEGES FOR ROLE conddb_owner IN SCHEMA public
    GRANT SELECT ON TABLES TO conddb_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE conddb_owner IN SCHEMA public
    GRANT INSERT ON TABLES TO conddb_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE conddb_owner IN SCHEMA public
    GRANT USAGE ON SEQUENCES TO conddb_writer;

-- Indexes that FerretDB 1.24's PostgreSQL query shape can use, created by PostgreSQL itself.
--
-- FerretDB pushes an equality filter down as  _jsonb -> 'field' @> '"value"'  and nothing else
-- (no range, no sort, no limit when a filter or sort is set). Its own indexes are btrees on
-- ((_jsonb -> 'field')), which `@>` cannot use: every find by thread_id was a Seq Scan over the
-- whole collection. A GIN index on the same expression serves `@>` (Bitmap Index Scan);
-- jsonb_path_ops is the smaller, faster operator class and supports exactly `@>`.
-- fastupdate is off: with it, new entries wait in a pending list (up to 4 MB) that every query
-- reads through from start to end, until a vacuum merges it; a page would then cost more the
-- more was written lately. Off, each insert updates the index itself.
--
-- FerretDB creates a collection's table when the collection is first used, in a schema named
-- after the MongoDB database, and its name is the collection's plus a hash ("messages_1a2b3c4d").
-- An event trigger at the end of that CREATE TABLE adds the indexes in the same transaction, so
-- they exist before the first document, for every database (each test picks its own).
-- This file is applied on every start of the cluster (`infra._postgres`): idempotent.

CREATE OR REPLACE FUNCTION parley_gin_fields(collection_table text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        -- a thread's rows by bucket (history pages, replay, last seq: adapters/_buckets.py); a
        -- thread's count; duplicate check; blanking the copies of a deleted text. On these three
        -- collections `outbox_pending` is what the outbox relay finds pending domain events by,
        -- on every round (core/_outbox_relay.py): without its index each round read the whole
        -- messages table (21 ms at 50,000 rows, 1.4 ms with it; growing with everything stored).
        WHEN collection_table ~ '^messages_[0-9a-f]{8}$'
            THEN ARRAY['_id', 'thread_bucket', 'thread_id', 'message_id', 'target_id',
                       'outbox_pending']
        -- a member's thread list; threads stored before `_id` = thread_id are found by thread_id
        WHEN collection_table ~ '^threads_[0-9a-f]{8}$'
            THEN ARRAY['_id', 'members', 'thread_id', 'outbox_pending']
        WHEN collection_table ~ '^users_[0-9a-f]{8}$' THEN ARRAY['_id', 'outbox_pending']
        -- every other collection is read by `_id`
        ELSE ARRAY['_id']
    END
$$;

CREATE OR REPLACE FUNCTION parley_gin_indexes(schema_name text, table_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    field text;
    index_name text;
BEGIN
    IF table_name LIKE '\_ferretdb%' OR NOT EXISTS (
        SELECT 1 FROM information_schema.columns c
        WHERE c.table_schema = schema_name AND c.table_name = parley_gin_indexes.table_name
          AND c.column_name = '_jsonb'
    ) THEN
        RETURN;
    END IF;
    FOREACH field IN ARRAY parley_gin_fields(table_name) LOOP
        index_name := left(table_name, 40) || '_' || replace(field, '_', '') || '_gin';
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin ((_jsonb -> %L) jsonb_path_ops) '
            'WITH (fastupdate = off)',
            index_name, schema_name, table_name, field
        );
        EXECUTE format('ALTER INDEX %I.%I SET (fastupdate = off)', schema_name, index_name);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION parley_gin_on_create() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    created record;
BEGIN
    FOR created IN
        SELECT n.nspname AS schema_name, c.relname AS table_name
        FROM pg_event_trigger_ddl_commands() AS d
        JOIN pg_class AS c ON c.oid = d.objid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE d.command_tag = 'CREATE TABLE' AND d.object_type = 'table'
    LOOP
        PERFORM parley_gin_indexes(created.schema_name, created.table_name);
    END LOOP;
END
$$;

DROP EVENT TRIGGER IF EXISTS parley_gin_on_create;
CREATE EVENT TRIGGER parley_gin_on_create ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION parley_gin_on_create();

-- Tables made before this trigger existed (an older cluster) get the indexes now.
SELECT parley_gin_indexes(table_schema, table_name)
FROM information_schema.columns
WHERE column_name = '_jsonb' AND table_schema NOT IN ('pg_catalog', 'information_schema');

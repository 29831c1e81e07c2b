#!/bin/sh
# capture-events.sh: print the event-trigger rows PostgreSQL fires for the
# input.sql section of a golden file, in the format of its events section.
# The golden tests need no database; this only regenerates that section.
#
#   usage: PGHOST=... PGPORT=... PGUSER=<superuser> capture-events.sh FILE.txtar [commands]
#
# It creates a scratch database, installs event triggers that record what a
# capture trigger sees (one row per pg_event_trigger_ddl_commands() row,
# extension members skipped, and one per pg_event_trigger_dropped_objects()
# row), runs the setup.sql section, then sends input.sql as ONE simple query
# (like psql -c or pgx Exec), so current_query() is the whole string, with
# the search_path section as the session's search_path. With
# "commands" it appends the command number of each row (Event.Command).
set -eu
file=$1
db=ddlparse_capture_$$
section() { awk -v s="$1" '/^-- .* --$/ { on = ($2 == s); next } on' "$file"; }
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" >/dev/null
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
CREATE SCHEMA cap;
CREATE TABLE cap.ev (n bigserial PRIMARY KEY, event text, tag text, object_type text, schema_name text, identity text, command int);
-- The n-th ddl_command_end firing of the current query message; sql_drop rows
-- take the number of the command they precede.
CREATE FUNCTION cap.command(is_end boolean) RETURNS int LANGUAGE plpgsql AS $$
DECLARE k text := statement_timestamp()::text; n int;
BEGIN
  IF current_setting('cap.key', true) IS DISTINCT FROM k THEN
    PERFORM set_config('cap.key', k, false);
    PERFORM set_config('cap.n', '0', false);
  END IF;
  n := current_setting('cap.n')::int + 1;
  IF is_end THEN PERFORM set_config('cap.n', n::text, false); END IF;
  RETURN n;
END $$;
CREATE FUNCTION cap.on_end() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record; c int; inner_ext boolean;
BEGIN
  -- Commands run by an extension script fire too; they are not commands
  -- of the client's string.
  SELECT bool_and(in_extension) INTO inner_ext FROM pg_event_trigger_ddl_commands();
  IF inner_ext THEN RETURN; END IF;
  c := cap.command(true);
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE NOT in_extension LOOP
    INSERT INTO cap.ev (event, tag, object_type, schema_name, identity, command)
    VALUES ('ddl_command_end', TG_TAG, r.object_type, r.schema_name, r.object_identity, c);
  END LOOP;
END $$;
CREATE FUNCTION cap.on_drop() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record; c int := cap.command(false);
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
    INSERT INTO cap.ev (event, tag, object_type, schema_name, identity, command)
    VALUES ('sql_drop', TG_TAG, r.object_type, r.schema_name, r.object_identity, c);
  END LOOP;
END $$;
CREATE EVENT TRIGGER cap_end ON ddl_command_end EXECUTE FUNCTION cap.on_end();
CREATE EVENT TRIGGER cap_drop ON sql_drop EXECUTE FUNCTION cap.on_drop();
SQL
section setup.sql >/tmp/$db.setup
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f /tmp/$db.setup >/dev/null
rm -f /tmp/$db.setup
psql -X -q -d "$db" -c "TRUNCATE cap.ev" >/dev/null
sp=$(section search_path)
PGOPTIONS="${sp:+-c search_path=$(echo "$sp" | tr -d ' ')}" psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "$(section input.sql)" >/dev/null
cols="event || ' | ' || tag || ' | ' || object_type || ' | ' || coalesce(schema_name, '') || ' | ' || coalesce(identity, '')"
if [ "${2:-}" = commands ]; then cols="$cols || ' | ' || command"; fi
psql -X -q -At -d "$db" -c "SELECT $cols FROM cap.ev ORDER BY n"

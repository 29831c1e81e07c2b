--
-- PostgreSQL database dump
--

\restrict PXZnjvkZbPI86MJxRm5PuoOdSdzRH8vUmyTBYVsb4PBtU3YHeMg8UJbaBWeAt5u


SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: app; Type: SCHEMA; Schema: -; Owner: app_owner
--

CREATE SCHEMA app;


ALTER SCHEMA app OWNER TO app_owner;

--
-- Name: SCHEMA app; Type: COMMENT; Schema: -; Owner: app_owner
--

COMMENT ON SCHEMA app IS 'application schema';


--
-- Name: public; Type: SCHEMA; Schema: -; Owner: pg_database_owner
--

CREATE SCHEMA public;


ALTER SCHEMA public OWNER TO pg_database_owner;

--
-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: pg_database_owner
--

COMMENT ON SCHEMA public IS 'standard public schema';


--
-- Name: ci; Type: COLLATION; Schema: app; Owner: postgres
--

CREATE COLLATION app.ci (provider = icu, deterministic = false, locale = 'und-u-ks-level2');


ALTER COLLATION app.ci OWNER TO postgres;

--
-- Name: ci_text; Type: DOMAIN; Schema: app; Owner: postgres
--

CREATE DOMAIN app.ci_text AS text COLLATE app.ci NOT NULL DEFAULT 'x'::text;


ALTER DOMAIN app.ci_text OWNER TO postgres;

--
-- Name: floatrange; Type: TYPE; Schema: app; Owner: postgres
--

CREATE TYPE app.floatrange AS RANGE (
    subtype = double precision,
    multirange_type_name = app.floatmultirange,
    subtype_diff = float8mi
);


ALTER TYPE app.floatrange OWNER TO postgres;

--
-- Name: mood; Type: TYPE; Schema: app; Owner: app_owner
--

CREATE TYPE app.mood AS ENUM (
    'sad',
    'ok',
    'happy',
    'it''s complicated'
);


ALTER TYPE app.mood OWNER TO app_owner;

--
-- Name: posint; Type: DOMAIN; Schema: app; Owner: postgres
--

CREATE DOMAIN app.posint AS integer
	CONSTRAINT posint_check CHECK ((VALUE > 0));


ALTER DOMAIN app.posint OWNER TO postgres;

--
-- Name: CONSTRAINT posint_check ON DOMAIN posint; Type: COMMENT; Schema: app; Owner: postgres
--

COMMENT ON CONSTRAINT posint_check ON DOMAIN app.posint IS 'positive';


--
-- Name: pt; Type: TYPE; Schema: app; Owner: postgres
--

CREATE TYPE app.pt AS (
	x integer,
	label text
);


ALTER TYPE app.pt OWNER TO postgres;

--
-- Name: TYPE pt; Type: COMMENT; Schema: app; Owner: postgres
--

COMMENT ON TYPE app.pt IS 'a labelled point';


--
-- Name: textrange; Type: TYPE; Schema: app; Owner: postgres
--

CREATE TYPE app.textrange AS RANGE (
    subtype = text,
    multirange_type_name = app.textmultirange,
    collation = app.ci
);


ALTER TYPE app.textrange OWNER TO postgres;

--
-- Name: Status; Type: TYPE; Schema: public; Owner: postgres
--

CREATE TYPE public."Status" AS ENUM (
    'new',
    'Paid',
    'shipped'
);


ALTER TYPE public."Status" OWNER TO postgres;

--
-- Name: email; Type: DOMAIN; Schema: public; Owner: postgres
--

CREATE DOMAIN public.email AS public.citext
	CONSTRAINT email_check CHECK ((VALUE OPERATOR(public.~) '@'::public.citext));


ALTER DOMAIN public.email OWNER TO postgres;

--
-- Name: add_tax(numeric, numeric); Type: FUNCTION; Schema: app; Owner: app_owner
--

CREATE FUNCTION app.add_tax(amount numeric, rate numeric DEFAULT 0.2) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT amount * (1 + rate) $$;


ALTER FUNCTION app.add_tax(amount numeric, rate numeric) OWNER TO app_owner;

--
-- Name: FUNCTION add_tax(amount numeric, rate numeric); Type: COMMENT; Schema: app; Owner: app_owner
--

COMMENT ON FUNCTION app.add_tax(amount numeric, rate numeric) IS 'adds tax';


--
-- Name: audit(); Type: FUNCTION; Schema: app; Owner: postgres
--

CREATE FUNCTION app.audit() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  RAISE NOTICE 'rows: %', (SELECT count(*) FROM newtab);
  RETURN NULL;
END $$;


ALTER FUNCTION app.audit() OWNER TO postgres;

--
-- Name: invoice_no_seq; Type: SEQUENCE; Schema: app; Owner: app_owner
--

CREATE SEQUENCE app.invoice_no_seq
    START WITH 1000
    INCREMENT BY 5
    NO MINVALUE
    NO MAXVALUE
    CACHE 10;


ALTER TABLE app.invoice_no_seq OWNER TO app_owner;

--
-- Name: SEQUENCE invoice_no_seq; Type: COMMENT; Schema: app; Owner: app_owner
--

COMMENT ON SEQUENCE app.invoice_no_seq IS 'invoice numbers';


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: Orders; Type: TABLE; Schema: app; Owner: app_owner
--

CREATE TABLE app."Orders" (
    id bigint NOT NULL,
    invoice_no bigint DEFAULT nextval('app.invoice_no_seq'::regclass) NOT NULL,
    customer_id integer NOT NULL,
    "CamelCol" text COLLATE pg_catalog."C",
    mood app.mood DEFAULT 'ok'::app.mood NOT NULL,
    total numeric(12,2) NOT NULL,
    total_with_tax numeric GENERATED ALWAYS AS ((total * 1.2)) STORED,
    note public.citext,
    secret bytea DEFAULT app.gen_random_bytes(8),
    placed timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT "Orders_total_check" CHECK ((total >= (0)::numeric))
);

ALTER TABLE ONLY app."Orders" FORCE ROW LEVEL SECURITY;


ALTER TABLE app."Orders" OWNER TO app_owner;

--
-- Name: COLUMN "Orders"."CamelCol"; Type: COMMENT; Schema: app; Owner: app_owner
--

COMMENT ON COLUMN app."Orders"."CamelCol" IS 'a mixed-case column';


--
-- Name: bump(bigint); Type: PROCEDURE; Schema: app; Owner: postgres
--

CREATE PROCEDURE app.bump(IN oid bigint)
    LANGUAGE sql
    BEGIN ATOMIC
 UPDATE app."Orders" SET total = ("Orders".total + (1)::numeric)
   WHERE ("Orders".id = bump.oid);
END;


ALTER PROCEDURE app.bump(IN oid bigint) OWNER TO postgres;

--
-- Name: close_order(bigint, text[]); Type: PROCEDURE; Schema: app; Owner: postgres
--

CREATE PROCEDURE app.close_order(IN oid bigint, VARIADIC reasons text[])
    LANGUAGE plpgsql
    AS $$
BEGIN
  UPDATE app."Orders" SET "CamelCol" = array_to_string(reasons, ',') WHERE id = oid;
END $$;


ALTER PROCEDURE app.close_order(IN oid bigint, VARIADIC reasons text[]) OWNER TO postgres;

--
-- Name: customer_total(integer); Type: FUNCTION; Schema: app; Owner: postgres
--

CREATE FUNCTION app.customer_total(cid integer) RETURNS numeric
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(sum(total), 0) FROM app."Orders" WHERE customer_id = cid $$;


ALTER FUNCTION app.customer_total(cid integer) OWNER TO postgres;

--
-- Name: dyn_count(text); Type: FUNCTION; Schema: app; Owner: postgres
--

CREATE FUNCTION app.dyn_count(tbl text) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM app.%I', tbl) INTO n;
  RETURN n;
END $$;


ALTER FUNCTION app.dyn_count(tbl text) OWNER TO postgres;

--
-- Name: mood_of(app.mood); Type: FUNCTION; Schema: app; Owner: postgres
--

CREATE FUNCTION app.mood_of(m app.mood DEFAULT 'ok'::app.mood) RETURNS app.mood
    LANGUAGE sql IMMUTABLE
    RETURN m;


ALTER FUNCTION app.mood_of(m app.mood) OWNER TO postgres;

--
-- Name: order_count(integer); Type: FUNCTION; Schema: app; Owner: postgres
--

CREATE FUNCTION app.order_count(cid integer) RETURNS bigint
    LANGUAGE sql STABLE
    BEGIN ATOMIC
 SELECT count(*) AS count
    FROM app."Orders" o
   WHERE (o.customer_id = order_count.cid);
END;


ALTER FUNCTION app.order_count(cid integer) OWNER TO postgres;

--
-- Name: orders_of(integer); Type: FUNCTION; Schema: app; Owner: postgres
--

CREATE FUNCTION app.orders_of(cid integer, OUT id bigint, OUT total numeric) RETURNS SETOF record
    LANGUAGE sql STABLE ROWS 10
    BEGIN ATOMIC
 SELECT o.id,
     o.total
    FROM app."Orders" o
   WHERE (o.customer_id = orders_of.cid)
   ORDER BY o.id;
END;


ALTER FUNCTION app.orders_of(cid integer, OUT id bigint, OUT total numeric) OWNER TO postgres;

--
-- Name: text_lt(app.ci_text, app.ci_text); Type: FUNCTION; Schema: app; Owner: postgres
--

CREATE FUNCTION app.text_lt(a app.ci_text, b app.ci_text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    RETURN ((a)::text < (b)::text);


ALTER FUNCTION app.text_lt(a app.ci_text, b app.ci_text) OWNER TO postgres;

--
-- Name: touch(); Type: FUNCTION; Schema: app; Owner: postgres
--

CREATE FUNCTION app.touch() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'app', 'public'
    AS $$
BEGIN
  NEW.placed := now();
  RETURN NEW;
END
$$;


ALTER FUNCTION app.touch() OWNER TO postgres;

--
-- Name: customer_name(integer); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.customer_name(cid integer) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO 'public', 'pg_temp'
    AS $$SELECT name FROM customers WHERE id = cid$$;


ALTER FUNCTION public.customer_name(cid integer) OWNER TO postgres;

--
-- Name: double_it(integer); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.double_it(a integer) RETURNS integer
    LANGUAGE sql IMMUTABLE
    RETURN (a * 2);


ALTER FUNCTION public.double_it(a integer) OWNER TO postgres;

--
-- Name: concat_agg(text); Type: AGGREGATE; Schema: app; Owner: postgres
--

CREATE AGGREGATE app.concat_agg(text) (
    SFUNC = textcat,
    STYPE = text,
    INITCOND = ''
);


ALTER AGGREGATE app.concat_agg(text) OWNER TO postgres;

--
-- Name: <<<; Type: OPERATOR; Schema: app; Owner: postgres
--

CREATE OPERATOR app.<<< (
    FUNCTION = app.text_lt,
    LEFTARG = app.ci_text,
    RIGHTARG = app.ci_text
);


ALTER OPERATOR app.<<< (app.ci_text, app.ci_text) OWNER TO postgres;

--
-- Name: simple_dict; Type: TEXT SEARCH DICTIONARY; Schema: app; Owner: postgres
--

CREATE TEXT SEARCH DICTIONARY app.simple_dict (
    TEMPLATE = pg_catalog.simple,
    stopwords = 'english' );


ALTER TEXT SEARCH DICTIONARY app.simple_dict OWNER TO postgres;

--
-- Name: simple_cfg; Type: TEXT SEARCH CONFIGURATION; Schema: app; Owner: postgres
--

CREATE TEXT SEARCH CONFIGURATION app.simple_cfg (
    PARSER = pg_catalog."default" );

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR asciiword WITH app.simple_dict, simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR word WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR numword WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR email WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR url WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR host WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR sfloat WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR version WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR hword_numpart WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR hword_part WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR hword_asciipart WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR numhword WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR asciihword WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR hword WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR url_path WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR file WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR "float" WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR "int" WITH simple;

ALTER TEXT SEARCH CONFIGURATION app.simple_cfg
    ADD MAPPING FOR uint WITH simple;


ALTER TEXT SEARCH CONFIGURATION app.simple_cfg OWNER TO postgres;

--
-- Name: Orders_id_seq; Type: SEQUENCE; Schema: app; Owner: app_owner
--

ALTER TABLE app."Orders" ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME app."Orders_id_seq"
    START WITH 100
    INCREMENT BY 10
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: alltypes; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.alltypes (
    id integer NOT NULL,
    i2 smallint,
    i4 integer,
    i8 bigint,
    num numeric(30,8),
    f4 real,
    f8 double precision,
    m money,
    t text,
    vc character varying(20),
    ch character(5),
    by bytea,
    b boolean,
    d date,
    tm time without time zone,
    ttz time with time zone,
    ts timestamp without time zone,
    tstz timestamp with time zone,
    iv interval,
    u uuid,
    j json,
    jb jsonb,
    x xml,
    ip inet,
    cd cidr,
    mac macaddr,
    bt bit(8),
    vb bit varying,
    tsv tsvector,
    ai integer[],
    at text[],
    e app.mood,
    c app.pt,
    ea app.mood[],
    r int4range,
    tr tstzrange,
    dm app.posint,
    fr app.floatrange,
    ct public.citext,
    big text,
    doc tsvector GENERATED ALWAYS AS (to_tsvector('app.simple_cfg'::regconfig, COALESCE(t, ''::text))) STORED
)
WITH (fillfactor='80', autovacuum_enabled='false');
ALTER TABLE ONLY app.alltypes ALTER COLUMN i4 SET (n_distinct=100);
ALTER TABLE ONLY app.alltypes ALTER COLUMN t SET STATISTICS 500;
ALTER TABLE ONLY app.alltypes ALTER COLUMN vc SET COMPRESSION pglz;
ALTER TABLE ONLY app.alltypes ALTER COLUMN big SET STORAGE EXTERNAL;

ALTER TABLE ONLY app.alltypes REPLICA IDENTITY FULL;


ALTER TABLE app.alltypes OWNER TO postgres;

--
-- Name: base; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.base (
    id integer,
    created timestamp with time zone DEFAULT now(),
    CONSTRAINT base_id_check CHECK ((id > 0)) NO INHERIT
);


ALTER TABLE app.base OWNER TO postgres;

--
-- Name: bookings; Type: TABLE; Schema: app; Owner: app_owner
--

CREATE TABLE app.bookings (
    id integer NOT NULL,
    room integer NOT NULL,
    during tstzrange NOT NULL
);

ALTER TABLE ONLY app.bookings REPLICA IDENTITY NOTHING;


ALTER TABLE app.bookings OWNER TO app_owner;

--
-- Name: bookings_id_seq; Type: SEQUENCE; Schema: app; Owner: app_owner
--

ALTER TABLE app.bookings ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME app.bookings_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: child; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.child (
    extra text
)
INHERITS (app.base);


ALTER TABLE app.child OWNER TO postgres;

--
-- Name: daily_totals; Type: MATERIALIZED VIEW; Schema: app; Owner: postgres
--

CREATE MATERIALIZED VIEW app.daily_totals AS
 SELECT date_trunc('day'::text, "Orders".placed) AS day,
    sum("Orders".total) AS total,
    count(*) AS n
   FROM app."Orders"
  GROUP BY (date_trunc('day'::text, "Orders".placed))
  WITH NO DATA;


ALTER TABLE app.daily_totals OWNER TO postgres;

--
-- Name: MATERIALIZED VIEW daily_totals; Type: COMMENT; Schema: app; Owner: postgres
--

COMMENT ON MATERIALIZED VIEW app.daily_totals IS 'per day';


--
-- Name: events; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.events (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    region text NOT NULL,
    payload jsonb
)
PARTITION BY RANGE (at);


ALTER TABLE app.events OWNER TO postgres;

--
-- Name: events_2024; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.events_2024 (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    region text NOT NULL,
    payload jsonb
);


ALTER TABLE app.events_2024 OWNER TO postgres;

--
-- Name: events_2025; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.events_2025 (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    region text NOT NULL,
    payload jsonb
)
PARTITION BY LIST (region);


ALTER TABLE app.events_2025 OWNER TO postgres;

--
-- Name: events_2025_eu; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.events_2025_eu (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    region text NOT NULL,
    payload jsonb
);


ALTER TABLE app.events_2025_eu OWNER TO postgres;

--
-- Name: events_2025_other; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.events_2025_other (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    region text NOT NULL,
    payload jsonb
);


ALTER TABLE app.events_2025_other OWNER TO postgres;

--
-- Name: events_default; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.events_default (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    region text NOT NULL,
    payload jsonb
);


ALTER TABLE app.events_default OWNER TO postgres;

--
-- Name: customers; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.customers (
    id integer NOT NULL,
    email public.email NOT NULL,
    name text NOT NULL COLLATE app.ci,
    status public."Status" DEFAULT 'new'::public."Status" NOT NULL,
    created timestamp with time zone DEFAULT now() NOT NULL,
    tags text[] DEFAULT '{}'::text[]
);


ALTER TABLE public.customers OWNER TO postgres;

--
-- Name: TABLE customers; Type: COMMENT; Schema: public; Owner: postgres
--

COMMENT ON TABLE public.customers IS 'customers, in public';


--
-- Name: COLUMN customers.email; Type: COMMENT; Schema: public; Owner: postgres
--

COMMENT ON COLUMN public.customers.email IS 'login';


--
-- Name: order_summary; Type: VIEW; Schema: app; Owner: app_owner
--

CREATE VIEW app.order_summary WITH (security_barrier='true') AS
 SELECT o.id,
    o."CamelCol",
    c.email,
    c.name,
    app.add_tax(o.total) AS gross,
    (o.mood)::text AS mood
   FROM (app."Orders" o
     JOIN public.customers c ON ((c.id = o.customer_id)))
  WHERE ((c.email)::public.citext OPERATOR(public.<>) 'x@y'::public.citext);


ALTER TABLE app.order_summary OWNER TO app_owner;

--
-- Name: VIEW order_summary; Type: COMMENT; Schema: app; Owner: app_owner
--

COMMENT ON VIEW app.order_summary IS 'orders with customers';


--
-- Name: orders_in_2024; Type: VIEW; Schema: app; Owner: postgres
--

CREATE VIEW app.orders_in_2024 AS
 SELECT "Orders".id
   FROM app."Orders"
  WHERE (("Orders".placed >= ANY (ARRAY['2024-01-01 00:00:00+00'::timestamp with time zone])) AND (("Orders"."CamelCol")::app.ci_text OPERATOR(app.<<<) ('zzz'::text)::app.ci_text) AND ("Orders".mood = ANY ('{ok,happy}'::app.mood[])) AND ('app.mood'::regtype IS NOT NULL) AND ('app'::regnamespace IS NOT NULL) AND ('app.add_tax'::regproc IS NOT NULL));


ALTER TABLE app.orders_in_2024 OWNER TO postgres;

--
-- Name: ranked; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.ranked (
    id integer,
    during tstzrange,
    label text COLLATE app.ci
);


ALTER TABLE app.ranked OWNER TO postgres;

--
-- Name: scratch; Type: TABLE; Schema: app; Owner: postgres
--

CREATE UNLOGGED TABLE app.scratch (
    k text NOT NULL,
    v jsonb
)
WITH (autovacuum_vacuum_scale_factor='0.01', toast.autovacuum_enabled='false');


ALTER TABLE app.scratch OWNER TO postgres;

--
-- Name: sorted_orders; Type: VIEW; Schema: app; Owner: postgres
--

CREATE VIEW app.sorted_orders AS
 SELECT "Orders".id,
    "Orders".note
   FROM app."Orders"
  ORDER BY "Orders".note;


ALTER TABLE app.sorted_orders OWNER TO postgres;

--
-- Name: typed; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.typed OF app.pt (
    x NOT NULL
);


ALTER TABLE app.typed OWNER TO postgres;

--
-- Name: writable_orders; Type: VIEW; Schema: app; Owner: postgres
--

CREATE VIEW app.writable_orders AS
 SELECT "Orders".id,
    "Orders".total,
    "Orders".mood
   FROM app."Orders"
  WITH LOCAL CHECK OPTION;


ALTER TABLE app.writable_orders OWNER TO postgres;

--
-- Name: MixedView; Type: VIEW; Schema: public; Owner: postgres
--

CREATE VIEW public."MixedView" WITH (security_invoker='true') AS
 SELECT "Orders".id,
    "Orders".total
   FROM app."Orders"
  WHERE ("Orders".total > (10)::numeric)
  WITH CASCADED CHECK OPTION;


ALTER TABLE public."MixedView" OWNER TO postgres;

--
-- Name: customers_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.customers_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.customers_id_seq OWNER TO postgres;

--
-- Name: customers_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: postgres
--

ALTER SEQUENCE public.customers_id_seq OWNED BY public.customers.id;


--
-- Name: free_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.free_seq
    START WITH 0
    INCREMENT BY 1
    MINVALUE -100
    MAXVALUE 100
    CACHE 1
    CYCLE;


ALTER TABLE public.free_seq OWNER TO postgres;

--
-- Name: order_notes; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.order_notes (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    body text
);


ALTER TABLE public.order_notes OWNER TO postgres;

--
-- Name: order_notes_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

ALTER TABLE public.order_notes ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.order_notes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: events_2024; Type: TABLE ATTACH; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events ATTACH PARTITION app.events_2024 FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00');


--
-- Name: events_2025; Type: TABLE ATTACH; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events ATTACH PARTITION app.events_2025 FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');


--
-- Name: events_2025_eu; Type: TABLE ATTACH; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events_2025 ATTACH PARTITION app.events_2025_eu FOR VALUES IN ('eu', 'uk');


--
-- Name: events_2025_other; Type: TABLE ATTACH; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events_2025 ATTACH PARTITION app.events_2025_other DEFAULT;


--
-- Name: events_default; Type: TABLE ATTACH; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events ATTACH PARTITION app.events_default DEFAULT;


--
-- Name: child created; Type: DEFAULT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.child ALTER COLUMN created SET DEFAULT now();


--
-- Name: customers id; Type: DEFAULT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers ALTER COLUMN id SET DEFAULT nextval('public.customers_id_seq'::regclass);


--
-- Name: Orders Orders_pkey; Type: CONSTRAINT; Schema: app; Owner: app_owner
--

ALTER TABLE ONLY app."Orders"
    ADD CONSTRAINT "Orders_pkey" PRIMARY KEY (id);

ALTER TABLE app."Orders" CLUSTER ON "Orders_pkey";


--
-- Name: alltypes alltypes_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.alltypes
    ADD CONSTRAINT alltypes_pkey PRIMARY KEY (id);


--
-- Name: bookings bookings_pkey; Type: CONSTRAINT; Schema: app; Owner: app_owner
--

ALTER TABLE ONLY app.bookings
    ADD CONSTRAINT bookings_pkey PRIMARY KEY (id);


--
-- Name: bookings bookings_room_during_excl; Type: CONSTRAINT; Schema: app; Owner: app_owner
--

ALTER TABLE ONLY app.bookings
    ADD CONSTRAINT bookings_room_during_excl EXCLUDE USING gist (room WITH =, during WITH &&);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id, at, region);


--
-- Name: events_2024 events_2024_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events_2024
    ADD CONSTRAINT events_2024_pkey PRIMARY KEY (id, at, region);


--
-- Name: events_2025 events_2025_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events_2025
    ADD CONSTRAINT events_2025_pkey PRIMARY KEY (id, at, region);


--
-- Name: events_2025_eu events_2025_eu_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events_2025_eu
    ADD CONSTRAINT events_2025_eu_pkey PRIMARY KEY (id, at, region);


--
-- Name: events_2025_other events_2025_other_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events_2025_other
    ADD CONSTRAINT events_2025_other_pkey PRIMARY KEY (id, at, region);


--
-- Name: events_default events_default_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.events_default
    ADD CONSTRAINT events_default_pkey PRIMARY KEY (id, at, region);


--
-- Name: Orders orders_invoice_uq; Type: CONSTRAINT; Schema: app; Owner: app_owner
--

ALTER TABLE ONLY app."Orders"
    ADD CONSTRAINT orders_invoice_uq UNIQUE (invoice_no) DEFERRABLE INITIALLY DEFERRED;


--
-- Name: CONSTRAINT orders_invoice_uq ON "Orders"; Type: COMMENT; Schema: app; Owner: app_owner
--

COMMENT ON CONSTRAINT orders_invoice_uq ON app."Orders" IS 'invoice numbers are unique';


--
-- Name: Orders orders_total_sane; Type: CHECK CONSTRAINT; Schema: app; Owner: app_owner
--

ALTER TABLE app."Orders"
    ADD CONSTRAINT orders_total_sane CHECK ((total < (1000000)::numeric)) NOT VALID;


--
-- Name: ranked ranked_id_during_excl; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.ranked
    ADD CONSTRAINT ranked_id_during_excl EXCLUDE USING gist (id WITH =, during WITH &&) WHERE ((label IS NOT NULL));


--
-- Name: scratch scratch_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.scratch
    ADD CONSTRAINT scratch_pkey PRIMARY KEY (k);


--
-- Name: typed typed_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres
--

ALTER TABLE ONLY app.typed
    ADD CONSTRAINT typed_pkey PRIMARY KEY (x);


--
-- Name: customers customers_email_key; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_email_key UNIQUE (email);


--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);


--
-- Name: order_notes order_notes_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.order_notes
    ADD CONSTRAINT order_notes_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.order_notes REPLICA IDENTITY USING INDEX order_notes_pkey;


--
-- Name: alltypes_fts_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX alltypes_fts_idx ON app.alltypes USING gin (to_tsvector('app.simple_cfg'::regconfig, (COALESCE(vc, ''::character varying))::text));


--
-- Name: alltypes_i8_nnd_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE UNIQUE INDEX alltypes_i8_nnd_idx ON app.alltypes USING btree (i8) NULLS NOT DISTINCT WITH (fillfactor='70');


--
-- Name: alltypes_jb_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX alltypes_jb_idx ON app.alltypes USING gin (jb jsonb_path_ops);


--
-- Name: alltypes_tsv_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX alltypes_tsv_idx ON app.alltypes USING gist (tsv);


--
-- Name: daily_totals_day_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE UNIQUE INDEX daily_totals_day_idx ON app.daily_totals USING btree (day);


--
-- Name: events_payload_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_payload_idx ON ONLY app.events USING gin (payload);


--
-- Name: events_2024_payload_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_2024_payload_idx ON app.events_2024 USING gin (payload);


--
-- Name: events_region_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_region_idx ON ONLY app.events USING btree (region, at);


--
-- Name: events_2024_region_at_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_2024_region_at_idx ON app.events_2024 USING btree (region, at);


--
-- Name: events_2025_payload_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_2025_payload_idx ON ONLY app.events_2025 USING gin (payload);


--
-- Name: events_2025_eu_payload_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_2025_eu_payload_idx ON app.events_2025_eu USING gin (payload);


--
-- Name: events_2025_region_at_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_2025_region_at_idx ON ONLY app.events_2025 USING btree (region, at);


--
-- Name: events_2025_eu_region_at_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_2025_eu_region_at_idx ON app.events_2025_eu USING btree (region, at);


--
-- Name: events_2025_other_payload_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_2025_other_payload_idx ON app.events_2025_other USING gin (payload);


--
-- Name: events_2025_other_region_at_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_2025_other_region_at_idx ON app.events_2025_other USING btree (region, at);


--
-- Name: events_default_payload_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_default_payload_idx ON app.events_default USING gin (payload);


--
-- Name: events_default_region_at_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX events_default_region_at_idx ON app.events_default USING btree (region, at);


--
-- Name: orders_camel_ci_idx; Type: INDEX; Schema: app; Owner: app_owner
--

CREATE INDEX orders_camel_ci_idx ON app."Orders" USING btree ("CamelCol" COLLATE app.ci);


--
-- Name: orders_customer_camel_idx; Type: INDEX; Schema: app; Owner: app_owner
--

CREATE UNIQUE INDEX orders_customer_camel_idx ON app."Orders" USING btree (customer_id, "CamelCol") INCLUDE (total) WHERE ("CamelCol" IS NOT NULL);


--
-- Name: orders_expr_idx; Type: INDEX; Schema: app; Owner: app_owner
--

CREATE INDEX orders_expr_idx ON app."Orders" USING btree (lower("CamelCol") DESC NULLS LAST, ((total * (2)::numeric)));
ALTER INDEX app.orders_expr_idx ALTER COLUMN 2 SET STATISTICS 1000;


--
-- Name: INDEX orders_expr_idx; Type: COMMENT; Schema: app; Owner: app_owner
--

COMMENT ON INDEX app.orders_expr_idx IS 'expression index';


--
-- Name: orders_note_idx; Type: INDEX; Schema: app; Owner: app_owner
--

CREATE INDEX orders_note_idx ON app."Orders" USING btree (note) WHERE (note OPERATOR(public.<>) ''::public.citext);


--
-- Name: ranked_label_idx; Type: INDEX; Schema: app; Owner: postgres
--

CREATE INDEX ranked_label_idx ON app.ranked USING btree (label COLLATE "C" text_pattern_ops);


--
-- Name: customers_email_partial_idx; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX customers_email_partial_idx ON public.customers USING btree (email) WHERE ((email)::public.citext OPERATOR(public.=) 'admin@example.com'::public.citext);


--
-- Name: customers_lower_name_idx; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX customers_lower_name_idx ON public.customers USING btree (lower(name) COLLATE "C" text_pattern_ops);


--
-- Name: events_2024_payload_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_payload_idx ATTACH PARTITION app.events_2024_payload_idx;


--
-- Name: events_2024_pkey; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_pkey ATTACH PARTITION app.events_2024_pkey;


--
-- Name: events_2024_region_at_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_region_idx ATTACH PARTITION app.events_2024_region_at_idx;


--
-- Name: events_2025_eu_payload_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_2025_payload_idx ATTACH PARTITION app.events_2025_eu_payload_idx;


--
-- Name: events_2025_eu_pkey; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_2025_pkey ATTACH PARTITION app.events_2025_eu_pkey;


--
-- Name: events_2025_eu_region_at_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_2025_region_at_idx ATTACH PARTITION app.events_2025_eu_region_at_idx;


--
-- Name: events_2025_other_payload_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_2025_payload_idx ATTACH PARTITION app.events_2025_other_payload_idx;


--
-- Name: events_2025_other_pkey; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_2025_pkey ATTACH PARTITION app.events_2025_other_pkey;


--
-- Name: events_2025_other_region_at_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_2025_region_at_idx ATTACH PARTITION app.events_2025_other_region_at_idx;


--
-- Name: events_2025_payload_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_payload_idx ATTACH PARTITION app.events_2025_payload_idx;


--
-- Name: events_2025_pkey; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_pkey ATTACH PARTITION app.events_2025_pkey;


--
-- Name: events_2025_region_at_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_region_idx ATTACH PARTITION app.events_2025_region_at_idx;


--
-- Name: events_default_payload_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_payload_idx ATTACH PARTITION app.events_default_payload_idx;


--
-- Name: events_default_pkey; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_pkey ATTACH PARTITION app.events_default_pkey;


--
-- Name: events_default_region_at_idx; Type: INDEX ATTACH; Schema: app; Owner: postgres
--

ALTER INDEX app.events_region_idx ATTACH PARTITION app.events_default_region_at_idx;


--
-- Name: orders_expr_stats; Type: STATISTICS; Schema: app; Owner: postgres
--

CREATE STATISTICS app.orders_expr_stats ON mood, lower("CamelCol") FROM app."Orders";
ALTER STATISTICS app.orders_expr_stats SET STATISTICS 200;


ALTER STATISTICS app.orders_expr_stats OWNER TO postgres;

--
-- Name: orders_stats; Type: STATISTICS; Schema: app; Owner: postgres
--

CREATE STATISTICS app.orders_stats (ndistinct, dependencies) ON customer_id, mood FROM app."Orders";


ALTER STATISTICS app.orders_stats OWNER TO postgres;

--
-- Name: scratch scratch_no_delete; Type: RULE; Schema: app; Owner: postgres
--

CREATE RULE scratch_no_delete AS
    ON DELETE TO app.scratch DO INSTEAD NOTHING;


--
-- Name: writable_orders writable_orders_ins; Type: RULE; Schema: app; Owner: postgres
--

CREATE RULE writable_orders_ins AS
    ON INSERT TO app.writable_orders DO INSTEAD  INSERT INTO app.scratch (k, v)
  VALUES ((new.id)::text, to_jsonb(new.total));


--
-- Name: RULE writable_orders_ins ON writable_orders; Type: COMMENT; Schema: app; Owner: postgres
--

COMMENT ON RULE writable_orders_ins ON app.writable_orders IS 'redirects inserts';


--
-- Name: bookings bookings_touch; Type: TRIGGER; Schema: app; Owner: app_owner
--

CREATE TRIGGER bookings_touch BEFORE INSERT ON app.bookings FOR EACH ROW EXECUTE FUNCTION app.audit();

ALTER TABLE app.bookings ENABLE ALWAYS TRIGGER bookings_touch;


--
-- Name: Orders orders_audit; Type: TRIGGER; Schema: app; Owner: app_owner
--

CREATE TRIGGER orders_audit AFTER INSERT ON app."Orders" REFERENCING NEW TABLE AS newtab FOR EACH STATEMENT EXECUTE FUNCTION app.audit();

ALTER TABLE app."Orders" DISABLE TRIGGER orders_audit;


--
-- Name: Orders orders_touch; Type: TRIGGER; Schema: app; Owner: app_owner
--

CREATE TRIGGER orders_touch BEFORE UPDATE OF "CamelCol", total ON app."Orders" FOR EACH ROW WHEN ((old.total IS DISTINCT FROM new.total)) EXECUTE FUNCTION app.touch();


--
-- Name: TRIGGER orders_touch ON "Orders"; Type: COMMENT; Schema: app; Owner: app_owner
--

COMMENT ON TRIGGER orders_touch ON app."Orders" IS 'keeps placed fresh';


--
-- Name: order_notes notes_check; Type: TRIGGER; Schema: public; Owner: postgres
--

CREATE CONSTRAINT TRIGGER notes_check AFTER INSERT ON public.order_notes DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION app.audit();


--
-- Name: Orders Orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: app; Owner: app_owner
--

ALTER TABLE ONLY app."Orders"
    ADD CONSTRAINT "Orders_customer_id_fkey" FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE CASCADE;


--
-- Name: order_notes order_notes_order_fk; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.order_notes
    ADD CONSTRAINT order_notes_order_fk FOREIGN KEY (order_id) REFERENCES app."Orders"(id) MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL (order_id) DEFERRABLE;


--
-- Name: Orders; Type: ROW SECURITY; Schema: app; Owner: app_owner
--

ALTER TABLE app."Orders" ENABLE ROW LEVEL SECURITY;

--
-- Name: Orders orders_by_customer; Type: POLICY; Schema: app; Owner: app_owner
--

CREATE POLICY orders_by_customer ON app."Orders" FOR SELECT TO app_reader USING (((customer_id = (current_setting('app.customer'::text))::integer) AND (mood <> 'sad'::app.mood)));


--
-- Name: Orders orders_insert; Type: POLICY; Schema: app; Owner: app_owner
--

CREATE POLICY orders_insert ON app."Orders" FOR INSERT TO app_owner WITH CHECK ((total >= (0)::numeric));


--
-- Name: POLICY orders_insert ON "Orders"; Type: COMMENT; Schema: app; Owner: app_owner
--

COMMENT ON POLICY orders_insert ON app."Orders" IS 'owners insert';


--
-- Name: SCHEMA app; Type: ACL; Schema: -; Owner: app_owner
--

GRANT USAGE ON SCHEMA app TO app_reader;


--
-- Name: SCHEMA public; Type: ACL; Schema: -; Owner: pg_database_owner
--

GRANT USAGE ON SCHEMA public TO app_reader;


--
-- Name: TYPE mood; Type: ACL; Schema: app; Owner: app_owner
--

GRANT ALL ON TYPE app.mood TO app_reader;


--
-- Name: SEQUENCE invoice_no_seq; Type: ACL; Schema: app; Owner: app_owner
--

GRANT SELECT,USAGE ON SEQUENCE app.invoice_no_seq TO app_reader;


--
-- Name: TABLE "Orders"; Type: ACL; Schema: app; Owner: app_owner
--

GRANT SELECT ON TABLE app."Orders" TO app_reader;


--
-- Name: COLUMN "Orders".id; Type: ACL; Schema: app; Owner: app_owner
--

GRANT SELECT(id) ON TABLE app."Orders" TO "Mixed Role";


--
-- Name: COLUMN "Orders"."CamelCol"; Type: ACL; Schema: app; Owner: app_owner
--

GRANT SELECT("CamelCol"),UPDATE("CamelCol") ON TABLE app."Orders" TO "Mixed Role";


--
-- Name: PROCEDURE close_order(IN oid bigint, VARIADIC reasons text[]); Type: ACL; Schema: app; Owner: postgres
--

GRANT ALL ON PROCEDURE app.close_order(IN oid bigint, VARIADIC reasons text[]) TO "Mixed Role";


--
-- Name: FUNCTION customer_total(cid integer); Type: ACL; Schema: app; Owner: postgres
--

REVOKE ALL ON FUNCTION app.customer_total(cid integer) FROM PUBLIC;
GRANT ALL ON FUNCTION app.customer_total(cid integer) TO app_reader;


--
-- Name: TABLE alltypes; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.alltypes TO app_reader;


--
-- Name: TABLE base; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.base TO app_reader;


--
-- Name: TABLE bookings; Type: ACL; Schema: app; Owner: app_owner
--

GRANT SELECT ON TABLE app.bookings TO app_reader;


--
-- Name: TABLE child; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.child TO app_reader;


--
-- Name: TABLE daily_totals; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.daily_totals TO app_reader;


--
-- Name: TABLE events; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.events TO app_reader;


--
-- Name: TABLE events_2024; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.events_2024 TO app_reader;


--
-- Name: TABLE events_2025; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.events_2025 TO app_reader;


--
-- Name: TABLE events_2025_eu; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.events_2025_eu TO app_reader;


--
-- Name: TABLE events_2025_other; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.events_2025_other TO app_reader;


--
-- Name: TABLE events_default; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.events_default TO app_reader;


--
-- Name: TABLE customers; Type: ACL; Schema: public; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE public.customers TO app_reader WITH GRANT OPTION;


--
-- Name: TABLE order_summary; Type: ACL; Schema: app; Owner: app_owner
--

GRANT SELECT ON TABLE app.order_summary TO app_reader;


--
-- Name: TABLE orders_in_2024; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.orders_in_2024 TO app_reader;


--
-- Name: TABLE ranked; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.ranked TO app_reader;


--
-- Name: TABLE scratch; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.scratch TO app_reader;


--
-- Name: TABLE sorted_orders; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.sorted_orders TO app_reader;


--
-- Name: TABLE typed; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.typed TO app_reader;


--
-- Name: TABLE writable_orders; Type: ACL; Schema: app; Owner: postgres
--

GRANT SELECT ON TABLE app.writable_orders TO app_reader;


--
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: app; Owner: postgres
--

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA app GRANT SELECT ON TABLES  TO app_reader;


--
-- PostgreSQL database dump complete
--

\unrestrict PXZnjvkZbPI86MJxRm5PuoOdSdzRH8vUmyTBYVsb4PBtU3YHeMg8UJbaBWeAt5u


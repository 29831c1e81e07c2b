--
-- PostgreSQL database dump
--

\restrict zWOwziEjet1MBnHfAtUTISYj0Dh6eKYY1EnV73gtlk9UI1FJR9nmT53Yma3TC0f


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
-- Name: Orders Orders_pkey; Type: CONSTRAINT; Schema: app; Owner: app_owner
--

ALTER TABLE ONLY app."Orders"
    ADD CONSTRAINT "Orders_pkey" PRIMARY KEY (id);

ALTER TABLE app."Orders" CLUSTER ON "Orders_pkey";


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
-- Name: Orders Orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: app; Owner: app_owner
--

ALTER TABLE ONLY app."Orders"
    ADD CONSTRAINT "Orders_customer_id_fkey" FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE CASCADE;


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
-- PostgreSQL database dump complete
--

\unrestrict zWOwziEjet1MBnHfAtUTISYj0Dh6eKYY1EnV73gtlk9UI1FJR9nmT53Yma3TC0f


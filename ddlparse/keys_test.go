package ddlparse

import "testing"

func TestDefinesKey(t *testing.T) {
	for sql, want := range map[string]bool{
		`ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id)`:                      true,
		`ALTER TABLE ONLY public.t ADD CONSTRAINT t_u UNIQUE (a, b)`:                            true,
		`ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_idx`:         true,
		`CREATE UNIQUE INDEX t_u ON public.t USING btree (lower(a))`:                            true,
		`ALTER TABLE ONLY public.t REPLICA IDENTITY USING INDEX t_u`:                            true,
		`ALTER TABLE ONLY public.t REPLICA IDENTITY FULL`:                                       true,
		`CREATE INDEX t_a ON public.t USING btree (a)`:                                          false,
		`ALTER TABLE ONLY public.t ADD CONSTRAINT t_fk FOREIGN KEY (a) REFERENCES public.u(id)`: false,
		`ALTER TABLE ONLY public.t ADD CONSTRAINT t_x EXCLUDE USING gist (r WITH &&)`:           false,
		`CREATE TRIGGER tr AFTER INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.f()`:   false,
		`ALTER TABLE ONLY public.t ALTER COLUMN a SET DEFAULT 1`:                                false,
		`ALTER INDEX public.p_pkey ATTACH PARTITION public.p1_pkey`:                             false,
	} {
		sts, err := Split(sql)
		if err != nil || len(sts) != 1 {
			t.Fatalf("%s: %v", sql, err)
		}
		if got := DefinesKey(sts[0]); got != want {
			t.Errorf("DefinesKey(%s) = %v, want %v", sql, got, want)
		}
	}
}

func TestForeignKeyNotValid(t *testing.T) {
	sts, err := Split(`ALTER TABLE ONLY "Sales".orders ADD CONSTRAINT orders_fk FOREIGN KEY (customer) REFERENCES "Sales".customers(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.t ADD CONSTRAINT t_fk FOREIGN KEY (a) REFERENCES public.u(id) NOT VALID;
ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);
CREATE INDEX t_a ON public.t USING btree (a)`)
	if err != nil || len(sts) != 4 {
		t.Fatalf("split: %d statements, %v", len(sts), err)
	}
	sql, table, name, ok := ForeignKeyNotValid(sts[0])
	if !ok || table != (QName{Schema: "Sales", Name: "orders"}) || name != "orders_fk" {
		t.Fatalf("ForeignKeyNotValid = %q, %v, %q, %v", sql, table, name, ok)
	}
	back, err := Split(sql)
	if err != nil || len(back) != 1 {
		t.Fatalf("%q: %v", sql, err)
	}
	con := back[0].raw.Stmt.GetAlterTableStmt().Cmds[0].GetAlterTableCmd().GetDef().GetConstraint()
	if !con.SkipValidation || con.FkDelAction != "c" || len(con.PkAttrs) != 1 {
		t.Errorf("%q: want the same foreign key (ON DELETE CASCADE) with NOT VALID", sql)
	}
	for _, st := range sts[1:] {
		if sql, _, _, ok := ForeignKeyNotValid(st); ok {
			t.Errorf("ForeignKeyNotValid(%s) = %q, want not ok", st.Text, sql)
		}
	}
}

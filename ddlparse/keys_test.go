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

package policies

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestConnString(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   Database
		want map[string]string // keywords of the result; "" = must be absent
	}{
		{
			name: "url plus attributes",
			db:   Database{URL: "postgres://pgduet@db-east:5432/shop", Password: "p'w\\d", SSLMode: "require"},
			want: map[string]string{"host": "db-east", "port": "5432", "dbname": "shop", "user": "pgduet", "password": `p'w\d`, "sslmode": "require"},
		},
		{
			name: "attributes override the url",
			db:   Database{URL: "postgresql://u:old@h/db?sslmode=disable&application_name=x", Password: "new", SSLMode: "require"},
			want: map[string]string{"user": "u", "password": "new", "sslmode": "require", "application_name": "x", "dbname": "db"},
		},
		{
			name: "password kept from the url",
			db:   Database{URL: "postgres://u:p%40ss@h:5433/db"},
			want: map[string]string{"password": "p@ss", "port": "5433"},
		},
		{
			name: "key=value with quotes",
			db:   Database{URL: `host=localhost port=5433 dbname='my db' user=pgduet password='it\'s'`},
			want: map[string]string{"host": "localhost", "dbname": "my db", "password": "it's"},
		},
		{
			name: "unix socket and multiple hosts",
			db:   Database{URL: "postgres://u@%2Ftmp,[::1]:5433/db"},
			want: map[string]string{"host": "/tmp,::1", "port": ",5433", "sslmode": ""},
		},
		{
			name: "socket in the query",
			db:   Database{URL: "postgres:///shop?host=/var/run/postgresql"},
			want: map[string]string{"host": "/var/run/postgresql", "dbname": "shop"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := tc.db.ConnString()
			if err != nil {
				t.Fatal(err)
			}
			kv, err := parseConnDSN(cs)
			if err != nil {
				t.Fatalf("result %q does not parse back: %v", cs, err)
			}
			for k, want := range tc.want {
				got, ok := kv.get(k)
				if want == "" && ok || want != "" && got != want {
					t.Errorf("%s = %q (present %v), want %q in %q", k, got, ok, want, cs)
				}
			}
			if tc.name == "unix socket and multiple hosts" {
				return // pgconn would look the hosts up
			}
			pc, err := pgconn.ParseConfig(cs)
			if err != nil {
				t.Fatalf("pgconn.ParseConfig: %v", err)
			}
			if want, ok := tc.want["password"]; ok && pc.Password != want {
				t.Errorf("pgconn password = %q, want %q", pc.Password, want)
			}
			if want, ok := tc.want["dbname"]; ok && pc.Database != want {
				t.Errorf("pgconn database = %q, want %q", pc.Database, want)
			}
		})
	}
}

func TestConnStringErrorsHideSecrets(t *testing.T) {
	for _, url := range []string{
		"host=db password=hunter2 oops",
		"password='hunter2",
		"password='it's hunter2' host=x",
		"postgres://u:hunter2@h:99999/db",
		"postgres://u:hunter2@h/db?a",
		"mysql://u:hunter2@h/db",
		"",
	} {
		_, err := Database{URL: url}.ConnString()
		if err == nil {
			t.Errorf("%q: want an error", url)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals the password: %v", err)
		}
	}
}

func TestRedacted(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"postgres://pgduet:secret@db-east:5432/shop?sslpassword=k", "host=db-east port=5432 dbname=shop user=pgduet"},
		{"host=/tmp dbname=app password=secret", "host=/tmp dbname=app"},
		{"password=secret", "(libpq defaults)"},
		{"not a url", "(invalid database url)"},
	} {
		if got := (Database{URL: tc.url, Password: "secret", SSLPassword: "k"}).Redacted(); got != tc.want {
			t.Errorf("Redacted(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

// A secret that cannot be read on this machine (the other node's env var) is
// not a load error: it surfaces only when that node's database is connected to.
func TestUnreadableSecretIsDeferred(t *testing.T) {
	src := []byte(`pair "p" {
  ddl_source = "east"
}
node "east" {
  database {
    url      = "postgres://u@h1:5432/db"
    password = env("PGDUET_TEST_EAST_PW_SET")
  }
  agent {
    listen = "127.0.0.1:1"
    address = "127.0.0.1:1"
    insecure = true
  }
}
node "west" {
  database {
    url      = "postgres://u@h2:5432/db"
    password = env("PGDUET_TEST_WEST_PW_UNSET")
  }
  agent {
    listen = "127.0.0.1:2"
    address = "127.0.0.1:2"
    insecure = true
  }
}
`)
	t.Setenv("PGDUET_TEST_EAST_PW_SET", "s3cret")
	cfg, diags := Parse("deferred.hcl", src)
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%s", FormatDiagnostics(diags))
	}
	east, _ := cfg.Node("east")
	if cs, err := east.Database.ConnString(); err != nil || !strings.Contains(cs, "s3cret") {
		t.Fatalf("east ConnString = %v (has password: %v)", err, strings.Contains(cs, "s3cret"))
	}
	west, _ := cfg.Node("west")
	_, err := west.Database.ConnString()
	if err == nil || !strings.Contains(err.Error(), "PGDUET_TEST_WEST_PW_UNSET") || !strings.Contains(err.Error(), "deferred.hcl:18") {
		t.Fatalf("west ConnString error = %v, want the unset variable and its position", err)
	}
}

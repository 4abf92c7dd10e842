package pgadmin_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/store/pgadmin"
	"github.com/vizjob/indexer/internal/testdb"
)

func TestScratchDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	admin := testdb.AdminURL(t)
	name := fmt.Sprintf("vizjob_scratch_test_%d", time.Now().UnixNano())
	url, err := pgadmin.CreateDatabase(ctx, admin, name, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pgadmin.DropDatabase(context.Background(), admin, name) })
	s, err := pgadmin.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var db string
	if err := s.QueryRow(ctx, []any{&db}, `SELECT current_database()`); err != nil || db != name {
		t.Errorf("connected to %q, %v; want %q", db, err, name)
	}
	// Dropped even with a session still open.
	if err := pgadmin.DropDatabase(ctx, admin, name); err != nil {
		t.Fatal(err)
	}
	_ = s.Close(ctx)
	if s, err := pgadmin.Connect(ctx, url); err == nil {
		_ = s.Close(ctx)
		t.Error("the dropped database still answers")
	}
}

func TestURLs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:p@h:5432/postgres?sslmode=disable": "postgres://u:p@h:5432/x?application_name=app&sslmode=disable",
		"host=h user=u dbname=postgres":                  "host=h user=u dbname=postgres dbname=x application_name=app",
		"":                                               "dbname=x application_name=app",
	} {
		u, err := pgadmin.WithDatabase(in, "x")
		if err == nil {
			u, err = pgadmin.WithApplicationName(u, "app")
		}
		if err != nil || u != want {
			t.Errorf("%q: %q, %v; want %q", in, u, err, want)
		}
	}
}

// A connection error does not show the password.
func TestConnectErrorHidesPassword(t *testing.T) {
	t.Parallel()
	const secret = "s3cr%40et"
	_, err := pgadmin.Connect(t.Context(), "postgres://u:"+secret+"@127.0.0.1:1/x?connect_timeout=1&sslmode=disable")
	if err == nil {
		t.Fatal("connected to nothing")
	}
	for _, s := range []string{secret, "s3cr@et"} {
		if e := err.Error(); strings.Contains(e, s) {
			t.Errorf("error shows the password: %v", e)
		}
	}
}

// A dbname or database parameter, which libpq and pgx let override a URL's path (the usual way to name
// the database of a Unix-socket URL), does not survive: the URL made names the scratch database.
func TestWithDatabaseOverridesEveryOtherName(t *testing.T) { // not parallel: it sets PGUSER
	for _, in := range []string{
		"postgres://u@127.0.0.1:5432/postgres?sslmode=disable&dbname=victim",
		"postgres://u@127.0.0.1:5432/?database=victim",
		"postgresql:///?host=/var/run/postgresql&dbname=victim",
		"postgresql:///victim?host=/var/run/postgresql&dbname=victim&database=victim",
		"host=/var/run/postgresql dbname=victim",
		"host=/var/run/postgresql database=victim dbname = 'victim'",
	} {
		u, err := pgadmin.WithDatabase(in, "scratch_1")
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		cfg, err := pgx.ParseConfig(u)
		if err != nil || cfg.Database != "scratch_1" {
			t.Errorf("%q made %q, which names database %q (%v), want scratch_1", in, u, cfg.Database, err)
		}
	}
	// The user and password of parameters move to the user part, where URL rewriters look, and a URL
	// with no user names the one libpq would take.
	for in, want := range map[string]string{
		"postgresql:///?host=/var/run/postgresql&dbname=victim&user=pg":         "postgresql://pg@/scratch_1?host=%2Fvar%2Frun%2Fpostgresql",
		"postgres://u:p@h/?user=v":                                              "postgres://v:p@h/scratch_1",
		"postgres://u@h/?password=s%40":                                         "postgres://u:s%40@h/scratch_1",
		"postgresql:///x?host=/run/postgresql&user=me&password=pw&sslmode=none": "postgresql://me:pw@/scratch_1?host=%2Frun%2Fpostgresql&sslmode=none",
	} {
		if u, err := pgadmin.WithDatabase(in, "scratch_1"); err != nil || u != want {
			t.Errorf("%q made %q, %v; want %q", in, u, err, want)
		}
	}
	t.Setenv("PGUSER", "from_pguser")
	if u, err := pgadmin.WithDatabase("postgresql:///?host=/run/postgresql", "scratch_1"); err != nil || !strings.HasPrefix(u, "postgresql://from_pguser@/scratch_1") {
		t.Errorf("a URL with no user made %q, %v; want the user libpq would take written out", u, err)
	}
}

// An admin URL that names a database by a dbname parameter: the scratch database made from it is a new
// one, and the named database is left as it was.
func TestCreateDatabaseFromURLNamingAnother(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	victimURL := testdb.New(t)
	cfg, err := pgx.ParseConfig(victimURL)
	if err != nil {
		t.Fatal(err)
	}
	victim := cfg.Database
	if err := pgadmin.Exec(ctx, victimURL, `CREATE TABLE precious (n int); INSERT INTO precious VALUES (1), (2)`); err != nil {
		t.Fatal(err)
	}
	admin, err := url.Parse(testdb.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := admin.Query()
	q.Set("dbname", victim)
	admin.RawQuery = q.Encode()

	name := fmt.Sprintf("vizjob_scratch_test_%d", time.Now().UnixNano())
	u, err := pgadmin.CreateDatabase(ctx, admin.String(), name, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pgadmin.DropDatabase(context.Background(), testdb.AdminURL(t), name) })
	s, err := pgadmin.ConnectScratch(ctx, u, name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if err := s.Exec(ctx, `CREATE TABLE scratch (n int)`); err != nil {
		t.Fatal(err)
	}
	v, err := pgadmin.Connect(ctx, victimURL)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(ctx)
	var rows int
	var scratch bool
	if err := v.QueryRow(ctx, []any{&rows, &scratch}, `SELECT (SELECT count(*) FROM precious), to_regclass('scratch') IS NOT NULL`); err != nil || rows != 2 || scratch {
		t.Errorf("the database the admin URL named: %d rows, scratch table %v, %v; want 2 rows and no scratch table", rows, scratch, err)
	}
}

// A database the package did not create (no marker), or another than the one named, is refused by
// every destructive step: the check before writes and DropDatabase.
func TestScratchChecksRefuseOtherDatabases(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	admin := testdb.AdminURL(t)
	other := fmt.Sprintf("vizjob_not_scratch_%d", time.Now().UnixNano())
	if err := pgadmin.Exec(ctx, admin, "CREATE DATABASE "+other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = pgadmin.Exec(context.Background(), admin, "DROP DATABASE IF EXISTS "+other+" WITH (FORCE)")
	})
	otherURL, err := pgadmin.WithDatabase(admin, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgadmin.ConnectScratch(ctx, otherURL, other); err == nil || !strings.Contains(err.Error(), "does not carry the scratch marker") {
		t.Errorf("ConnectScratch on a database it did not create: %v, want a refusal naming the marker", err)
	}
	if err := pgadmin.DropDatabase(ctx, admin, other); err == nil || !strings.Contains(err.Error(), "refusing to drop") {
		t.Errorf("DropDatabase of a database it did not create: %v, want a refusal", err)
	}
	scratch := testdb.New(t)
	if _, err := pgadmin.ConnectScratch(ctx, scratch, other); err == nil || !strings.Contains(err.Error(), "refusing to touch") {
		t.Errorf("ConnectScratch reaching another database than the one named: %v, want a refusal", err)
	}
	s, err := pgadmin.Connect(ctx, otherURL)
	if err != nil {
		t.Fatalf("the refused database is gone: %v", err)
	}
	_ = s.Close(ctx)
}

package pgadmin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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

package testdb

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestDatabaseName(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
	seen := map[string]bool{}
	for _, name := range []string{
		"TestX",
		"TestUpsert/duplicate_ids#01",
		"Test" + strings.Repeat("VeryLongName/", 20),
		"Test/Ünïcödé/名前",
		"TestSame", "TestSame",
	} {
		got := databaseName(name)
		if !valid.MatchString(got) || !strings.HasPrefix(got, "test_") {
			t.Errorf("databaseName(%q) = %q: not a plain identifier of at most 63 bytes", name, got)
		}
		if seen[got] {
			t.Errorf("databaseName(%q) = %q twice", name, got)
		}
		seen[got] = true
	}
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:p%40ss@h:5432/postgres?sslmode=disable": "postgres://u:p%40ss@h:5432/db1?sslmode=disable",
		"postgresql://h/":               "postgresql://h/db1",
		"host=h user=u dbname=postgres": "host=h user=u dbname=postgres dbname=db1",
	} {
		got, err := withDatabase(in, "db1")
		if err != nil || got != want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestNewGivesAnEmptyDatabaseDroppedAfterTheTest(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("inner", func(t *testing.T) {
		conn, err := pgx.Connect(t.Context(), New(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var tables int
		if err := conn.QueryRow(t.Context(), `SELECT current_database(), (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`).
			Scan(&name, &tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 || !strings.HasPrefix(name, "test_testnew") {
			t.Errorf("database %q has %d tables", name, tables)
		}
	})
	admin, err := pgx.Connect(t.Context(), AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var n int
	if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if name == "" || n != 0 {
		t.Errorf("database %q not dropped after its test", name)
	}
}

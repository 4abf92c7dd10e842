package testdb

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vizjob/indexer/internal/store/pgadmin"
	"github.com/vizjob/indexer/migrations"
)

// When no local server answers, the failure names every place tried and why.
func TestFirstLocalSaysWhatItTried(t *testing.T) {
	url, tried := firstLocal([]candidate{
		{"host=127.0.0.1 port=1 user=nobody connect_timeout=2", "127.0.0.1:1 as nobody"},
		{"host=127.0.0.1 port=2 user=nobody connect_timeout=2", "127.0.0.1:2 as nobody"},
	})
	if url != "" || len(tried) != 2 || !strings.HasPrefix(tried[0], "127.0.0.1:1 as nobody: ") || !strings.HasPrefix(tried[1], "127.0.0.1:2 as nobody: ") {
		t.Errorf("got %q, tried %q", url, tried)
	}
}

// Without INDEXER_TEST_DATABASE_URL, a server is looked for on this machine only: a PG* variable or
// default naming another host is refused before any connection is tried.
func TestFirstLocalRefusesOtherMachines(t *testing.T) {
	for _, host := range []string{"192.0.2.1", "db.example.com", "127.0.0.1,192.0.2.1"} {
		url, tried := firstLocal([]candidate{{"host=" + host + " user=nobody connect_timeout=2", host}})
		if url != "" || len(tried) != 1 || !strings.Contains(tried[0], "is not on this machine") || !strings.Contains(tried[0], EnvURL) {
			t.Errorf("host %s: got %q, tried %q; want a refusal naming %s", host, url, tried, EnvURL)
		}
	}
	for host, want := range map[string]bool{
		"/var/run/postgresql": true, "localhost": true, "127.0.0.1": true, "127.8.0.1": true, "::1": true,
		"192.0.2.1": false, "db.example.com": false, "": false, "localhost.example.com": false,
	} {
		if got := onThisMachine(host); got != want {
			t.Errorf("onThisMachine(%q) = %v, want %v", host, got, want)
		}
	}
}

// A migrated database has every migration applied, in goose's version table.
func TestNewMigrated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, err := pgx.Connect(ctx, NewMigrated(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	entries, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := c.QueryRow(ctx, `SELECT count(DISTINCT version_id) FROM vizjob_goose_db_version WHERE version_id > 0 AND is_applied`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(entries) {
		t.Errorf("%d migrations applied, want %d", applied, len(entries))
	}
}

// A build interrupted half-way is dropped by the next build of the same template, which then leaves
// a complete template under the final name.
func TestTemplateBuildDropsInterruptedBuild(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	admin := AdminURL(t)
	name := databaseName("tmpl")
	stale := name + "_building_dead"
	if _, err := pgadmin.CreateDatabase(ctx, admin, stale, "template0"); err != nil { // marked, as a build's
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		exec(ctx, t, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{stale}.Sanitize())
		exec(ctx, t, admin, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" IS_TEMPLATE false")
		exec(ctx, t, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	})
	if err := ensureTemplate(ctx, admin, name, 1); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var got []string
	rows, _ := c.Query(ctx, `SELECT datname || ' ' || datistemplate || ' ' || datallowconn FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1`, name)
	got, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{name + " true false"}; !slices.Equal(got, want) {
		t.Errorf("databases after the build: %q, want %q (the template, closed to connections)", got, want)
	}
}

// A server found through a keyword/value connection string (libpq's defaults) is handed to tests as a
// postgres:// URL, which they rewrite (another database, a password, a proxy): over TCP, and over a
// Unix socket as libpq's host parameter, which NewProxy forwards to.
func TestLocalServerIsGivenAsURL(t *testing.T) {
	cfg, err := pgx.ParseConfig(AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	kv := fmt.Sprintf("host=%s port=%d user=%s sslmode=disable connect_timeout=3", cfg.Host, cfg.Port, cfg.User)
	if cfg.Database != "" {
		kv += " dbname=" + cfg.Database
	}
	got, tried := firstLocal([]candidate{{kv, "the test server as keyword/value"}})
	if !strings.HasPrefix(got, "postgres://") {
		t.Fatalf("firstLocal(%q) = %q (tried %q), want a postgres:// URL", kv, got, tried)
	}
	_, proxied := NewProxy(t, got)
	for _, u := range []string{got, proxied} {
		c, err := pgx.Connect(t.Context(), u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		c.Close(t.Context())
	}

	socket := configURL(&net.UnixAddr{Name: "/run/postgresql/.s.PGSQL.5433", Net: "unix"}, &pgx.ConnConfig{Config: pgconn.Config{User: "me", Database: "db", Port: 5433}})
	if want := "postgres://me@/db?connect_timeout=3&host=%2Frun%2Fpostgresql&port=5433&sslmode=disable"; socket != want {
		t.Errorf("socket URL %q, want %q", socket, want)
	}
	if cfg, err := pgx.ParseConfig(socket); err != nil || cfg.Host != "/run/postgresql" || cfg.Port != 5433 || cfg.User != "me" || cfg.Database != "db" {
		t.Errorf("socket URL %q parses as %+v, %v", socket, cfg, err)
	}
}

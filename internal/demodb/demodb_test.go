package demodb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/store/pgadmin"
	"github.com/vizjob/indexer/internal/testdb"
)

// TestFirstTakesTheFirstWayThatWorks: the ways are tried in order, the first server is used and
// the later ways are not tried; with none, the error lists why each failed, in order.
func TestFirstTakesTheFirstWayThatWorks(t *testing.T) {
	t.Parallel()
	var tried []string
	mk := func(name string, s *Server, err error) way {
		return way{name, func(context.Context) (*Server, error) { tried = append(tried, name); return s, err }}
	}
	private := &Server{Via: "private server"}
	s, err := first(context.Background(), []way{
		mk("local", nil, errors.New("connection refused")),
		mk("private", private, nil),
		mk("docker", &Server{Via: "docker container"}, nil),
	})
	if err != nil || s != private || strings.Join(tried, ",") != "local,private" {
		t.Errorf("got %v, %v after trying %v; want the private server after local,private", s, err, tried)
	}

	tried = nil
	_, err = first(context.Background(), []way{
		mk("a local server", nil, errors.New("connection refused\nsecond line")),
		mk("a private server", nil, errors.New("no PostgreSQL server binaries")),
		mk("a Docker container", nil, errors.New("no docker command on the PATH")),
	})
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("got %v, want a NotFoundError", err)
	}
	want := "no PostgreSQL server for the demo; tried:\n  a local server: connection refused\n" +
		"  a private server: no PostgreSQL server binaries\n  a Docker container: no docker command on the PATH"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	tried = nil
	_, err = first(ctx, []way{
		{"local", func(context.Context) (*Server, error) { cancel(); return nil, context.Canceled }},
		mk("private", private, nil),
	})
	if !errors.Is(err, context.Canceled) || len(tried) != 0 {
		t.Errorf("cancelled: got %v after trying %v; want context.Canceled and nothing more tried", err, tried)
	}
}

// TestFindLocalCreatesItsDatabase: on the first local server that answers, the demo's database is
// created, and used as it is the next time.
func TestFindLocalCreatesItsDatabase(t *testing.T) {
	t.Parallel()
	admin := testdb.AdminURL(t)
	name := fmt.Sprintf("vizjob_demo_test_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	ctx := context.Background()
	t.Cleanup(func() {
		if err := pgadmin.Exec(context.WithoutCancel(ctx), admin, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			t.Errorf("drop the test's demo database %s: %v", name, err)
		}
	})
	cands := []candidate{
		{"postgres://nobody@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1", "a closed port", "psql %s"},
		{admin, "named by the test", "psql -d %s"},
	}
	s, err := findLocal(ctx, Options{Database: name}, cands)
	if err != nil {
		t.Fatal(err)
	}
	if s.Via != "local server" || s.Where != name+" (created now) on the local server named by the test" || s.Psql != "psql -d "+name || s.Throwaway {
		t.Errorf("first: %+v", s)
	}
	if err := pgadmin.Exec(ctx, s.URL, `CREATE TABLE demo_was_here ()`); err != nil {
		t.Fatalf("the URL does not reach the demo's database: %v", err)
	}
	s, err = findLocal(ctx, Options{Database: name}, cands)
	if err != nil || s.Where != name+" on the local server named by the test" {
		t.Fatalf("second: %+v, %v; want the existing database", s, err)
	}
	if err := pgadmin.Exec(ctx, s.URL, `SELECT FROM demo_was_here`); err != nil {
		t.Errorf("second: not the same database: %v", err)
	}

	_, err = findLocal(ctx, Options{Database: name}, cands[:1])
	if err == nil || !strings.Contains(err.Error(), "a closed port: ") {
		t.Errorf("no server: got %v, want the candidate named with why it failed", err)
	}
}

// TestStartPrivate starts a real throwaway server from this machine's PostgreSQL binaries (as the
// OS user postgres when the test runs as root, since initdb refuses root), uses it, and checks that
// Close stops it and removes its directory.
func TestStartPrivate(t *testing.T) {
	t.Parallel()
	if _, err := binDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must have PostgreSQL's server binaries: %v", err)
		}
		t.Skipf("not tested here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := StartPrivate(ctx, Options{Database: DefaultDatabase})
	if err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimPrefix(strings.Fields(s.Psql)[1], `"host=`)
	if s.Via != "private server" || !s.Throwaway || !strings.Contains(s.Where, dir) {
		t.Errorf("server: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, ".s.PGSQL."+privatePort)); err != nil {
		t.Errorf("no Unix socket in %s: %v", dir, err)
	}
	if err := pgadmin.Exec(ctx, s.URL, `CREATE TABLE t (x int); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatalf("the private server's database: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left after Close: %v", dir, err)
	}
	if err := pgadmin.Exec(ctx, s.URL, `SELECT 1`); err == nil {
		t.Errorf("the private server still answers after Close")
	}
}

func TestNewestBinDir(t *testing.T) {
	t.Parallel()
	dirs := []string{"/usr/lib/postgresql/9/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/pgsql-14/bin"}
	got, ok := newest(dirs, func(d string) bool { return d != "/usr/lib/postgresql/16/bin" })
	if !ok || got != "/usr/lib/postgresql/15/bin" {
		t.Errorf("got %q, %v; want the newest directory that has the binaries, /usr/lib/postgresql/15/bin", got, ok)
	}
	if _, ok := newest(nil, hasServer); ok {
		t.Errorf("no directory: found one")
	}
}

// Package testdb is a test helper: it gives each test a fresh PostgreSQL database of its own, empty
// (New) or with every migration applied (NewMigrated, a copy of a template migrated once), so that
// tests that speak SQL run against a real server and in parallel. Databases are not reused between
// tests: a pool that reset them measured no faster (the suite's wall time within its noise).
//
// The server is the one INDEXER_TEST_DATABASE_URL names (a URL of a role that may create databases),
// else a server on this machine (a Unix socket or a loopback address: a PG* variable naming another
// host is refused) found as psql would find it (the libpq PG* variables and defaults), else one on
// 127.0.0.1:5432 as the current user or as postgres, else a postgres:17-alpine container started
// once per test binary with testcontainers. With none of them, the test fails and says what it tried:
// it never skips.
//
// Every database it creates carries pgadmin.ScratchMarker and is reached by a URL that
// pgadmin.CreateDatabase checked: a URL whose dbname or database parameter names another database
// is refused, and nothing but the databases the helper created is ever truncated or dropped.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/vizjob/indexer/internal/store/pgadmin"
)

// EnvURL is the variable naming the server tests create their databases on.
const EnvURL = "INDEXER_TEST_DATABASE_URL"

// image is the PostgreSQL image started when EnvURL is not set.
const image = "postgres:17-alpine"

var container struct {
	once sync.Once
	url  string
	err  error
}

var local struct {
	once  sync.Once
	url   string
	tried []string // what was tried and why it did not do
}

// AdminURL returns the URL of a database on the test server through which databases can be created
// and dropped: EnvURL when set, else a local server (see the package comment), else the container's
// (started on first use, removed by testcontainers' reaper when the test binary exits). It fails the
// test if there is no server, naming what it tried.
func AdminURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	local.once.Do(func() { local.url, local.tried = findLocal() })
	if local.url != "" {
		return local.url
	}
	container.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c, err := postgres.Run(ctx, image, postgres.BasicWaitStrategies())
		if err != nil {
			container.err = err
			return
		}
		container.url, container.err = c.ConnectionString(ctx, "sslmode=disable")
	})
	if container.err != nil {
		t.Fatalf("no test database. Tried: %s unset; %s; testcontainers (%s): %v.\n"+
			"Set %s to a PostgreSQL URL of a role that may create databases "+
			"(e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), or run a Docker engine.",
			EnvURL, strings.Join(local.tried, "; "), image, container.err, EnvURL)
	}
	return container.url
}

// findLocal looks for a local server a test may create databases on, as psql would find it (the
// PG* variables and libpq's defaults), then on 127.0.0.1:5432 as the current user, then as postgres.
// It returns the first that answers, or what it tried and why each did not do.
func findLocal() (string, []string) {
	var pg []string
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PG") && k != "PGPASSWORD" {
			pg = append(pg, k+"="+v)
		}
	}
	desc := "libpq defaults (no PG* variable set)"
	if len(pg) > 0 {
		desc = "libpq defaults with " + strings.Join(pg, " ")
	}
	cands := []candidate{{"connect_timeout=3", desc}} // keyword/value: PG* variables and defaults fill the rest
	users := []string{"postgres"}
	if u, err := user.Current(); err == nil && u.Username != "" && u.Username != "postgres" {
		users = []string{u.Username, "postgres"}
	}
	for _, u := range users {
		url := "postgres://" + u + "@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=3"
		cands = append(cands, candidate{url, "127.0.0.1:5432 as " + u})
	}
	return firstLocal(cands)
}

type candidate struct{ conn, desc string }

// firstLocal returns the first candidate on which databases can be created, as a postgres:// URL
// (tests rewrite the URL: another database, a password, a proxy in between), or what was tried.
func firstLocal(cands []candidate) (string, []string) {
	var tried []string
	for _, c := range cands {
		u, err := canCreateDatabases(c.conn)
		if err == nil {
			return u, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %v", c.desc, err))
	}
	return "", tried
}

// canCreateDatabases connects, checks that the role may create databases, and returns the URL of
// the server and database it reached.
func canCreateDatabases(conn string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(conn)
	if err != nil {
		return "", err
	}
	for _, h := range append([]*pgconn.FallbackConfig{{Host: cfg.Host}}, cfg.Fallbacks...) {
		if !onThisMachine(h.Host) {
			return "", fmt.Errorf("host %s is not on this machine (a Unix socket or a loopback address); "+
				"to run the tests on another server, name it in %s", h.Host, EnvURL)
		}
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", errors.New(firstLine(err.Error()))
	}
	defer c.Close(ctx)
	if addr := c.PgConn().Conn().RemoteAddr(); !localAddr(addr) {
		return "", fmt.Errorf("connected to %s, not on this machine; to run the tests on another server, name it in %s", addr, EnvURL)
	}
	var ok bool
	if err := c.QueryRow(ctx, `SELECT rolcreatedb OR rolsuper, current_user, current_database() FROM pg_roles WHERE rolname = current_user`).
		Scan(&ok, &cfg.User, &cfg.Database); err != nil { // libpq's defaults may leave the user or database to the server
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("role %s may not create databases", cfg.User)
	}
	return configURL(c.PgConn().Conn().RemoteAddr(), cfg), nil
}

// onThisMachine reports whether host, as libpq reads it, is on this machine: a Unix socket's
// directory, "localhost" or a loopback address.
func onThisMachine(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localAddr reports whether a connection's remote address is a Unix socket or a loopback address.
func localAddr(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.UnixAddr:
		return true
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	}
	return false
}

// configURL is the postgres:// URL of the connection cfg made to addr: a TCP address, or a Unix
// socket (given as the host parameter, as libpq reads it). TLS is left off: the servers found here
// are local.
func configURL(addr net.Addr, cfg *pgx.ConnConfig) string {
	u := &url.URL{Scheme: "postgres", User: url.User(cfg.User), Path: "/" + cfg.Database}
	q := url.Values{"sslmode": {"disable"}, "connect_timeout": {"3"}}
	if addr.Network() == "unix" {
		q.Set("host", filepath.Dir(addr.String()))
		q.Set("port", strconv.Itoa(int(cfg.Port)))
	} else {
		u.Host = addr.String()
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// New creates an empty database for this test and returns its URL. The database is dropped (with
// FORCE, so connections left open do not stop it) when the test and its subtests end.
func New(t testing.TB) string {
	t.Helper()
	return create(t, AdminURL(t), "template0")
}

// create creates a database for this test as a copy of template, drops it when the test ends and
// returns its URL.
func create(t testing.TB, admin, template string) string {
	t.Helper()
	name := databaseName(t.Name())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := pgadmin.CreateDatabase(ctx, admin, name, template)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pgadmin.DropDatabase(ctx, admin, name); err != nil {
			t.Fatalf("testdb: %v", err)
		}
	})
	return u
}

func exec(ctx context.Context, t testing.TB, admin, sql string) {
	t.Helper()
	if err := pgadmin.Exec(ctx, admin, sql); err != nil {
		t.Fatalf("testdb: %s: %v", sql, err)
	}
}

// databaseName makes a unique, valid database name from a test name: lower case letters, digits and
// underscores, 63 bytes at most, ending in a random suffix.
func databaseName(testName string) string {
	var b strings.Builder
	b.WriteString("test_")
	underscore := true
	for _, r := range strings.ToLower(testName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			underscore = false
		} else if !underscore {
			b.WriteByte('_')
			underscore = true
		}
	}
	base := strings.TrimRight(b.String(), "_")
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	suffix := "_" + hex.EncodeToString(rnd[:])
	if max := 63 - len(suffix); len(base) > max {
		base = strings.TrimRight(base[:max], "_")
	}
	return base + suffix
}

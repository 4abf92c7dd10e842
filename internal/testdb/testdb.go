// Package testdb is a test helper: it gives each test a fresh, empty PostgreSQL database of its own,
// so that tests that speak SQL run against a real server and in parallel.
//
// The server is the one INDEXER_TEST_DATABASE_URL names (a URL of a role that may create databases),
// else a postgres:17-alpine container started once per test binary with testcontainers. With neither,
// the test fails and says what to set: it never skips.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
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

// AdminURL returns the URL of a database on the test server through which databases can be created
// and dropped: EnvURL when set, else the container's (started on first use, removed by testcontainers'
// reaper when the test binary exits). It fails the test if there is no server.
func AdminURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
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
		t.Fatalf("no test database: set %s to a PostgreSQL URL the tests may create databases on "+
			"(e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), "+
			"or run a Docker engine for testcontainers: %v", EnvURL, container.err)
	}
	return container.url
}

// New creates an empty database for this test and returns its URL. The database is dropped (with
// FORCE, so connections left open do not stop it) when the test and its subtests end.
func New(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	name := databaseName(t.Name())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec(ctx, t, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		exec(ctx, t, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})

	u, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("testdb: %s: %v", EnvURL, err)
	}
	return u
}

func exec(ctx context.Context, t testing.TB, admin, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testdb: connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
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

// withDatabase returns admin with its database replaced by name, for both URL and keyword/value forms.
func withDatabase(admin, name string) (string, error) {
	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			return "", fmt.Errorf("not a valid URL")
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// keyword/value: a later dbname overrides an earlier one.
	return admin + " dbname=" + name, nil
}

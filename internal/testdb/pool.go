package testdb

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/store/pgadmin"
)

// Migrated databases are pooled within a test binary, as river's riverdbtest pools schemas: when a
// test ends, its database is reset to the state of a fresh copy of the template and handed to the
// next test that asks, instead of being dropped. Creating a database from the template requests
// checkpoints of the whole server (STRATEGY FILE_COPY), and so does dropping it: with the pool, a run
// of the suite creates 46 migrated databases instead of 102 and requests 134 checkpoints instead of
// 289 (measured on a 2-core machine; the suite's wall time moved within its noise).
//
// A database is reused only when nothing of it but rows can have changed. The reset
//   - ends every session still connected to it (a test's leftover pool, a daemon's, a lock holder's);
//   - compares a hash of its definition (fingerprint.sql: schemas, tables, columns, constraints,
//     indexes, views, functions, grants, comments, the database's owner and settings) with that of a
//     fresh copy;
//   - empties every table that a fresh copy has empty (TRUNCATE ... RESTART IDENTITY), and compares
//     the rows of the others (the seeded job_statuses, goose's version table) with a fresh copy's;
//   - sets every sequence back to where a fresh copy has it, and resets the database's statistics
//     when the role may (a superuser, or one granted pg_stat_reset; a role that may only create
//     databases leaves them running on, which counters read as differences do not see).
//
// When any of that differs or fails, the database is dropped instead, as before pooling. Pooling is
// on only in test binaries whose TestMain runs through Run, which drops the pooled databases when the
// tests end; elsewhere NewMigrated creates and drops a database for each test.

//go:embed sql/fingerprint.sql
var fingerprintSQL string

var pool struct {
	mu      sync.Mutex
	on      bool                 // set by Run
	servers map[string]*migrated // admin URL -> that server's pooled databases
}

// migrated is the pool of one test server: the databases not in use, every database made (to drop
// them when the tests end), and what a fresh copy of the template looks like.
type migrated struct {
	free    []string
	made    []string
	fresh   *state // of the first database made, before any test used it
	counter int
}

// state is what a reset database must match.
type state struct {
	fingerprint string
	seeded      map[string]string // table -> hash of its rows, for the tables a fresh copy has rows in
	sequences   map[string]*int64 // sequence -> last value (nil: never used)
}

// Run runs the tests of m with migrated databases pooled (see above), drops the pooled databases,
// and returns m.Run's exit code. Call it from TestMain: os.Exit(testdb.Run(m)).
func Run(m *testing.M) int {
	pool.mu.Lock()
	pool.on = true
	pool.mu.Unlock()
	code := m.Run()
	if err := dropPooled(); err != nil {
		fmt.Fprintf(os.Stderr, "testdb: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// dropPooled drops every database the pool made, those of all servers at once.
func dropPooled() error {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	pool.on = false
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for admin, m := range pool.servers {
		for _, name := range m.made {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := pgadmin.DropDatabase(ctx, admin, name); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	pool.servers = nil
	return errors.Join(errs...)
}

// pooled returns a migrated database for t from the pool of admin's server, making one from tmpl
// when none is free, and gives it back (reset) or drops it when t ends. ok is false when pooling
// is off.
func pooled(t testing.TB, admin, tmpl string) (url string, ok bool) {
	t.Helper()
	pool.mu.Lock()
	if !pool.on {
		pool.mu.Unlock()
		return "", false
	}
	if pool.servers == nil {
		pool.servers = map[string]*migrated{}
	}
	m := pool.servers[admin]
	if m == nil {
		m = &migrated{}
		pool.servers[admin] = m
	}
	var name string
	reuse := len(m.free) > 0
	if reuse {
		name, m.free = m.free[len(m.free)-1], m.free[:len(m.free)-1]
	} else {
		m.counter++
		name = poolName(m.counter)
		m.made = append(m.made, name) // before it exists: Run drops it IF EXISTS, whatever happens below
	}
	needFresh := m.fresh == nil
	pool.mu.Unlock()

	url, err := pgadmin.WithDatabase(admin, name)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if !reuse {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := pgadmin.CreateDatabase(ctx, admin, name, tmpl); err != nil {
			t.Fatalf("testdb: %v", err)
		}
		if needFresh { // read before any test writes to it
			st, err := readState(ctx, url)
			if err != nil {
				t.Fatalf("testdb: read a fresh copy of %s: %v", tmpl, err)
			}
			pool.mu.Lock()
			m.fresh = cmp.Or(m.fresh, st)
			pool.mu.Unlock()
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pool.mu.Lock()
		fresh := m.fresh
		pool.mu.Unlock()
		if err := resetPooled(ctx, admin, url, name, fresh); err != nil {
			t.Logf("testdb: database %s not reused: %v", name, err)
			if err := pgadmin.DropDatabase(ctx, admin, name); err != nil {
				t.Fatalf("testdb: %v", err)
			}
			return
		}
		pool.mu.Lock()
		m.free = append(m.free, name)
		pool.mu.Unlock()
	})
	return url, true
}

// poolName names the n-th pooled database of this test binary: test_pool_, the binary's name (the
// package's, as go test builds it), a random part shared by the binary's databases, and n.
func poolName(n int) string {
	binaryOnce.Do(func() { binaryTag = databaseName("pool " + strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")) })
	return fmt.Sprintf("%s_%d", binaryTag, n)
}

var (
	binaryOnce sync.Once
	binaryTag  string // databaseName ends it in a random part
)

// readState reads what reset restores of the database of url.
func readState(ctx context.Context, url string) (*state, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	st := &state{seeded: map[string]string{}, sequences: map[string]*int64{}}
	if err := c.QueryRow(ctx, fingerprintSQL).Scan(&st.fingerprint); err != nil {
		return nil, fmt.Errorf("fingerprint: %w", err)
	}
	tables, err := userTables(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, tb := range tables {
		if tb.written { // a fresh copy has pages only in the tables the migrations seed
			if st.seeded[tb.name], err = rowsHash(ctx, c, tb.name); err != nil {
				return nil, err
			}
		}
	}
	if st.sequences, err = sequences(ctx, c); err != nil {
		return nil, err
	}
	return st, nil
}

// resetPooled makes the database name (at url) what fresh describes, or says why it cannot.
func resetPooled(ctx context.Context, admin, url, name string, fresh *state) error {
	if fresh == nil {
		return errors.New("no fresh state to reset to")
	}
	if err := endSessions(ctx, admin, name); err != nil {
		return err
	}
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var current, comment string
	if err := c.QueryRow(ctx, `SELECT current_database(), coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE datname = current_database()`).Scan(&current, &comment); err != nil {
		return err
	}
	if current != name || comment != pgadmin.ScratchMarker {
		return fmt.Errorf("refusing to reset database %q: it is not the scratch database %q the pool created", current, name)
	}
	if _, err := c.Exec(ctx, `SET lock_timeout = '5s'`); err != nil {
		return err
	}
	var fp string
	if err := c.QueryRow(ctx, fingerprintSQL).Scan(&fp); err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	if fp != fresh.fingerprint {
		return errors.New("its definition changed (a DDL statement, a grant, a comment or a database setting)")
	}
	tables, err := userTables(ctx, c)
	if err != nil {
		return err
	}
	var written []string // tables a fresh copy has empty, with pages now
	for _, tb := range tables {
		if _, seeded := fresh.seeded[tb.name]; tb.written && !seeded {
			written = append(written, tb.name)
		}
	}
	if len(written) > 0 {
		// CASCADE takes along the tables that reference these; a seeded one among them shows below.
		if _, err := c.Exec(ctx, "TRUNCATE "+strings.Join(written, ", ")+" RESTART IDENTITY CASCADE"); err != nil {
			return fmt.Errorf("truncate: %w", err)
		}
	}
	for tb, want := range fresh.seeded {
		got, err := rowsHash(ctx, c, tb)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("the rows of %s changed", tb)
		}
	}
	seqs, err := sequences(ctx, c)
	if err != nil {
		return err
	}
	for seq, last := range seqs {
		want := fresh.sequences[seq]
		switch {
		case want == nil && last == nil, want != nil && last != nil && *want == *last:
		case want == nil:
			if _, err := c.Exec(ctx, "ALTER SEQUENCE "+seq+" RESTART"); err != nil {
				return err
			}
		default:
			if _, err := c.Exec(ctx, `SELECT setval($1::regclass, $2)`, seq, *want); err != nil {
				return err
			}
		}
	}
	// Statistics are reset where the role may (a superuser, or one granted pg_stat_reset), and carried
	// over otherwise: tests read counters as a difference between before and after, which a count
	// carried over does not change.
	var mayReset bool
	if err := c.QueryRow(ctx, `SELECT has_function_privilege('pg_stat_reset()', 'EXECUTE')`).Scan(&mayReset); err != nil {
		return err
	}
	if !mayReset {
		return nil
	}
	if _, err := c.Exec(ctx, `SELECT pg_stat_reset()`); err != nil {
		return fmt.Errorf("reset statistics: %w", err)
	}
	return nil
}

// endSessions ends every session connected to the database name and waits until they are gone.
func endSessions(ctx context.Context, admin, name string) error {
	s, err := pgadmin.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	for {
		var left int
		if err := s.QueryRow(ctx, []any{&left},
			`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
			return fmt.Errorf("end the sessions left: %w", err)
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d sessions still connected", left)
		case <-time.After(10 * time.Millisecond): // a terminated backend takes a moment to leave pg_stat_activity
		}
	}
}

// table is a table outside PostgreSQL's own schemas: its quoted qualified name, and whether it has
// pages (rows, or rows deleted since it was created or last truncated).
type table struct {
	name    string
	written bool
}

// userTables lists the tables outside PostgreSQL's own schemas.
func userTables(ctx context.Context, c *pgx.Conn) ([]table, error) {
	rows, err := c.Query(ctx, `
		SELECT c.oid::regclass::text, pg_relation_size(c.oid) > 0
		FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
		ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		return t, r.Scan(&t.name, &t.written)
	})
}

// rowsHash is a hash of every row of the table tb.
func rowsHash(ctx context.Context, c *pgx.Conn, tb string) (string, error) {
	var h string
	err := c.QueryRow(ctx, "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM "+tb+" AS t").Scan(&h)
	return h, err
}

// sequences returns the last value of every sequence outside PostgreSQL's own schemas (nil for one
// never used), keyed by its quoted qualified name.
func sequences(ctx context.Context, c *pgx.Conn) (map[string]*int64, error) {
	rows, err := c.Query(ctx, `SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences`)
	if err != nil {
		return nil, err
	}
	out := map[string]*int64{}
	var (
		name string
		last *int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &last}, func() error {
		out[name] = last
		return nil
	})
	return out, err
}

package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/vizjob/indexer/internal/queue"
	"github.com/vizjob/indexer/internal/store/pgadmin"
	"github.com/vizjob/indexer/migrations"
)

// A migrated database is a copy of a template that holds every migration of package migrations,
// applied once by the first test binary that needs it. The template's name ends in a hash of the
// migration files, so that a changed, added or removed migration gets a template of its own, and
// test binaries of other branches on the same server keep theirs: templates of other hashes are
// left alone (drop them by hand, or let the server go, when no test runs).
//
// A template is built under a name of its own, migrated, closed to connections, marked as a
// template and only then renamed to its final name: a database with that name is always complete.
// A build interrupted half-way leaves its building database behind; the next build of the same
// hash, holding the same advisory lock, drops it.

// templateRecipe is part of the template's hash: change it when the way a template is built
// changes, so that templates built the old way are not used.
const templateRecipe = "goose-provider-session-locker/2-vizjob_goose_db_version+river-queue/1"

// versionTable is store.VersionTable (this package cannot import store, whose tests import it):
// store's TestMigratedTemplateIsCurrent fails if they differ.
const versionTable = "vizjob_goose_db_version"

var templates struct {
	mu   sync.Mutex
	name map[string]string // admin URL -> template name, once built or found
}

// NewMigrated returns the URL of a database for this test alone with every migration applied, as
// `indexer migrate up` leaves it, holding no rows but those the migrations seed: a copy of the
// migrated template, dropped when the test and its subtests end, as New's. Tests of the migrations
// themselves use New.
func NewMigrated(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	tmpl, err := migratedTemplate(admin)
	if err != nil {
		t.Fatalf("testdb: migrated template: %v", err)
	}
	return create(t, admin, tmpl)
}

// migratedTemplate returns the name of the migrated template on the server of admin, building it
// if no test binary has.
func migratedTemplate(admin string) (string, error) {
	templates.mu.Lock()
	defer templates.mu.Unlock()
	if name := templates.name[admin]; name != "" {
		return name, nil
	}
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "indexer_tmpl_" + hex.EncodeToString(sum[:8])
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := ensureTemplate(ctx, admin, name, int64(binary.BigEndian.Uint64(sum[8:16]))); err != nil {
		return "", err
	}
	if templates.name == nil {
		templates.name = map[string]string{}
	}
	templates.name[admin] = name
	return name, nil
}

// migrationsHash is a hash of the recipe and of every migration file, its name and its content.
func migrationsHash() ([sha256.Size]byte, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", templateRecipe)
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

// ensureTemplate builds the template name unless it exists. Builders of one template take turns on
// the advisory lock key (on the admin database), so that parallel test binaries build it once.
func ensureTemplate(ctx context.Context, admin, name string, key int64) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to the test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	// Closing the connection releases the lock too; an interrupted binary's session ends with it.
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key) }()

	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	// Left over by a build that was interrupted: nobody else builds this template while we hold the lock.
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, name+"_building_")
	if err != nil {
		return err
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, s := range stale {
		if err := pgadmin.DropDatabase(ctx, admin, s); err != nil { // refuses one the helper did not create
			return fmt.Errorf("drop an interrupted build: %w", err)
		}
	}

	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	building := name + "_building_" + hex.EncodeToString(rnd[:])
	u, err := pgadmin.CreateDatabase(ctx, admin, building, "template0")
	if err != nil {
		return err
	}
	if err := migrateUp(ctx, u); err != nil {
		return fmt.Errorf("migrate %s: %w", building, err)
	}
	for _, sql := range []string{
		// No session may be connected to a template while a database is created from it.
		"ALTER DATABASE " + pgx.Identifier{building}.Sanitize() + " WITH ALLOW_CONNECTIONS false IS_TEMPLATE true",
		"ALTER DATABASE " + pgx.Identifier{building}.Sanitize() + " RENAME TO " + pgx.Identifier{name}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return nil
}

// migrateUp applies every migration to the database of url as the store does: goose's Provider
// over database/sql with a session locker, in the store's version table.
func migrateUp(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(versionTable),
		goose.WithSlog(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return err
	}
	if _, err = p.Up(ctx); err != nil {
		return err
	}
	// River's tables, as indexer migrate up creates them.
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = queue.MigrateUp(ctx, pool, queue.DefaultSchema)
	return err
}

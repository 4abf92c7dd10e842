package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/vizjob/indexer/migrations"
)

// Migrations are versioned in a table of goose's of the indexer's own, VersionTable, in the current
// schema (public, usually): goose creates it before the first migration creates the modelarts schema,
// so it cannot live there. Its name is not goose's default, goose_db_version, because another goose
// application's table of that name made `migrate up` answer "up to date" with no modelarts schema.
// Versions 0.x of the indexer used goose_db_version: adoptLegacyVersions copies the indexer's rows of
// it into VersionTable once, and leaves it in place.

// VersionTable is goose's version table of the indexer (internal/testdb builds its template with the
// same name: TestMigratedTemplateIsCurrent fails if they differ).
const VersionTable = "vizjob_goose_db_version"

// legacyVersionTable is the table the indexer's migrations were versioned in before VersionTable.
const legacyVersionTable = "goose_db_version"

// MigrationLockTimeout bounds how long a migration waits for a lock (its lock_timeout): a session left
// idle in a transaction that read a table (a BI tool's, typically) would otherwise block the migration,
// and every query queued behind it, for as long as it stays open.
const MigrationLockTimeout = 10 * time.Second

// openMigrationDB opens the connections goose runs on: the pool's settings, plus a lock_timeout of
// MigrationLockTimeout, on connections of their own so that the pool's keep no lock_timeout.
func openMigrationDB(cc *pgx.ConnConfig) *sql.DB {
	cc = cc.Copy()
	cc.RuntimeParams["lock_timeout"] = strconv.FormatInt(MigrationLockTimeout.Milliseconds(), 10)
	db := stdlib.OpenDB(*cc)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(time.Minute)
	return db
}

// lockHoldersSQL lists the other sessions holding a lock on a relation of schema modelarts, and those
// of this database holding a snapshot in a transaction older than the lock_timeout ($1): when a
// migration times out on a lock, one of them holds it. An index built CONCURRENTLY waits for every
// transaction of the database whose snapshot is older than the build (a long query, a repeatable read
// transaction such as pg_dump's), whatever it read.
const lockHoldersSQL = `
SELECT a.pid, coalesce(a.usename, ''), coalesce(a.application_name, ''), coalesce(a.state, ''),
       coalesce(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::bigint, 0)
FROM pg_locks AS l
JOIN pg_class AS c ON c.oid = l.relation
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE n.nspname = 'modelarts' AND l.granted AND a.pid <> pg_backend_pid()
UNION
SELECT a.pid, coalesce(a.usename, ''), coalesce(a.application_name, ''), coalesce(a.state, ''),
       coalesce(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::bigint, 0)
FROM pg_stat_activity AS a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_xmin IS NOT NULL
  AND a.xact_start <= now() - $1::interval
ORDER BY 1`

// explainLockTimeout turns a migration's lock_timeout error into one that names the sessions holding
// locks in schema modelarts, and what to do; other errors are returned as they are.
func (s *Store) explainLockTimeout(ctx context.Context, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" { // lock_not_available
		return err
	}
	rows, qerr := s.pool.Query(ctx, lockHoldersSQL, MigrationLockTimeout.String())
	if qerr != nil {
		return err
	}
	var holders []string
	for rows.Next() {
		var pid int32
		var user, app, state string
		var secs int64
		if rows.Scan(&pid, &user, &app, &state, &secs) == nil {
			holders = append(holders, fmt.Sprintf("pid %d (user %q, application %q, %s for %s)",
				pid, user, app, state, time.Duration(secs)*time.Second))
		}
	}
	rows.Close()
	if len(holders) == 0 {
		return fmt.Errorf("%w (lock_timeout %s: another session held a lock the migration needs; run indexer migrate up again)",
			err, MigrationLockTimeout)
	}
	return fmt.Errorf("%w (lock_timeout %s: the migration waited for a lock held by %s; end that session, "+
		"e.g. SELECT pg_terminate_backend(pid), or wait for it, then run indexer migrate up again)",
		err, MigrationLockTimeout, strings.Join(holders, ", "))
}

// newMigrationProvider builds the goose provider over the pool. The session locker (an advisory lock
// on one connection) makes concurrent `migrate up` from several replicas take turns.
func newMigrationProvider(db *sql.DB, log *slog.Logger) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(VersionTable),
		goose.WithSlog(log.With("component", "migrations")),
	)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// adoptLegacyVersionsSQL creates VersionTable as goose does and copies into it the rows of the
// legacy table that are the indexer's: only when VersionTable does not exist yet, the legacy table
// does, and so does the modelarts schema the indexer's migrations made (a legacy table without it
// is another application's, and is left alone). The advisory lock makes replicas take turns.
const adoptLegacyVersionsSQL = `
DO $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('vizjob-indexer adopt goose_db_version'));
    IF to_regclass('` + VersionTable + `') IS NOT NULL OR to_regclass('` + legacyVersionTable + `') IS NULL
       OR to_regnamespace('modelarts') IS NULL THEN
        RETURN;
    END IF;
    CREATE TABLE ` + VersionTable + ` (
        id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
        version_id bigint NOT NULL,
        is_applied boolean NOT NULL,
        tstamp timestamp NOT NULL DEFAULT now()
    );
    INSERT INTO ` + VersionTable + ` (version_id, is_applied, tstamp)
    SELECT version_id, is_applied, tstamp FROM ` + legacyVersionTable + `
    WHERE version_id = 0 OR version_id = ANY (current_setting('vizjob.versions')::bigint[])
    ORDER BY id;
END
$$`

// adoptLegacyVersions runs adoptLegacyVersionsSQL once per Store, before goose reads its table.
func (s *Store) adoptLegacyVersions(ctx context.Context) error {
	if s.adopted.Load() {
		return nil
	}
	var versions []string
	for _, src := range s.migrations.ListSources() {
		versions = append(versions, strconv.FormatInt(src.Version, 10))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", legacyVersionTable, interpretError(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT set_config('vizjob.versions', $1, true)`, "{"+strings.Join(versions, ",")+"}"); err != nil {
		return fmt.Errorf("adopt %s: %w", legacyVersionTable, interpretError(err))
	}
	if _, err := tx.Exec(ctx, adoptLegacyVersionsSQL); err != nil {
		return fmt.Errorf("adopt %s: %w", legacyVersionTable, interpretError(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("adopt %s: %w", legacyVersionTable, interpretError(err))
	}
	s.adopted.Store(true)
	return nil
}

// MigrationResult is one migration applied or rolled back.
type MigrationResult struct {
	Version   int64
	Name      string // file name, e.g. 00001_modelarts_schema.sql
	Direction string // "up" or "down"
	Duration  time.Duration
	Empty     bool // the migration had no statement in that direction
}

func (r MigrationResult) String() string {
	state := "OK"
	if r.Empty {
		state = "EMPTY"
	}
	return fmt.Sprintf("%-5s %-4s %s (%s)", state, r.Direction, r.Name, r.Duration.Round(time.Microsecond))
}

// MigrationStatus is one known migration and whether it is applied.
type MigrationStatus struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time // zero when pending
}

func (m MigrationStatus) String() string {
	if !m.Applied {
		return fmt.Sprintf("%-8s %-30s %s", "pending", "", m.Name)
	}
	return fmt.Sprintf("%-8s %-30s %s", "applied", m.AppliedAt.UTC().Format(time.RFC3339), m.Name)
}

// MigrateUp applies every pending migration, in order, each in its own transaction, and returns what
// it applied (nothing when the schema is current). If one fails, the ones before it stay applied and
// are returned with the error. A migration marked `-- +goose NO TRANSACTION` (one that builds an index
// CONCURRENTLY) runs its statements one by one instead, each of which may be run again after a failure.
func (s *Store) MigrateUp(ctx context.Context) ([]MigrationResult, error) {
	if err := s.adoptLegacyVersions(ctx); err != nil {
		return nil, err
	}
	res, err := s.migrations.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			return results(partial.Applied), fmt.Errorf("migrate up: %s: %w",
				migrationName(partial.Failed.Source), interpretError(s.explainLockTimeout(ctx, partial.Err)))
		}
		return nil, fmt.Errorf("migrate up: %w", interpretError(err))
	}
	return results(res), nil
}

// MigrateDown rolls back the most recently applied migration. It returns an error wrapping
// ErrNothingToRollBack when none is applied.
func (s *Store) MigrateDown(ctx context.Context) (MigrationResult, error) {
	if err := s.adoptLegacyVersions(ctx); err != nil {
		return MigrationResult{}, err
	}
	res, err := s.migrations.Down(ctx)
	if err != nil {
		if errors.Is(err, goose.ErrNoNextVersion) {
			return MigrationResult{}, fmt.Errorf("migrate down: %w", ErrNothingToRollBack)
		}
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			err = fmt.Errorf("%s: %w", migrationName(partial.Failed.Source), partial.Err)
		}
		return MigrationResult{}, fmt.Errorf("migrate down: %w", interpretError(err))
	}
	return results([]*goose.MigrationResult{res})[0], nil
}

// MigrateStatus lists every migration the binary knows, in version order, with when it was applied.
func (s *Store) MigrateStatus(ctx context.Context) ([]MigrationStatus, error) {
	if err := s.adoptLegacyVersions(ctx); err != nil {
		return nil, err
	}
	st, err := s.migrations.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", interpretError(err))
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, m := range st {
		out = append(out, MigrationStatus{
			Version:   m.Source.Version,
			Name:      migrationName(m.Source),
			Applied:   m.State == goose.StateApplied,
			AppliedAt: m.AppliedAt,
		})
	}
	return out, nil
}

// MigrationsPending reports whether a migration of the binary is not applied yet (for a readiness
// check: a replica should not sync into a schema older than its code).
func (s *Store) MigrationsPending(ctx context.Context) (bool, error) {
	if err := s.adoptLegacyVersions(ctx); err != nil {
		return false, err
	}
	pending, err := s.migrations.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("migration status: %w", interpretError(err))
	}
	return pending, nil
}

// SchemaPresent reports whether the indexer's tables exist (at least the run ledger), without
// touching the database: a command that syncs says "run indexer migrate up" when they do not,
// rather than failing on a missing relation.
func (s *Store) SchemaPresent(ctx context.Context) (bool, error) {
	var present bool
	err := s.pool.QueryRow(ctx, `SELECT to_regclass('modelarts.sync_runs') IS NOT NULL`).Scan(&present)
	if err != nil {
		return false, fmt.Errorf("read the schema: %w", interpretError(err))
	}
	return present, nil
}

func results(in []*goose.MigrationResult) []MigrationResult {
	out := make([]MigrationResult, 0, len(in))
	for _, r := range in {
		out = append(out, MigrationResult{
			Version:   r.Source.Version,
			Name:      migrationName(r.Source),
			Direction: r.Direction,
			Duration:  r.Duration,
			Empty:     r.Empty,
		})
	}
	return out
}

func migrationName(src *goose.Source) string {
	if src == nil {
		return ""
	}
	if src.Path == "" {
		return fmt.Sprintf("version %d", src.Version)
	}
	return path.Base(strings.ReplaceAll(src.Path, "\\", "/"))
}

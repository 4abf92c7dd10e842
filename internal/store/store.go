// Package store is everything that speaks SQL: the pool, migrations, upserts with history, the run
// ledger and per-source locks.
//
// It is the only package of the indexer's own work that imports pgx (its subpackage pgadmin, the
// database administration of the benchmark and the tests, is the other). Errors leave it through
// interpretError, so that callers branch on the sentinels below (errors.Is) and never on driver
// types, and no error text carries the database password.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/vizjob/indexer/internal/dsn"
)

// Errors callers branch on. Every error of this package that has one of these causes wraps it.
var (
	// ErrUnavailable: the database could not be reached or dropped the connection (network, server
	// shutting down or starting up, too many connections). Retrying later may succeed.
	ErrUnavailable = errors.New("database unavailable")
	// ErrConflict: the transaction lost a race (serialization failure or deadlock) and may be retried.
	ErrConflict = errors.New("database transaction conflict")
	// ErrSourceBusy: another run of the same source holds its lease, in this process or another.
	ErrSourceBusy = errors.New("source is being synced by another run")
	// ErrRunFinished: a method of a Run was called after Finish.
	ErrRunFinished = errors.New("run already finished")
	// ErrNothingToRollBack: MigrateDown found no applied migration.
	ErrNothingToRollBack = errors.New("no applied migration to roll back")
	// ErrInvalidURL: the connection string does not parse (Open, CheckURL). Its text never holds the
	// password.
	ErrInvalidURL = errors.New("invalid database URL")
)

// DefaultConnectTimeout bounds each connection attempt when the URL sets no connect_timeout.
const DefaultConnectTimeout = 5 * time.Second

// DefaultMaxConns is the pool size when the URL sets no pool_max_conns (pgx's own default is the
// number of CPUs, at least 4). A run holds one connection from start to end, so the daemon's default
// of four sources at a time, plus health checks and metrics, needs more.
const DefaultMaxConns = 8

// Store is the process's connection pool to the indexer's database. It is safe for concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	log        *slog.Logger
	migrations *goose.Provider
	adopted    atomic.Bool   // the version table was checked for a legacy one to adopt (migrate.go)
	sqlDB      *sql.DB       // the connections goose runs on (openMigrationDB)
	where      string        // "host:port database "x" as user "y"", for error messages
	reads      chan struct{} // slots of the HTTP reads (see readTx)
}

// Open builds the pool from databaseURL (a postgres:// URL or a libpq keyword/value string; empty means the
// libpq defaults and PG* environment variables), with a connect timeout of DefaultConnectTimeout
// unless the URL sets connect_timeout, and pings the server. Errors name the host and database that
// failed, never the password.
func Open(ctx context.Context, databaseURL string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := parseURL(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, DefaultMaxConns)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "vizjob-indexer"
	}
	// The trigram index on job_name (migration 00004) is a GIN index: new entries go to its pending list
	// and are merged into the index when the list outgrows gin_pending_list_limit (4MB by default), by
	// the insert that finds it full: during a large sync that merge, a few hundred jobs at a time, costs
	// more than all other indexes together. With a larger list a run only appends, and autovacuum (which
	// the inserts trigger) or the next merge does the work in bulk. Name searches read the pending list
	// meanwhile; they stay correct. Only this pool's sessions, whose writes are runs', have it.
	if _, ok := cfg.ConnConfig.RuntimeParams["gin_pending_list_limit"]; !ok {
		cfg.ConnConfig.RuntimeParams["gin_pending_list_limit"] = "64MB"
	}
	// Every session gets the runs' staging table: a run writes a page through any connection.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, createRunTablesSQL); err != nil {
			return fmt.Errorf("create the runs' staging table: %w", err)
		}
		return nil
	}
	password := cfg.ConnConfig.Password
	where := describe(cfg.ConnConfig.Config)

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to %s: %w", where, redact(interpretError(err), password))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", where, redact(interpretError(err), password))
	}

	sqlDB := openMigrationDB(cfg.ConnConfig)
	provider, err := newMigrationProvider(sqlDB, log)
	if err != nil {
		_ = sqlDB.Close()
		pool.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	log.Debug("database connected", "database", where)
	return &Store{pool: pool, log: log, migrations: provider, sqlDB: sqlDB, where: where,
		reads: make(chan struct{}, DefaultReadConns)}, nil
}

// CheckURL says whether databaseURL parses as Open will parse it, without connecting: the error wraps
// ErrInvalidURL and says what is wrong, with the password masked.
func CheckURL(databaseURL string) error {
	_, err := parseURL(databaseURL)
	return err
}

func parseURL(databaseURL string) (*pgxpool.Config, error) {
	if dsn.AmbiguousUserinfo(databaseURL) {
		return nil, fmt.Errorf("%w %s: more than one '@' before the host; "+
			"write an '@' of the user name or password as %%40", ErrInvalidURL, dsn.Redact(databaseURL))
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidURL, parseErrorText(err, databaseURL))
	}
	return cfg, nil
}

// Close closes the pool. Runs still open are cut off: their leases expire (modelarts.source_leases),
// and the next run of their source closes their ledger rows.
func (s *Store) Close() {
	_ = s.sqlDB.Close()
	s.pool.Close()
}

// Ping checks that the database answers, for a liveness or readiness probe. It uses one of the
// slots of HTTP reads.
func (s *Store) Ping(ctx context.Context) error {
	release, err := s.readSlot(ctx)
	if err != nil {
		return fmt.Errorf("store: ping %s: %w", s.where, err)
	}
	defer release()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.where, interpretError(err))
	}
	return nil
}

// describe names a connection target for messages: host:port, database and user, never the password.
func describe(c pgconn.Config) string {
	host := c.Host
	if strings.HasPrefix(host, "/") {
		host = "socket " + host
	}
	return fmt.Sprintf("%s database %q as user %q", net.JoinHostPort(host, strconv.Itoa(int(c.Port))), c.Database, c.User)
}

// interpretError translates driver errors into this package's sentinels, once, at the package's edge.
// Context errors stay as they are (errors.Is(err, context.Canceled) keeps working); errors it does not
// recognise pass through unchanged.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case code == "40001", code == "40P01": // serialization_failure, deadlock_detected
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case strings.HasPrefix(code, "08"), // connection_exception
			code == "57P01", code == "57P02", code == "57P03", // admin/crash shutdown, cannot_connect_now
			code == "53300": // too_many_connections
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// redact masks every spelling of password in err's text (dsn.RedactError).
func redact(err error, password string) error { return dsn.RedactError(err, password) }

// parseErrorText says why a connection string did not parse, with the password masked
// (dsn.ParseErrorText).
func parseErrorText(err error, connString string) string { return dsn.ParseErrorText(err, connString) }

// Pool is the store's pool, for the package that wires River (internal/queue) to it, so that River's
// connections count against the same bound as the runs'. Nothing else uses it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// LeasedSources returns the sources whose lease (modelarts.source_leases) is held and unexpired.
func (s *Store) LeasedSources(ctx context.Context) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT source FROM modelarts.source_leases WHERE expires_at > now()`)
	if err != nil {
		return nil, fmt.Errorf("read source leases: %w", interpretError(err))
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read source leases: %w", interpretError(err))
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}
